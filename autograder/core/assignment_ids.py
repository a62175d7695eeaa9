"""What an assignment id may be, and the course convention ``NN_n`` / ``NN_h``.

An id names a folder (``assignments/<id>/``), the source notebook (``<id>.ipynb``) and,
by default, the file students submit, so it must be a plain file name on every system:
letters, digits, ``_``, ``.`` and ``-``, starting with a letter or a digit, at most 64
characters (``ps1``, ``week5``, ``16_n``, ``hw-2.1``). An id of the form ``NN_n`` or
``NN_h`` (two digits, then the level: normal or hard) also says its lecture and level;
the Moodle intake then knows the near misses of that form (``moodle/naming.py``).
"""

from __future__ import annotations

import re

from .errors import ConfigError
from .i18n import tr

VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
LECTURE_LEVEL = re.compile(r"(?P<lecture>\d{2})_(?P<level>[nh])")
LEVELS = ("n", "h")


def check_id(assignment_id: str, *, where: str) -> str:
    """``assignment_id`` when it is a valid id; a ``ConfigError`` naming ``where`` if not."""
    if VALID_ID.fullmatch(assignment_id) and not assignment_id.endswith("."):
        return assignment_id
    raise ConfigError(
        tr(ja=f"課題 ID {assignment_id!r} には使えない文字があります",
           en=f"assignment id {assignment_id!r} has characters an id cannot have"),
        where=where,
        hint=tr(ja="英数字で始め、英数字・_・.・- だけで 64 文字までにしてください"
                   "(例: 14_n, ps1, week5)",
                en="start with a letter or digit and use only letters, digits, _ . -"
                   " (at most 64; e.g. 14_n, ps1, week5)"))


def lecture_level(assignment_id: str) -> tuple[int, str] | None:
    """``(lecture, level)`` of an id of the form ``NN_n``/``NN_h``; ``None`` otherwise."""
    found = LECTURE_LEVEL.fullmatch(assignment_id)
    if found is None or int(found["lecture"]) < 1:
        return None
    return int(found["lecture"]), found["level"]


def check_file_name(name: str, *, where: str) -> str:
    """A submission file name from a manifest: a plain ``*.ipynb`` name, nothing else."""
    stem = name[: -len(".ipynb")] if name.endswith(".ipynb") else ""
    if stem and VALID_ID.fullmatch(stem) and not stem.endswith("."):
        return name
    raise ConfigError(
        tr(ja=f"提出ファイル名 {name!r} は「<名前>.ipynb」の形ではありません",
           en=f"submission file name {name!r} is not <name>.ipynb"),
        where=where,
        hint=tr(ja="英数字・_・.・- の名前に .ipynb を付けてください(例: ps1.ipynb)",
                en="a name of letters, digits, _ . - ending in .ipynb (e.g. ps1.ipynb)"))
