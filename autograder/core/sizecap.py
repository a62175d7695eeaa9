"""The one size cap on a submitted notebook: its limit and the words that explain it,
and the notice a student gets for any file of theirs that was refused.

Loose files (``intake``) and Moodle zip entries (``moodle.safezip``, checked on the
entry's declared size and again on the bytes really written) are refused above the same
limit, before anything is read into memory, with the same message. The limit is the one
``notebook_io`` reads with, so nothing is stored that the worker would refuse anyway.
"""

from __future__ import annotations

from .results import Notice

MiB = 1024 * 1024
# = notebook_io.ReadLimits().max_bytes (tests/test_intake_hostile.py keeps them equal;
# imported from here, not from there, so that the zip reader never pulls in nbformat)
MAX_NOTEBOOK_BYTES = 50 * MiB
NOTEBOOK_SUFFIXES = (".ipynb", ".py")  # what the file-name rule can choose to grade


def is_notebook_name(name: str) -> bool:
    """Whether the file-name rule could choose ``name`` to grade (``.ipynb`` / ``.py``)."""
    import unicodedata

    return unicodedata.normalize("NFKC", name).strip().lower().endswith(NOTEBOOK_SUFFIXES)


def too_large(size: int, *, limit: int = MAX_NOTEBOOK_BYTES, at_least: bool = False) -> Notice:
    """Why a notebook of ``size`` bytes was refused, and what the student should do.

    ``at_least``: reading stopped at ``size``; the file is at least that large.
    """
    mb, limit_mb = size / MiB, limit / MiB
    more_ja, more_en = ("以上" if at_least else ""), ("at least " if at_least else "")
    return Notice(
        "too_large",
        f"ファイルが大きすぎます ({mb:.1f} MB{more_ja}、上限 {limit_mb:.0f} MB)。"
        "「編集 → 出力をすべてクリア」してから保存し直して提出してください",
        f"the file is too large ({more_en}{mb:.1f} MB, limit {limit_mb:.0f} MB); clear "
        "all outputs (Edit → Clear all outputs), save and submit again")


def refused_file(name: str, why_ja: str, why_en: str) -> Notice:
    """What a student is told about a file of theirs that was refused (``name`` is quoted
    as given: make it ``safetext.visible`` first)."""
    return Notice("file_refused",
                  f"「{name}」は受け付けられませんでした: {why_ja}",
                  f"“{name}” was not accepted: {why_en}")
