"""Moodle's "Download all submissions" zip as ``SubmissionItem`` objects for ``grade``.

The zip is extracted below the caller's work folder (``intake.intake_session`` makes a
private one and removes it once the items are stored); items point at their extracted
files and are never read into memory here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..core.i18n import Lang, default_lang
from ..core.intake_record import IntakeRecord, MoodleOrigin
from ..core.results import Notice
from ..core.safetext import clean, one_line
from ..moodle import ParticipantEntry, read_moodle_zip
from .items import SubmissionItem, clean_notice, file_sha256


def _item(entry: ParticipantEntry, lang: Lang) -> SubmissionItem:
    status = entry.status.result_status()
    reason = "; ".join(n.text(lang) for n in entry.notices
                       if n.code in entry.status.reason_codes)
    return SubmissionItem(
        participant=entry.participant_id, participant_name=one_line(entry.display_name,
                                                                    limit=None),
        is_group=entry.is_group, file=clean(entry.chosen.relpath) if entry.chosen else "",
        source=entry.notebook_path if status is None else None,
        intake=IntakeRecord(status=status, reason=clean(reason), moodle=_origin(entry),
                            notices=tuple(clean_notice(n) for n in entry.notices)))


def _origin(entry: ParticipantEntry) -> MoodleOrigin:
    """Where the entry is in Moodle, and the file the participant submitted (if any)."""
    chosen = entry.chosen
    if chosen is None:
        return MoodleOrigin(moodle_id=entry.moodle_id)
    submitted = chosen.path if chosen.path.is_file() else None
    return MoodleOrigin(moodle_id=entry.moodle_id,
                        submitted_sha256=file_sha256(submitted) if submitted else "",
                        submitted_name=clean(Path(chosen.relpath).name))


def items_from_moodle_zip(path: Path, *, assignment_id: str, workdir: Path,
                          team_submission: bool | None = None, lang: Lang | None = None,
                          file_name: str = "") -> tuple[list[SubmissionItem], list[Notice]]:
    """One item per participant (or 4.1+ group) of the zip, and archive-level messages.

    The zip is extracted into a new folder below ``workdir``, which the items need until
    they are stored.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="moodle-", dir=workdir))
    intake = read_moodle_zip(path, assignment_id=assignment_id, workdir=target,
                             team_submission=team_submission, file_name=file_name)
    chosen = lang or default_lang()
    return [_item(entry, chosen) for entry in intake.participants], list(intake.messages)
