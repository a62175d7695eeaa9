"""``autograder validate ID | --all``: a readable table; non-zero exit when unsound."""

from __future__ import annotations

import argparse

from rich.table import Table
from rich.text import Text

from ...core.i18n import tr
from .common import add_assignments, add_data, add_params, command, parse_params
from .registry import register


def _table(result: object) -> Table:
    from ...authoring.validate import Validation
    from ...core.console import cell

    assert isinstance(result, Validation)
    name = result.assignment
    table = Table(title=cell(tr(ja=f"{name} の検証", en=f"validation of {name}")))
    for col in (tr(ja="項目", en="check"), tr(ja="配点", en="max"),
                tr(ja="解答例", en="source"), tr(ja="配布版", en="release"), ""):
        table.add_column(col)
    for row in result.rows:
        mark = Text("OK", "green") if row.ok else Text("NG", "red")
        if row.ok and row.release_points > 0:
            mark.append(tr(ja=" (配布版で得点: 許可済み)", en=" (scores on the release: allowed)"))
        table.add_row(cell(row.name), f"{row.max_points:g}", f"{row.source_points:g}",
                      f"{row.release_points:g}", mark)
    return table


def _run(args: argparse.Namespace) -> int:
    from ...authoring.validate import assignment_ids, validate
    from ...core.console import console, err_console, notice_line, plain
    from ...core.errors import ConfigError

    if args.all == bool(args.assignment):
        raise ConfigError(tr(ja="課題IDか --all のどちらか一方を指定してください",
                             en="give an assignment id or --all, not both"))
    ids = assignment_ids(args.assignments) if args.all else [args.assignment]
    failed = []
    for ident in ids:
        with console.status(Text(tr(ja=f"{ident} を検証中…", en=f"validating {ident}…"))):
            result = validate(assignment_id=ident, assignments_root=args.assignments,
                              params=parse_params(args.param), data_dir=args.data,
                              release_may_pass=args.release_may_pass,
                              release_rule=args.release_rule)
        console.print(_table(result))
        for problem in result.problems:
            err_console.print(notice_line(f"{ident}: {problem}", mark="✗", style="red"),
                              highlight=False, soft_wrap=True)
        if not result.ok:
            failed.append(ident)
    plain(tr(ja="すべて健全です", en="all sound") if not failed else tr(
        ja=f"問題のある課題: {', '.join(failed)}", en=f"unsound: {', '.join(failed)}"))
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "validate", ja="解答例が満点、そのままの配布版が 0 点になるかを確かめます",
                en="full marks for the source, zero for the release")
    p.add_argument("assignment", nargs="?",
                   help=tr(ja="課題 ID(例: 13_n)", en="assignment id, e.g. 13_n"))
    p.add_argument("--all", action="store_true",
                   help=tr(ja="すべての課題を検証します", en="validate every assignment"))
    p.add_argument("--release-may-pass", action="append", default=[], metavar="NAME",
                   help=tr(ja="配布版のままで点が入ってよい項目(チェック名か cell:<grade_id>)。"
                              "マニフェストの [validate] release_may_pass に加わります",
                           en="an item that may score on the blank release (a check name or"
                              " cell:<grade_id>); added to the manifest's [validate]"
                              " release_may_pass"))
    p.add_argument("--release-rule", choices=["zero", "not_full"], default=None,
                   help=tr(ja="配布版の条件: zero(全項目 0 点)か not_full(nbgrader の "
                              "validate --invert: 少なくとも 1 項目が落ちる)。"
                              "既定はマニフェストの [validate] release",
                           en="what the blank release must do: zero (every item 0) or"
                              " not_full (nbgrader's validate --invert: at least one item"
                              " fails); default: the manifest's [validate] release"))
    add_params(p)
    add_assignments(p)
    add_data(p)
    p.set_defaults(handler=_run)


register(add_parser)
