"""Moodle's "Download all submissions" zip as ``SubmissionItem`` objects for ``grade``.

The zip is extracted into a private temporary folder (the intake reads every file into
memory and the gradebook keeps the bytes), so a rerun after a crash starts clean.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from .intake import SubmissionItem
from .moodle import ParticipantEntry, read_moodle_zip
from .results import Notice


def _item(entry: ParticipantEntry) -> SubmissionItem:
    status = entry.status.result_status()
    content = entry.notebook_path.read_bytes() if status is None and entry.notebook_path else b""
    submitted = entry.chosen.path.read_bytes() if entry.chosen and entry.chosen.path.exists() \
        else b""
    reason = "; ".join(n.message_ja for n in entry.notices if n.code == entry.status.value)
    return SubmissionItem(
        participant=entry.participant_id, participant_name=entry.display_name,
        is_group=entry.is_group, file=entry.chosen.relpath if entry.chosen else "",
        content=content, notices=tuple(entry.notices), status=status, reason=reason,
        extra={"moodle_id": entry.moodle_id,
               "submitted_sha256": hashlib.sha256(submitted).hexdigest() if submitted else "",
               "submitted_name": Path(entry.chosen.relpath).name if entry.chosen else ""})


def items_from_moodle_zip(path: Path, *, assignment_id: str, workdir: Path,
                          team_submission: bool | None = None
                          ) -> tuple[list[SubmissionItem], list[Notice]]:
    """One item per participant (or 4.1+ group) of the zip, and archive-level messages."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="moodle-", dir=workdir) as tmp:
        intake = read_moodle_zip(path, assignment_id=assignment_id, workdir=Path(tmp),
                                 team_submission=team_submission)
        return [_item(entry) for entry in intake.participants], list(intake.messages)
