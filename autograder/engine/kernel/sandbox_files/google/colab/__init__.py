"""Grading stand-in for Colab's ``google.colab`` (``google`` stays a namespace package).

Drive and uploads do not exist while a notebook is graded; the datasets the assignment
uses are provided read-only in ``/content/data`` (and ``/content``).
"""

from . import drive, files, patches

__all__ = ["drive", "files", "patches"]

NOTICE = ("[採点環境] Google Drive とファイルのアップロードは採点中は使えません。"
          "データは /content/data に用意されています。\n"
          "[grading] Google Drive and file uploads are not available during grading; "
          "the data is provided in /content/data.")
