"""Moodle's "Download all submissions" zip → one ``ParticipantEntry`` per participant.

``read_moodle_zip`` extracts the zip safely (``safezip``) below ``workdir/submissions``,
assigns every file to its participant (``layout``), chooses the file to grade
(``naming``) and converts a ``.py`` export to ``workdir/converted/<participant>/``
(``pyconvert``). Every participant folder in the zip yields exactly one entry; every
refused or unassigned file yields an archive-level message (``Intake.messages``).

Team submissions: Moodle 3.x writes one folder per member (``Group A-Taro Yamada_<id>``,
participant ids, individual entries); Moodle 4.1+ writes one folder per group
(``Group A_<group id>``) and ``Default group`` for members without one. The two 4.1+
forms look alike, so ``team_submission`` says which it is; left ``None`` it is taken to
be a team download when a ``Default group`` folder is present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IntakeError, InvalidNotebook
from ..results import Notice
from .layout import FOLDERS_3X, PathMatch, is_junk, match_path
from .model import FileStatus, Intake, ParticipantEntry, SubmittedFile
from .naming import AssignmentName, Match, converted_notice, decide
from .pyconvert import convert_py_file
from .safezip import ExtractedFile, RefusedEntry, ZipLimits, extract_safely, open_archive

DEFAULT_GROUP_ID = "group-default"


def read_moodle_zip(zip_path: Path, *, assignment_id: str, workdir: Path,
                    team_submission: bool | None = None,
                    limits: ZipLimits | None = None) -> Intake:
    """Read a Moodle submissions zip for ``assignment_id`` into ``workdir``."""
    target = AssignmentName.parse(assignment_id)
    zip_path, workdir = Path(zip_path), Path(workdir)
    with open_archive(zip_path) as archive:
        extraction = extract_safely(archive, root=workdir / "submissions", limits=limits,
                                    where=str(zip_path))
    collected = _collect(extraction.files, extraction.refused, team_submission)
    if not collected.entries:
        raise IntakeError(_no_participants_message(extraction.files, extraction.refused),
                          where=str(zip_path),
                          hint="pass the zip from Moodle's “Download all submissions” "
                               "(Moodle の「すべての提出をダウンロードする」の zip)")
    for entry in collected.entries.values():
        _settle(entry, target, workdir)
    messages = [refused_notice(r) for r in extraction.refused] + collected.messages
    return Intake(zip_path=zip_path, root=extraction.root,
                  participants=list(collected.entries.values()), messages=messages,
                  layouts=frozenset(collected.layouts))


@dataclass
class _Collected:
    entries: dict[str, ParticipantEntry] = field(default_factory=dict)
    messages: list[Notice] = field(default_factory=list)
    layouts: set[str] = field(default_factory=set)
    wrappers: set[tuple[str, ...]] = field(default_factory=set)


def _collect(files: tuple[ExtractedFile, ...], refused: tuple[RefusedEntry, ...],
             team: bool | None) -> _Collected:
    matches = [(f, match_path(tuple(f.name.split("/")))) for f in files]
    if team is None:
        team = any(m is not None and m.moodle_id is None for _, m in matches)
    out = _Collected()
    for entry in refused:  # the participant it claims to belong to still gets an entry
        found = match_path(tuple(p for p in entry.name.split("/") if p))
        if found is not None:
            _entry_for(out, found, team).refused.append(entry.name)
    junk = 0
    for extracted, found in matches:
        if is_junk(tuple(extracted.name.split("/"))):
            junk += 1
        elif found is None:
            out.messages.append(unmatched_notice(extracted.name))
        else:
            _add_file(out, extracted, found, team)
    if junk:
        out.messages.append(Notice("junk_ignored",
                                   f"OS やアーカイバが作るファイル {junk} 個を無視しました",
                                   f"{junk} files made by the OS or archiver were ignored"))
    return out


def _add_file(out: _Collected, extracted: ExtractedFile, found: PathMatch, team: bool) -> None:
    out.layouts.add(found.layout)
    if found.wrapper and found.wrapper not in out.wrappers:
        out.wrappers.add(found.wrapper)
        wrapper = "/".join(found.wrapper)
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
    entry = out.entries.get(key)
    if entry is None:
        entry = ParticipantEntry(participant_id=key, moodle_id=found.moodle_id,
                                 display_name=found.name.strip(), is_group=is_group)
        out.entries[key] = entry
    elif entry.display_name != found.name.strip():
        out.messages.append(Notice(
            "conflicting_names",
            f"ID {key} に異なる名前のフォルダがあります "
            f"(「{entry.display_name}」と「{found.name}」)。同じ参加者として扱いました",
            f"id {key} comes with two names (“{entry.display_name}” and “{found.name}”); "
            "treated as one participant"))
    return entry


def _settle(entry: ParticipantEntry, target: AssignmentName, workdir: Path) -> None:
    decision = decide(entry.files, assignment_id=target.id)
    entry.status, entry.notices = decision.status, list(decision.notices)
    entry.chosen = decision.chosen.file if decision.chosen else None
    if "onlinetext" in entry.other_plugins:
        entry.notices.append(online_text_notice())
    entry.notices.extend(refused_file_notice(name) for name in entry.refused)
    if entry.status is not FileStatus.OK or decision.chosen is None:
        return
    chosen = decision.chosen.file
    if decision.chosen.match is not Match.PY:
        entry.notebook_path = chosen.path
        return
    dest = workdir / "converted" / entry.participant_id / f"{target.id}.ipynb"
    try:
        entry.notebook_path = convert_py_file(chosen.path, dest)
    except (InvalidNotebook, OSError) as exc:
        entry.status = FileStatus.INVALID
        entry.notices.append(Notice(
            "invalid_py", f"「{chosen.relpath}」をノートブックに変換できませんでした: {exc}",
            f"“{chosen.relpath}” could not be converted: {exc}"))
    else:
        entry.notices.append(converted_notice(chosen.relpath, target))


def refused_notice(entry: RefusedEntry) -> Notice:
    return Notice(f"refused_{entry.reason}", entry.message_ja, entry.message_en)


def refused_file_notice(name: str) -> Notice:
    return Notice("file_refused",
                  f"「{name}」は安全のため展開しませんでした (詳細は取り込みの記録を参照)",
                  f"“{name}” was not extracted, for safety (see the intake messages)")


def unmatched_notice(name: str) -> Notice:
    return Notice("unmatched",
                  f"「{name}」はどの参加者のフォルダにも入っていないため無視しました",
                  f"“{name}” is in no participant's folder and was ignored")


def online_text_notice() -> Notice:
    return Notice("online_text_ignored",
                  "オンラインテキストの提出は採点対象外のため無視しました",
                  "the online text submission is not graded and was ignored")


def _no_participants_message(files: tuple[ExtractedFile, ...],
                             refused: tuple[RefusedEntry, ...]) -> str:
    if refused and not files:
        return (f"all {len(refused)} entries were refused for safety "
                f"(すべてのエントリを安全のため展開しませんでした): {refused[0].message_en}")
    if not files:
        return "the zip holds no files (zip にファイルがありません)"
    sample = ", ".join(f.name for f in files[:3])
    return ("no Moodle participant folders (Name_1234567_assignsubmission_file) in the zip "
            f"(参加者のフォルダが見つかりません): {sample}")
