"""Build real zip files laid out the way Moodle writes them (tests and the demo use these).

Moodle's rules, as read from mod/assign (see docs/moodle-formats.md in the design notes):
the prefix is ``clean_filename(NAME + "_" + ID)`` with every ``_`` of NAME made a space;
folders are ``PREFIX_assignsubmission_file_/`` (3.1–4.0) or ``PREFIX_assignsubmission_file/``
(4.1+); flat files are ``PREFIX_assignsubmission_file_<name>``. Entry names carry the UTF-8
flag unless ``utf8_flag=False``, in which case they are written as CP932 bytes with no
flag, as Japanese Windows tools do.
"""

from __future__ import annotations

import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FOLDERS_3X = "folders-3x"
FOLDERS_4X = "folders-4x"
FLAT = "flat"
LAYOUTS = (FOLDERS_3X, FOLDERS_4X, FLAT)
DATE = (2026, 11, 23, 10, 0, 0)


def clean_filename(text: str) -> str:
    """Moodle's ``clean_param($x, PARAM_FILE)``: drop control chars and ``&<>"`|':\\/``."""
    text = re.sub(r"[\x00-\x1f\x7f&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def notebook_bytes(source: str = "x = 1\n", *, markdown: str = "# 課題") -> bytes:
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": markdown},
            {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
             "execution_count": None},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass
class Student:
    """One participant's folder: ``files`` maps a path below the folder to its bytes."""

    participant_id: int | None      # None: 4.1+ "Default group" (no id)
    name: str                       # as Moodle prints it; '_' become spaces in the zip
    files: dict[str, bytes] = field(default_factory=dict)
    online_text: str | None = None


def prefix(student: Student) -> str:
    name = student.name.replace("_", " ")
    if student.participant_id is None:
        return clean_filename(name)
    return clean_filename(f"{name}_{student.participant_id}")


def entries_for(student: Student, layout: str) -> list[tuple[str, bytes]]:
    """The (name, data) pairs Moodle writes for ``student`` in ``layout``."""
    out: list[tuple[str, bytes]] = []
    plugins: list[tuple[str, dict[str, bytes]]] = [("file", student.files)]
    if student.online_text is not None:
        plugins.append(("onlinetext", {"onlinetext.html": student.online_text.encode()}))
    for plugin, files in plugins:
        base = clean_filename(f"{prefix(student)}_assignsubmission_{plugin}")
        for relpath, data in files.items():
            if layout == FOLDERS_3X:
                out.append((f"{base}_/{relpath}", data))
            elif layout == FOLDERS_4X:
                out.append((f"{base}/{relpath}", data))
            else:  # flat: Moodle drops the student's sub-folders
                out.append((clean_filename(f"{base}_{relpath.rsplit('/', 1)[-1]}"), data))
    return out


class RawInfo(zipfile.ZipInfo):
    """A ZipInfo written with exactly these name bytes and these extra flag bits (zipfile
    clears ``flag_bits`` when writing and flags only non-ASCII names as UTF-8)."""

    raw_name: bytes | None = None
    forced_flags: int = 0

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        if self.raw_name is not None:
            return self.raw_name, self.flag_bits | self.forced_flags
        name, flags = super()._encodeFilenameFlags()  # type: ignore[misc]
        return name, flags | self.forced_flags


def add_entry(zf: zipfile.ZipFile, name: str | bytes, data: bytes = b"", *,
              utf8_flag: bool = True, mode: int | None = None, flags: int = 0,
              compress: int = zipfile.ZIP_DEFLATED, extra: bytes = b"") -> zipfile.ZipInfo:
    """Write one entry. ``name`` as str: UTF-8, flagged (as Moodle does), or with
    ``utf8_flag=False`` CP932 bytes and no flag; as bytes: written verbatim, no flag."""
    if isinstance(name, str) and utf8_flag:
        info = RawInfo(name, DATE)
        info.forced_flags = 0x800 | flags
    else:
        raw = name if isinstance(name, bytes) else name.encode("cp932")
        info = RawInfo(raw.decode("cp437"), DATE)
        info.raw_name, info.forced_flags = raw, flags
    info.compress_type = compress
    info.extra = extra
    if mode is not None:
        info.create_system = 3
        info.external_attr = mode << 16
    zf.writestr(info, data)
    return info


def build_zip(path: Path, entries: Iterable[tuple[str | bytes, bytes]], *,
              utf8_flag: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            add_entry(zf, name, data, utf8_flag=utf8_flag)
    return path


def build_submissions_zip(path: Path, students: Sequence[Student], *, layout: str,
                          utf8_flag: bool = True) -> Path:
    """A "Download all submissions" zip of ``students`` in ``layout``."""
    entries = [e for s in students for e in entries_for(s, layout)]
    return build_zip(path, entries, utf8_flag=utf8_flag)


def symlink_mode() -> int:
    return stat.S_IFLNK | 0o777


def unicode_path_extra(raw_name: bytes, real_name: str) -> bytes:
    """Info-ZIP Unicode Path extra field (0x7075) for an entry whose raw name is ``raw_name``."""
    body = struct.pack("<BL", 1, zlib.crc32(raw_name)) + real_name.encode("utf-8")
    return struct.pack("<HH", 0x7075, len(body)) + body


def roster() -> list[Student]:
    """A realistic class for 14_n: every case the intake must handle, once."""
    nb = notebook_bytes
    return [
        Student(1234567, "Taro Yamada", {"14_n.ipynb": nb()}),
        Student(1234568, "山田 花子", {"14_n (1).ipynb": nb()}),
        Student(1234569, "Mary_Ann O'Brien", {"14_N.ipynb": nb()}),
        Student(1234570, "佐藤 次郎", {"work/14_n.ipynb": nb(), "work/data/img.png": b"\x89PNG"}),
        Student(1234571, "鈴木 一郎", {"14_n.py": b"# %%\nx = 1\n"}),
        Student(1234572, "高橋 三郎", {"13_n.ipynb": nb()}),
        Student(1234573, "田中 四郎", {"report.pdf": b"%PDF-1.4"},
                online_text="<p>見てください</p>"),
        Student(1234574, "伊藤 五郎", {"14_n.ipynb": nb("y = 2\n"), "14_nのコピー.ipynb": nb()}),
        Student(1234575, "Jean-Luc Picard", {"Copy of 14_n.ipynb": nb()}),
        Student(1234576, "渡辺 六郎", {"１４＿ｎ.ipynb": nb()}),
    ]


def add_streamed_notebook(zf: zipfile.ZipFile, name: str, *, mib: int) -> None:
    """A notebook of about ``mib`` MiB written into ``zf`` one MiB at a time (never held in
    memory), with ``zf``'s compression (open it with ``ZIP_DEFLATED, compresslevel=1`` for
    speed). Each MiB holds some random text among spaces, so it deflates about 60:1, like
    the outputs of a real oversized notebook: inside the zip's ratio limit."""
    import random

    rng = random.Random(7)
    block = bytearray(b" " * (1 << 20))
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for at in range(0, len(block), 64 << 10):
        block[at:at + 1200] = bytes(rng.choice(alphabet) for _ in range(1200))
    with zf.open(name, "w", force_zip64=True) as fh:
        fh.write(b'{"cells": [{"cell_type": "code", "source": "x", "metadata": {}, '
                 b'"outputs": [{"output_type": "stream", "name": "stdout", "text": "')
        for _ in range(mib):
            fh.write(block)
        fh.write(b'"}]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
