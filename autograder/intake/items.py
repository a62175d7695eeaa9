"""What every intake produces: ``SubmissionItem``, one participant's file to grade.

Folders (``folders.py``) and Moodle zips (``moodle.py``) both build these; they live
apart from either so that the two intakes need not import each other. What intake
learned beside the file (a status it decided, notices, where in Moodle it came from) is
the item's ``IntakeRecord`` (``core/intake_record.py``), stored with it as it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..core.intake_record import IntakeRecord
from ..core.results import Notice
from ..core.safetext import clean

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SubmissionItem:
    participant: str
    file: str
    content: bytes = b""          # the bytes to grade, when they are in memory
    participant_name: str = ""
    is_group: bool = False
    intake: IntakeRecord = field(default_factory=IntakeRecord)  # status when decided, notices
    source: Path | None = None    # ... or the file that holds them (read when stored)

    @property
    def sha256(self) -> str:
        if self.source is None:
            return hashlib.sha256(self.content).hexdigest()
        return file_sha256(self.source)


def file_sha256(path: Path) -> str:
    """The file's sha256, read in chunks (a notebook may be up to the size cap)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def clean_notice(notice: Notice) -> Notice:
    """``notice`` with its texts ``safetext.clean`` (they may quote student-chosen names)."""
    return Notice(notice.code, clean(notice.message_ja), clean(notice.message_en))


__all__ = ["SubmissionItem", "clean_notice", "file_sha256"]
