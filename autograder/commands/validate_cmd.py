"""``autograder validate ID | --all``: a readable table; non-zero exit when unsound."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..cli import register
from ..i18n import tr
from .grade_cmd import parse_params


def _table(result: object) -> Table:
    from ..validate import Validation

    assert isinstance(result, Validation)
    name = result.assignment
    table = Table(title=tr(ja=f"{name} の検証", en=f"validation of {name}"))
    for col in (tr(ja="項目", en="check"), tr(ja="配点", en="max"),
                tr(ja="解答例", en="source"), tr(ja="配布版", en="release"), ""):
        table.add_column(col)
    for row in result.rows:
        mark = "[green]OK[/]" if row.ok else "[red]NG[/]"
        table.add_row(row.name, f"{row.max_points:g}", f"{row.source_points:g}",
                      f"{row.release_points:g}", mark)
    return table


def _run(args: argparse.Namespace) -> int:
    from ..console import console, err_console
    from ..errors import ConfigError
    from ..validate import assignment_ids, validate

    if args.all == bool(args.assignment):
        raise ConfigError(tr(ja="課題IDか --all のどちらか一方を指定してください",
                             en="give an assignment id or --all, not both"))
    ids = assignment_ids(args.assignments) if args.all else [args.assignment]
    failed = []
    for ident in ids:
        with console.status(tr(ja=f"{ident} を検証中…", en=f"validating {ident}…")):
            result = validate(assignment_id=ident, assignments_root=args.assignments,
                              params=parse_params(args.param), data_dir=args.data)
        console.print(_table(result))
        for problem in result.problems:
            err_console.print(f"[red]✗[/] {ident}: {escape(problem)}", highlight=False)
        if not result.ok:
            failed.append(ident)
    verdict = tr(ja="すべて健全です", en="all sound") if not failed else tr(
        ja=f"問題のある課題: {', '.join(failed)}", en=f"unsound: {', '.join(failed)}")
    console.print(verdict)
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="full marks for the source, zero for the release")
    p.add_argument("assignment", nargs="?", help="assignment id, e.g. 13_n")
    p.add_argument("--all", action="store_true", help="validate every assignment")
    p.add_argument("--assignments", type=Path, default=None, help="assignments folder")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a grading parameter, e.g. DATASET=synthetic")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset cache (default $AUTOGRADER_DATA)")
    p.set_defaults(handler=_run)


register(add_parser)
