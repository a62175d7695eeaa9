"""What the Moodle intake hands to the grader: participants, their files, the decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..core.results import Notice, Status
from .safezip import RefusedEntry


class FileStatus(str, Enum):
    """The intake's verdict on one participant's upload."""

    OK = "ok"                              # ``notebook_path`` is to be graded
    MISSING = "missing"                    # nothing gradable was submitted
    WRONG_ASSIGNMENT = "wrong_assignment"  # only another assignment's file
    INVALID = "invalid"                    # a .py export that could not be converted
    REFUSED = "refused"                    # what could have been graded was refused
    ERROR = "error"                        # reading this participant's files failed

    def result_status(self) -> Status | None:
        """The final ``Status`` when nothing will be graded; ``None`` for ``OK``."""
        return None if self is FileStatus.OK else Status(self.value)

    @property
    def reason_codes(self) -> frozenset[str]:
        """Codes of the notices that say why (they make up the result's reason)."""
        return _REASON_CODES.get(self.value, frozenset({self.value}))


_REASON_CODES = {"refused": frozenset({"file_refused"}),
                 "error": frozenset({"internal_error"}),
                 "invalid": frozenset({"invalid_py"})}


@dataclass(frozen=True)
class SubmittedFile:
    relpath: str     # POSIX path inside the participant's area ('14_n.ipynb', 'work/14_n.ipynb')
    path: Path       # where the intake extracted it
    size: int
    entry_name: str  # the full (decoded) name inside the zip
    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)


@dataclass
class ParticipantEntry:
    """One participant (or one group, Moodle 4.1+ team submissions) of the zip."""

    participant_id: str      # '1234567'; groups: 'group-42', 'group-default'
    moodle_id: str | None    # participant or group id as in the zip; None: Default group
    display_name: str        # what precedes the id: a name, 'Participant', '参加者', a group
    is_group: bool
    files: list[SubmittedFile] = field(default_factory=list)
    other_plugins: dict[str, list[str]] = field(default_factory=dict)  # 'onlinetext' -> paths
    refused: list[RefusedEntry] = field(default_factory=list)  # entries refused for safety
    status: FileStatus = FileStatus.MISSING
    chosen: SubmittedFile | None = None   # the file the decision is about (also wrong_assignment)
    notebook_path: Path | None = None     # what to grade when status is OK (converted for .py)
    notices: list[Notice] = field(default_factory=list)


@dataclass
class Intake:
    zip_path: Path
    root: Path                                   # where the submissions were extracted
    participants: list[ParticipantEntry]
    messages: list[Notice] = field(default_factory=list)  # archive-level: refused, unmatched
    layouts: frozenset[str] = frozenset()        # folders-3x, folders-4x, flat

    def by_id(self) -> dict[str, ParticipantEntry]:
        return {p.participant_id: p for p in self.participants}

    @property
    def to_grade(self) -> list[ParticipantEntry]:
        return [p for p in self.participants if p.status is FileStatus.OK]

    @property
    def blind_marking(self) -> bool:
        """All individual folders carry one and the same word instead of a name."""
        names = {p.display_name for p in self.participants if not p.is_group}
        count = sum(not p.is_group for p in self.participants)
        return len(names) == 1 and (count > 1 or names <= BLIND_WORDS)


BLIND_WORDS = frozenset({"Participant", "参加者"})
