"""Moodle's file formats: the submissions zip, the grading worksheet, the feedback zip.

Pure library code (no grading here):

- ``read_moodle_zip`` — safe intake of "Download all submissions" (every Moodle layout),
  one ``ParticipantEntry`` per participant with the file chosen by the name rule;
- ``read_worksheet`` / ``fill_worksheet`` / ``write_worksheet`` — the grading worksheet,
  changed only in its Grade and Feedback comments cells;
- ``build_feedback_zip`` / ``moodle_feedback_match`` — "Upload multiple feedback files in a
  zip", every path checked against Moodle's importer rule;
- ``assign_rows`` — which worksheet rows a submission is for (a team's group id is no
  student's participant id: the names must agree);
- ``gradebook_import`` / ``write_grades_table`` — Grades ▸ Import ▸ CSV, and a plain table.
"""

from .feedback_zip import (
    FeedbackEntry,
    FeedbackMatch,
    FeedbackZip,
    build_feedback_zip,
    moodle_feedback_match,
)
from .gradebook_csv import (
    GradebookImport,
    GradeRecord,
    Roster,
    gradebook_import,
    read_roster,
    write_gradebook_csv,
    write_grades_table,
)
from .model import FileStatus, Intake, ParticipantEntry, SubmittedFile
from .naming import decide
from .pyconvert import convert_py_file, py_to_notebook
from .safezip import ZipLimits
from .submitters import Submitter, assign_rows
from .worksheet import (
    FilledWorksheet,
    GradeEntry,
    Worksheet,
    fill_worksheet,
    parse_worksheet,
    read_worksheet,
    upload_instructions,
    write_worksheet,
)
from .zipintake import read_moodle_zip

__all__ = [
    "FeedbackEntry", "FeedbackMatch", "FeedbackZip", "FileStatus", "FilledWorksheet",
    "GradeEntry", "GradeRecord", "GradebookImport", "Intake", "ParticipantEntry", "Roster",
    "SubmittedFile", "Submitter", "Worksheet", "ZipLimits", "assign_rows",
    "build_feedback_zip", "convert_py_file",
    "decide", "fill_worksheet", "gradebook_import",
    "moodle_feedback_match", "parse_worksheet", "py_to_notebook", "read_moodle_zip",
    "read_roster", "read_worksheet", "upload_instructions", "write_gradebook_csv",
    "write_grades_table", "write_worksheet",
]
