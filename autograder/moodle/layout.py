"""Which participant a path of Moodle's "Download all submissions" zip belongs to.

Moodle builds every prefix as ``clean_filename(NAME + "_" + ID)`` with every ``_`` of NAME
turned into a space, so the first ``_`` of a segment ends the name, whatever the language
(``Taro Yamada``, ``山田 太郎``, ``Participant``, ``参加者``, ``Group A-Taro Yamada``).
Then come ``assignsubmission_<plugin>`` and, depending on the version:

- folders, 3.1–4.0: ``NAME_ID_assignsubmission_file_/<student's path>``
- folders, 4.1+:    ``NAME_ID_assignsubmission_file/<student's path>``
- flat (any):       ``NAME_ID_assignsubmission_file_<file name>``
- 4.1+ team submissions: ``GROUP_GROUPID_assignsubmission_file/`` and, for members
  without a group, ``Default group_assignsubmission_file/`` (no id).

Like Moodle's own feedback importer, the first matching segment of a path wins, so a
wrapper folder added by re-zipping the download is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WITH_ID = re.compile(
    r"^(?P<name>[^_]*)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<rest>.*))?$",
    re.DOTALL)
_NO_ID = re.compile(
    r"^(?P<name>[^_]*)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<rest>.*))?$", re.DOTALL)

FOLDERS_3X = "folders-3x"
FOLDERS_4X = "folders-4x"
FLAT = "flat"

# What operating systems and archivers add; never a student's submission.
JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class PathMatch:
    name: str               # the display name part (may be empty)
    moodle_id: str | None   # digits; None for 4.1+ ``Default group``
    plugin: str             # 'file', 'onlinetext', ...
    relpath: str            # the file's path inside the participant's area
    layout: str             # FOLDERS_3X | FOLDERS_4X | FLAT
    wrapper: tuple[str, ...]  # segments before the participant's segment


def match_path(parts: tuple[str, ...]) -> PathMatch | None:
    """The participant a file path (split into segments) belongs to, or ``None``."""
    for index, segment in enumerate(parts):
        found = _WITH_ID.match(segment) or _NO_ID.match(segment)
        if found is None:
            continue
        groups = found.groupdict()
        rest: str | None = groups["rest"]
        tail = parts[index + 1:]
        if not tail and not rest:
            return None  # a file named like a folder, with nothing after the plugin
        layout = FLAT if not tail else (FOLDERS_4X if rest is None else FOLDERS_3X)
        relpath = "/".join(p for p in (rest or "", *tail) if p)
        return PathMatch(name=groups["name"], moodle_id=groups.get("id"),
                         plugin=groups["plugin"], relpath=relpath, layout=layout,
                         wrapper=parts[:index])
    return None


def match_folder(parts: tuple[str, ...]) -> PathMatch | None:
    """The participant whose own folder ``parts`` is (``NAME_ID_assignsubmission_file/``,
    3.x with its trailing ``_``), or ``None``: an empty folder, or a folder entry that is a
    link, still says that this participant is in the zip."""
    if not parts:
        return None
    found = _WITH_ID.match(parts[-1]) or _NO_ID.match(parts[-1])
    if found is None or found["rest"]:
        return None
    groups = found.groupdict()
    return PathMatch(name=groups["name"], moodle_id=groups.get("id"), plugin=groups["plugin"],
                     relpath="", layout=FOLDERS_4X if groups["rest"] is None else FOLDERS_3X,
                     wrapper=parts[:-1])


def match_owner(parts: tuple[str, ...]) -> PathMatch | None:
    """The participant a file or folder entry belongs to (``match_path``, else
    ``match_folder``)."""
    return match_path(parts) or match_folder(parts)


def is_junk(parts: tuple[str, ...]) -> bool:
    """OS/archiver litter and hidden files (Moodle's importer skips ``.`` and ``~`` too)."""
    return any(p in JUNK_NAMES or p.startswith((".", "~$")) for p in parts)
