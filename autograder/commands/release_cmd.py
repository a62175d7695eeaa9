"""``autograder release ID [--out DIR]``: write the student notebook."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import register
from ..i18n import tr


def _run(args: argparse.Namespace) -> int:
    from ..console import console
    from ..release import release

    path = release(assignment_id=args.assignment, out=args.out, assignments_root=args.root)
    console.print(tr(ja=f"{args.assignment}: 配布用ノートブックを書き出しました → {path}",
                     en=f"{args.assignment}: student notebook written → {path}"),
                  highlight=False)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="write the student version of an assignment's notebook")
    p.add_argument("assignment", help="assignment id, e.g. 14_n")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default ./release/ID/)")
    p.add_argument("--root", type=Path, default=None,
                   help="assignments folder (default ./assignments or $AUTOGRADER_ASSIGNMENTS)")
    p.set_defaults(handler=_run)


register(add_parser)
