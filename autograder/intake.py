"""Turn what the instructor passes to ``grade`` into submission items.

A SUBMISSION argument is a notebook file, a folder, or a Moodle "Download all
submissions" zip. Folders: notebooks directly inside are one participant each (named by
file stem); sub-folders are one participant each (named by the folder). Every source ends
up as ``SubmissionItem`` objects, so the Moodle intake plugs in beside the plain one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import IntakeError
from .i18n import tr
from .results import Notice, Status

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SubmissionItem:
    participant: str
    file: str
    content: bytes
    participant_name: str = ""
    is_group: bool = False
    notices: tuple[Notice, ...] = ()
    status: Status | None = None  # set when intake already knows (missing, wrong file)
    reason: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise IntakeError(f"file is {size} bytes, over the {MAX_NOTEBOOK_BYTES} limit",
                          where=str(path), hint="remove large outputs and submit again")
    return path.read_bytes()


def _candidates(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix.lower() in (".ipynb", ".py") and not p.name.startswith("."))


def _folder_items(folder: Path, assignment_id: str) -> list[SubmissionItem]:
    items = [SubmissionItem(participant=p.stem, file=p.name, content=_read(p))
             for p in sorted(folder.glob("*.ipynb"))]
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files = _candidates(sub)
        if not files:
            items.append(SubmissionItem(
                participant=sub.name, file="", content=b"", status=Status.MISSING,
                reason=tr(ja="提出ファイルがありません", en="no file was submitted")))
            continue
        exact = [f for f in files if f.name == f"{assignment_id}.ipynb"]
        chosen = (exact or [f for f in files if f.suffix == ".ipynb"] or files)[0]
        items.append(SubmissionItem(participant=sub.name, file=chosen.name,
                                    content=_read(chosen)))
    return items


def collect(paths: Iterable[Path], *, assignment_id: str, workdir: Path,
            team_submission: bool | None = None) -> tuple[list[SubmissionItem], list[Notice]]:
    """Every submission item under ``paths`` (files, folders, Moodle zips), and messages
    about the archives themselves (refused entries, online text ignored...)."""
    items: list[SubmissionItem] = []
    messages: list[Notice] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise IntakeError("no such file or folder", where=str(path))
        if path.is_dir():
            items.extend(_folder_items(path, assignment_id))
        elif path.suffix.lower() == ".zip":
            from .moodle_intake import items_from_moodle_zip

            found, notes = items_from_moodle_zip(path, assignment_id=assignment_id,
                                                 workdir=workdir,
                                                 team_submission=team_submission)
            items.extend(found)
            messages.extend(notes)
        else:
            items.append(SubmissionItem(participant=path.stem, file=path.name,
                                        content=_read(path)))
    _refuse_duplicates(items)
    return items, messages


def _refuse_duplicates(items: list[SubmissionItem]) -> None:
    seen: dict[str, str] = {}
    for item in items:
        if item.participant in seen:
            raise IntakeError(
                f"participant {item.participant!r} appears twice ({seen[item.participant]}"
                f" and {item.file})", hint="grade one file per participant per run")
        seen[item.participant] = item.file
