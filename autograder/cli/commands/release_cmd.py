"""``autograder release ID [--out DIR]``: write the student notebook."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...core.i18n import tr
from .common import add_assignments, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...authoring.release import release
    from ...core.console import plain

    path = release(assignment_id=args.assignment, out=args.out,
                   assignments_root=args.assignments)
    plain(tr(ja=f"{args.assignment}: 配布用ノートブックを書き出しました → {path}",
             en=f"{args.assignment}: student notebook written → {path}"))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "release", ja="学生に配るノートブックを書き出します",
                en="write the student version of an assignment's notebook")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=tr(ja="出力フォルダ(既定: ./release/ID/)",
                           en="output folder (default ./release/ID/)"))
    add_assignments(p)
    p.set_defaults(handler=_run)


register(add_parser)
