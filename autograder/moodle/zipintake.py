"""Moodle's "Download all submissions" zip → one ``ParticipantEntry`` per participant.

``read_moodle_zip`` extracts the zip safely (``safezip``) below ``workdir/submissions``,
assigns every file to its participant (``layout``), chooses the file to grade
(``naming``) and converts a ``.py`` export to ``workdir/converted/<participant>/``
(``pyconvert``). Every participant folder in the zip (an empty one too) yields exactly
one entry; refused and unassigned entries are summed into archive-level messages, one
line per kind (``Intake.messages``), and every refusal that concerns a participant (their
folder included) is also a notice to that participant. A participant with nothing left to
grade because of a refusal is ``refused``; one whose files make the intake fail is
``error`` — the batch goes on either way. Names are stored cleaned (``safetext``).

Team submissions: Moodle 3.x writes one folder per member (``Group A-Taro Yamada_<id>``,
participant ids, individual entries); Moodle 4.1+ writes one folder per group
(``Group A_<group id>``) and ``Default group`` for members without one. The two 4.1+
forms look alike, so ``team_submission`` says which it is; left ``None`` it is taken to
be a team download when a ``Default group`` folder is present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import IntakeError, InvalidNotebook
from ..core.results import Notice
from ..core.safetext import one_line, visible
from ..core.sizecap import is_notebook_name
from .layout import FLAT, FOLDERS_3X, PathMatch, is_junk, match_owner, match_path
from .model import FileStatus, Intake, ParticipantEntry, SubmittedFile
from .naming import FileRule, Match, converted_notice, decide, file_rule
from .notices import (
    internal_error_notice,
    junk_notice,
    online_text_notice,
    refused_file_notice,
    refused_notices,
    sample,
    unmatched_notice,
)
from .pyconvert import convert_py_file
from .safezip import (
    ExtractedFile,
    Extraction,
    RefusedEntry,
    ZipLimits,
    extract_safely,
    open_archive,
)

DEFAULT_GROUP_ID = "group-default"


def read_moodle_zip(zip_path: Path, *, assignment_id: str, workdir: Path,
                    team_submission: bool | None = None,
                    limits: ZipLimits | None = None, file_name: str = "") -> Intake:
    """Read a Moodle submissions zip for ``assignment_id`` into ``workdir``
    (``file_name``: the name students submit, default ``<id>.ipynb``)."""
    target = file_rule(assignment_id, file_name)
    zip_path, workdir = Path(zip_path), Path(workdir)
    with open_archive(zip_path) as archive:
        extraction = extract_safely(archive, root=workdir / "submissions", limits=limits,
                                    where=str(zip_path))
    collected = _collect(extraction, team_submission)
    if not collected.entries:
        raise IntakeError(_no_participants_message(extraction.files, extraction.refused),
                          where=str(zip_path),
                          hint="pass the zip from Moodle's “Download all submissions” "
                               "(Moodle の「すべての提出をダウンロードする」の zip)")
    for entry in collected.entries.values():
        _settle_guarded(entry, target, workdir)
    messages = refused_notices(extraction.refused) + collected.messages
    return Intake(zip_path=zip_path, root=extraction.root,
                  participants=list(collected.entries.values()), messages=messages,
                  layouts=frozenset(collected.layouts))


@dataclass
class _Collected:
    entries: dict[str, ParticipantEntry] = field(default_factory=dict)
    messages: list[Notice] = field(default_factory=list)
    layouts: set[str] = field(default_factory=set)
    wrappers: set[tuple[str, ...]] = field(default_factory=set)


def _collect(extraction: Extraction, team: bool | None) -> _Collected:
    matches = [(f, match_path(_parts(f.name))) for f in extraction.files]
    owners = (match_owner(_parts(name)) for name in extraction.folders)
    folders = [m for m in owners if m is not None and m.layout != FLAT]
    if team is None:
        team = any(m is not None and m.moodle_id is None for _, m in matches) or any(
            m.moodle_id is None for m in folders)
    out = _Collected()
    for folder in folders:  # an empty folder is a participant who submitted nothing
        out.layouts.add(folder.layout)
        _entry_for(out, folder, team)
    for entry in extraction.refused:  # the participant it belongs to still gets an entry
        owner = match_owner(_parts(entry.name))
        if owner is not None:
            _entry_for(out, owner, team).refused.append(entry)
    _add_files(out, matches, team)
    return out


def _add_files(out: _Collected, matches: list[tuple[ExtractedFile, PathMatch | None]],
               team: bool) -> None:
    junk: list[str] = []
    stray: list[str] = []
    for extracted, found in matches:
        if is_junk(_parts(extracted.name)):
            junk.append(extracted.name)
        elif found is None:
            stray.append(extracted.name)
        else:
            _add_file(out, extracted, found, team)
    out.messages += [unmatched_notice(stray)] if stray else []
    out.messages += [junk_notice(junk)] if junk else []


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.split("/") if p)


def _add_file(out: _Collected, extracted: ExtractedFile, found: PathMatch, team: bool) -> None:
    out.layouts.add(found.layout)
    if found.wrapper and found.wrapper not in out.wrappers:
        out.wrappers.add(found.wrapper)
        wrapper = visible("/".join(found.wrapper))
        out.messages.append(Notice("wrapper_folder",
                                   f"zip の中の余分なフォルダ「{wrapper}」は無視して読みました",
                                   f"read through the extra folder “{wrapper}” in the zip"))
    entry = _entry_for(out, found, team)
    if found.plugin == "file":
        entry.files.append(SubmittedFile(relpath=found.relpath, path=extracted.path,
                                         size=extracted.size, entry_name=extracted.name,
                                         date_time=extracted.date_time))
    else:
        entry.other_plugins.setdefault(found.plugin, []).append(found.relpath)


def _entry_for(out: _Collected, found: PathMatch, team: bool) -> ParticipantEntry:
    is_group = found.moodle_id is None or (team and found.layout != FOLDERS_3X)
    if found.moodle_id is None:
        key = DEFAULT_GROUP_ID
    else:
        key = f"group-{found.moodle_id}" if is_group else found.moodle_id
    name = one_line(found.name, limit=None)  # stored and shown: never a control character
    entry = out.entries.get(key)
    if entry is None:
        entry = ParticipantEntry(participant_id=key, moodle_id=found.moodle_id,
                                 display_name=name, is_group=is_group)
        out.entries[key] = entry
    elif entry.display_name != name:
        out.messages.append(Notice(
            "conflicting_names",
            f"ID {key} に異なる名前のフォルダがあります "
            f"(「{entry.display_name}」と「{name}」)。同じ参加者として扱いました",
            f"id {key} comes with two names (“{entry.display_name}” and “{name}”); "
            "treated as one participant"))
    return entry


def _settle_guarded(entry: ParticipantEntry, target: FileRule, workdir: Path) -> None:
    """``_settle``, and a participant whose files make it fail is an ``error``: the rest
    of the batch goes on."""
    try:
        _settle(entry, target, workdir)
    except Exception as exc:  # anything a hostile file could provoke, for this one only
        entry.status, entry.chosen, entry.notebook_path = FileStatus.ERROR, None, None
        entry.notices.append(internal_error_notice(exc))


def _settle(entry: ParticipantEntry, target: FileRule, workdir: Path) -> None:
    decision = decide(entry.files, assignment_id=target.id, file_name=target.file_name)
    entry.status, entry.notices = decision.status, list(decision.notices)
    entry.chosen = decision.chosen.file if decision.chosen else None
    if "onlinetext" in entry.other_plugins:
        entry.notices.append(online_text_notice())
    entry.notices.extend(refused_file_notice(refused) for refused in entry.refused)
    if entry.status is not FileStatus.OK and _refusal_decides(entry):
        entry.status = FileStatus.REFUSED
        entry.notices = [n for n in entry.notices if n.code != "missing"]
    if entry.status is not FileStatus.OK or decision.chosen is None:
        return
    chosen = decision.chosen.file
    if decision.chosen.match is not Match.PY:
        entry.notebook_path = chosen.path
        return
    dest = workdir / "converted" / entry.participant_id / target.file_name
    try:
        entry.notebook_path = convert_py_file(chosen.path, dest)
    except (InvalidNotebook, OSError) as exc:
        entry.status = FileStatus.INVALID
        what = visible(str(exc))
        entry.notices.append(Notice(
            "invalid_py", f"「{chosen.relpath}」をノートブックに変換できませんでした: {what}",
            f"“{chosen.relpath}” could not be converted: {what}"))
    else:
        entry.notices.append(converted_notice(chosen.relpath, target))


def _refusal_decides(entry: ParticipantEntry) -> bool:
    """Nothing is graded, and a refusal is why: all the participant's files were refused,
    or one that could have been graded (a notebook, the participant's folder itself)."""
    if not entry.refused:
        return False
    if not entry.files:
        return True
    return any(match_path(_parts(r.name)) is None or is_notebook_name(r.name)
               for r in entry.refused)


def _no_participants_message(files: tuple[ExtractedFile, ...],
                             refused: tuple[RefusedEntry, ...]) -> str:
    # Both languages at once: the instructor may not have chosen one yet.
    if refused and not files:
        return (f"all {len(refused)} entries were refused for safety "
                f"(すべてのエントリを安全のため展開しませんでした): {refused[0].message_en}")
    if not files:
        return "the zip holds no files (zip にファイルがありません)"
    return ("no Moodle participant folders (Name_1234567_assignsubmission_file) in the zip "
            f"(参加者のフォルダが見つかりません): {sample([f.name for f in files], 'en')}")
