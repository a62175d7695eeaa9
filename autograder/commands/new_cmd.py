"""``autograder new ID``: scaffold a new assignment folder from the templates."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import register
from ..i18n import tr


def _run(args: argparse.Namespace) -> int:
    from ..console import console
    from ..scaffold import new_assignment

    folder = new_assignment(assignment_id=args.assignment, root=args.root,
                            title_ja=args.title_ja, title_en=args.title_en,
                            device=args.device, datasets=args.dataset)
    console.print(tr(ja=f"{args.assignment}: 課題の雛形を作りました → {folder}",
                     en=f"{args.assignment}: assignment scaffolded → {folder}"),
                  highlight=False)
    console.print(tr(ja="ノートブック・assignment.toml・tests/ を編集し、"
                        f"`autograder release {args.assignment}` で配布版を作ります。",
                     en="Edit the notebook, assignment.toml and tests/, then run "
                        f"`autograder release {args.assignment}`."), highlight=False)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="scaffold a new assignment (notebook, manifest, checks)")
    p.add_argument("assignment", help="assignment id: lecture 01-15, '_', n or h (e.g. 14_n)")
    p.add_argument("--title-ja", default=None, help="Japanese title")
    p.add_argument("--title-en", default=None, help="English title")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dataset", action="append", default=[],
                   help="dataset the assignment uses (repeatable), e.g. mnist")
    p.add_argument("--root", type=Path, default=None,
                   help="assignments folder (default ./assignments or $AUTOGRADER_ASSIGNMENTS)")
    p.set_defaults(handler=_run)


register(add_parser)
