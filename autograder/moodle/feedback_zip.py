"""The zip for Moodle's "Upload multiple feedback files in a zip".

Moodle's importer (mod/assign/feedback/file/importziplib.php) walks each file's path;
every segment is split on ``_`` into at most 5 parts, and the first segment whose part 2
is a known participant id (a *group* id for Moodle 4.1+ team submissions) and whose parts
3–4 name an assignment plugin decides whose feedback the file is; whatever follows becomes
the feedback file's name. Files whose name starts with ``.`` or ``~`` are skipped, and so
is a file identical to the one submitted under the same name.

We write ``<Name>_<id>_assignsubmission_file_<file>`` (the default, ``layout="flat"``):
Moodle 3.x (to 4.0) matches only that, with no folder, and 4.1+ reads it as well; or,
with ``layout="folders"``, ``<Name>_<id>_assignsubmission_file/<file>`` as 4.1+ downloads
them (which 3.x reads as a plugin named ``file/<file>``: it imports nothing). Names are
cleaned like Moodle's ``clean_filename`` (non-ASCII kept; control characters and
``& < > " ` | ' : \\ /`` removed), every entry carries the UTF-8 flag, and each path is
checked against the importer's rule before it is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zipfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from ..core.errors import ExportError
from ..core.i18n import tr
from ..core.results import Notice

UTF8_FLAG = 0x800
PLUGIN = "assignsubmission_file"
KNOWN_PLUGINS = frozenset({
    "assignsubmission_file", "assignsubmission_onlinetext", "assignsubmission_comments",
    "assignfeedback_file", "assignfeedback_comments", "assignfeedback_editpdf",
    "assignfeedback_offline",
})
_IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f&<>\"`|':\\/]")
# PHP's is_numeric(): optional sign, digits with an optional fraction, optional exponent.
_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")


def clean_filename(text: str) -> str:
    """Moodle's ``clean_filename`` (``PARAM_FILE``)."""
    text = _UNSAFE_CHARS.sub("", text)
    return "" if text in (".", "..") else text


class FeedbackMatch(NamedTuple):
    participant_id: int   # participant id (group id for 4.1+ team submissions)
    plugin: str           # e.g. 'assignsubmission_file'
    filename: str         # the name Moodle gives the file (may hold folders; no leading /)


def moodle_feedback_match(path: str, *,
                          participants: Collection[int] | None = None) -> FeedbackMatch | None:
    """What Moodle's importer makes of ``path``; ``None`` when it ignores the file."""
    parts = path.split("/")
    base = parts[-1]
    if not base or base.startswith((".", "~")) or base in _IGNORED_NAMES or "__MACOSX" in parts:
        return None
    remaining = list(parts)
    while remaining:
        info = remaining.pop(0).split("_", 4)
        if len(info) < 4 or not _PHP_NUMERIC.match(info[1]):
            continue
        number = float(info[1])
        pid = int(number) if number.is_integer() else -1
        if participants is not None and pid not in participants:
            continue
        plugin = f"{info[2]}_{info[3]}"
        if plugin not in KNOWN_PLUGINS:
            continue
        rest = "/".join([info[4] if len(info) == 5 else "", *remaining])
        return FeedbackMatch(pid, plugin, rest.lstrip("/"))
    return None


@dataclass(frozen=True)
class FeedbackEntry:
    moodle_id: str | None           # participant id, or group id (4.1+); None: Default group
    name: str                       # display name for the folder (Moodle ignores it)
    files: Mapping[str, bytes]      # feedback file name -> content
    submitted_sha256: Collection[str] = ()   # hashes of what the participant submitted


@dataclass
class FeedbackZip:
    path: Path
    written: list[str] = field(default_factory=list)      # entry names in the zip
    skipped: list[Notice] = field(default_factory=list)   # feedback that could not go in


def feedback_path(entry: FeedbackEntry, filename: str, *,
                  layout: Literal["folders", "flat"] = "flat") -> str:
    """The zip path of one feedback file, as Moodle's importer will match it."""
    prefix = clean_filename(entry.name.replace("_", " ")).strip() or "Participant"
    folder = f"{prefix}_{entry.moodle_id}_{PLUGIN}"
    name = clean_filename(filename)
    return f"{folder}/{name}" if layout == "folders" else f"{folder}_{name}"


def build_feedback_zip(entries: Iterable[FeedbackEntry], out_path: Path, *,
                       layout: Literal["folders", "flat"] = "flat",
                       date_time: tuple[int, int, int, int, int, int] | None = None,
                       ) -> FeedbackZip:
    """Write the feedback zip to ``out_path`` (atomically) and say what went in."""
    out_path = Path(out_path)
    result = FeedbackZip(out_path)
    planned = _plan(list(entries), layout, result)
    now = time.localtime()
    stamp = date_time or (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min,
                          now.tm_sec)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in planned:
            info = _Utf8Info(path, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            result.written.append(path)
    os.replace(tmp, out_path)
    return result


class _Utf8Info(zipfile.ZipInfo):
    """Always flag the name as UTF-8: zipfile clears ``flag_bits`` when it writes an entry
    and sets the flag only for non-ASCII names, while Moodle's unzipper trusts the flag."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("utf-8"), self.flag_bits | UTF8_FLAG


def _plan(entries: list[FeedbackEntry], layout: Literal["folders", "flat"],
          result: FeedbackZip) -> list[tuple[str, bytes]]:
    planned: list[tuple[str, bytes]] = []
    seen_ids: set[str] = set()
    seen_paths: set[str] = set()
    for entry in entries:
        if not _usable_id(entry, result):
            continue
        if entry.moodle_id in seen_ids:
            raise ExportError(tr(ja=f"ID {entry.moodle_id} のフィードバックが 2 つあります",
                                 en=f"two feedback entries for id {entry.moodle_id}"),
                              where=str(result.path),
                              hint=tr(ja="参加者ごとに 1 つにしてください",
                                      en="give one entry per participant"))
        seen_ids.add(str(entry.moodle_id))
        for filename, data in entry.files.items():
            path = _checked_path(entry, filename, data, layout, result)
            if path is None:
                continue
            if path in seen_paths:
                raise ExportError(tr(ja=f"2 つのフィードバックのファイルが {path!r} になります",
                                     en=f"two feedback files become {path!r}"),
                                  where=str(result.path),
                                  hint=tr(ja="整えた後も異なる名前にしてください",
                                          en="give the files names that differ after cleaning"))
            seen_paths.add(path)
            planned.append((path, data))
    return planned


def _usable_id(entry: FeedbackEntry, result: FeedbackZip) -> bool:
    if entry.moodle_id is None:
        result.skipped.append(Notice(
            "feedback_default_group",
            f"「{entry.name}」(グループなし) のフィードバックは Moodle が zip から取り込めないため"
            "入れていません",
            f"feedback for “{entry.name}” (no group) was left out: Moodle cannot import it "
            "from a zip"))
        return False
    if not entry.moodle_id.isascii() or not entry.moodle_id.isdigit():
        raise ExportError(tr(ja=f"{entry.moodle_id!r} は Moodle の参加者・グループの"
                                " ID ではありません",
                             en=f"{entry.moodle_id!r} is not a Moodle participant or group id"),
                          where=str(result.path),
                          hint=tr(ja="zip かワークシートにある番号を使ってください",
                                  en="use the number from the zip or worksheet"))
    return True


def _checked_path(entry: FeedbackEntry, filename: str, data: bytes,
                  layout: Literal["folders", "flat"], result: FeedbackZip) -> str | None:
    where = f"{entry.name} ({entry.moodle_id}): {filename}"
    if hashlib.sha256(data).hexdigest() in entry.submitted_sha256:
        result.skipped.append(Notice(
            "feedback_identical",
            f"{where}: 提出ファイルと同一の内容のため入れていません"
            " (Moodle は同一ファイルを取り込みません)",
            f"{where}: identical to the submission, left out (Moodle would skip it)"))
        return None
    path = feedback_path(entry, filename, layout=layout)
    found = moodle_feedback_match(path)
    expected = clean_filename(filename)
    if found is None or found != (int(str(entry.moodle_id)), PLUGIN, expected):
        result.skipped.append(Notice(
            "feedback_unmatched",
            f"{where}: Moodle が取り込めない名前のため入れていません"
            " (「.」「~」で始まる名前など)",
            f"{where}: Moodle's importer would not match this name (starts with “.” or “~”?)"))
        return None
    return path
