"""What intake learned about one submission, kept with it in the gradebook.

``IntakeRecord`` is built by the intakes (``intake/folders.py``, ``intake/moodle.py``),
stored by the gradebook as ``submissions.intake_json`` and read by grading (a status
intake already decided: ``grading/decided.py``, ``engine/grade_one.py``) and by export
(where a Moodle participant's feedback goes: ``export/command.py``).

The JSON is written and read here and nowhere else (``to_json``/``from_json``). Its
keys have not changed since the first gradebook: ``notices`` (``Notice`` fields),
``reason``, ``status`` (``null``: to be graded) and, for a Moodle upload only,
``moodle_id``, ``submitted_sha256`` and ``submitted_name``; ``{}`` (the column's
default, or a submission added without intake) is a plain file to grade. On read:

- a missing key takes its default (``notices`` before ``checks`` existed included);
- an unknown key is ignored: only intake writes the column, and it writes the whole
  record each time a submission is stored again, so nothing is lost by not keeping it;
- an unknown ``status`` string (a newer grader's) reads as ``error``: such a row is
  never graded blindly, as before this record existed;
- any other value of the wrong type (or text that is not a JSON object) raises
  ``IntakeRecordError`` naming the key; the gradebook turns it into a
  ``GradebookError`` naming the submission. No default is safe there: a ``moodle_id``
  guessed would send feedback to someone else, a status guessed would grade what intake
  refused, and a notice dropped would not be told. Storing the submission again
  (``grade`` on its original files) rewrites the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .results import Notice, Status


class IntakeRecordError(ValueError):
    """The stored record has a value of the wrong type at ``key`` ("" for the whole)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"intake record: wrong value at {key or 'the top level'!r}")


@dataclass(frozen=True)
class MoodleOrigin:
    """Where a submission came from in Moodle's "Download all submissions" zip."""

    moodle_id: str | None     # participant or group id as in the zip; None: Default group
    submitted_sha256: str = ""  # the file the participant submitted (before .py conversion)
    submitted_name: str = ""    # its base name, cleaned; "" for both when nothing was


@dataclass(frozen=True)
class IntakeRecord:
    """What intake decided and said about one submission."""

    status: Status | None = None     # set when intake decided (missing, refused...)
    reason: str = ""                 # why, in the language of the batch
    notices: tuple[Notice, ...] = ()  # for the student and the instructor
    moodle: MoodleOrigin | None = None  # None: a plain notebook or folder

    def to_json(self) -> str:
        data: dict[str, object] = {
            "notices": [_notice_json(n) for n in self.notices], "reason": self.reason,
            "status": self.status.value if self.status else None}
        if self.moodle is not None:
            data.update(moodle_id=self.moodle.moodle_id,
                        submitted_sha256=self.moodle.submitted_sha256,
                        submitted_name=self.moodle.submitted_name)
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> IntakeRecord:
        """The record stored as ``text``; ``IntakeRecordError`` for a wrong value."""
        try:
            data = json.loads(text)
        except ValueError:
            raise IntakeRecordError("") from None
        if not isinstance(data, dict):
            raise IntakeRecordError("")
        notices = _typed(data, "notices", list, [])
        return cls(status=_status(data), reason=_typed(data, "reason", str, ""),
                   notices=tuple(_notice(n, f"notices[{i}]") for i, n in enumerate(notices)),
                   moodle=_moodle(data))


def _notice_json(notice: Notice) -> dict[str, object]:
    return {"code": notice.code, "message_ja": notice.message_ja,
            "message_en": notice.message_en, "checks": list(notice.checks)}


def _typed(data: dict[str, Any], key: str, kind: type, default: Any, *,
           where: str = "") -> Any:
    """``data[key]`` when it is a ``kind`` (``default`` when absent)."""
    value = data.get(key, default)
    if not isinstance(value, kind):
        raise IntakeRecordError(f"{where}{key}")
    return value


def _status(data: dict[str, Any]) -> Status | None:
    raw = data.get("status")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise IntakeRecordError("status")
    try:
        return Status(raw)
    except ValueError:
        return Status.ERROR  # written by something newer: never graded blindly


def _notice(raw: object, where: str) -> Notice:
    if not isinstance(raw, dict):
        raise IntakeRecordError(where)
    code, ja, en = (_typed(raw, key, str, None, where=f"{where}.")
                    for key in ("code", "message_ja", "message_en"))
    checks = _typed(raw, "checks", list, [], where=f"{where}.")
    if not all(isinstance(c, str) for c in checks):
        raise IntakeRecordError(f"{where}.checks")
    return Notice(code, ja, en, checks=tuple(checks))


def _moodle(data: dict[str, Any]) -> MoodleOrigin | None:
    if "moodle_id" not in data:
        return None
    moodle_id = data["moodle_id"]
    if moodle_id is not None and not isinstance(moodle_id, str):
        raise IntakeRecordError("moodle_id")
    return MoodleOrigin(moodle_id=moodle_id,
                        submitted_sha256=_typed(data, "submitted_sha256", str, ""),
                        submitted_name=_typed(data, "submitted_name", str, ""))


__all__ = ["IntakeRecord", "IntakeRecordError", "MoodleOrigin"]
