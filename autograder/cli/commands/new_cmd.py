"""``autograder new ID``: scaffold a new assignment folder from the templates."""

from __future__ import annotations

import argparse

from ...core.i18n import tr
from .common import add_assignments, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...authoring.scaffold import new_assignment
    from ...core.console import plain

    folder = new_assignment(assignment_id=args.assignment, root=args.assignments,
                            title_ja=args.title_ja, title_en=args.title_en,
                            device=args.device, datasets=args.dataset)
    plain(tr(ja=f"{args.assignment}: 課題の雛形を作りました → {folder}",
             en=f"{args.assignment}: assignment scaffolded → {folder}"))
    plain(tr(ja="ノートブック・assignment.toml・tests/ を編集し、"
                f"`autograder release {args.assignment}` で配布版を作ります。",
             en="Edit the notebook, assignment.toml and tests/, then run "
                f"`autograder release {args.assignment}`."))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "new", ja="新しい課題の雛形を作ります(ノートブック・マニフェスト・チェック)",
                en="scaffold a new assignment (notebook, manifest, checks)")
    p.add_argument("assignment",
                   help=tr(ja="課題 ID: 英数字・_・.・-(例: 14_n, ps1, week5)。NN_n / NN_h の形なら"
                              "回と難易度にもなります",
                           en="assignment id: letters, digits, _ . - (e.g. 14_n, ps1, week5);"
                              " NN_n / NN_h also gives the lecture and level"))
    p.add_argument("--title-ja", default=None, help=tr(ja="日本語の題名", en="Japanese title"))
    p.add_argument("--title-en", default=None, help=tr(ja="英語の題名", en="English title"))
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help=tr(ja="採点に使う装置", en="device the assignment is graded on"))
    p.add_argument("--dataset", action="append", default=[],
                   help=tr(ja="使うデータセット(複数回指定できます。例: mnist)",
                           en="dataset the assignment uses (repeatable), e.g. mnist"))
    add_assignments(p)
    p.set_defaults(handler=_run)


register(add_parser)
