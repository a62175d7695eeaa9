"""``autograder calibrate ID [--runs N] [--write]``: the reference's spread, and thresholds."""

from __future__ import annotations

import argparse

from rich.table import Table
from rich.text import Text

from ...core.i18n import tr
from .common import add_assignments, add_data, add_params, command, parse_params
from .registry import register


def _runs_table(result: object) -> Table:
    from ...authoring.calibrate import Calibration
    from ...core.console import cell

    assert isinstance(result, Calibration)
    runs = Table(title=tr(ja="実行ごとの結果", en="runs"))
    for col in ("seed", tr(ja="状態", en="status"), tr(ja="得点", en="score"),
                tr(ja="実行時間 (秒)", en="run time (s)"), tr(ja="最大メモリ (MB)", en="peak MB")):
        runs.add_column(col)
    for seed, run in enumerate(result.runs):
        runs.add_row(str(seed), cell(run.status.value), f"{run.score:g}/{run.max_score:g}",
                     f"{run.exec_seconds:.1f}", f"{run.peak_memory_mb:.0f}")
    return runs


def _metrics_table(result: object) -> Table:
    from ...authoring.calibrate import Calibration
    from ...core.console import cell

    assert isinstance(result, Calibration)
    metrics = Table(title=tr(ja="測定値のばらつき", en="metric spread"))
    for col in (tr(ja="チェック", en="check"), "min", "mean", "max", "sd"):
        metrics.add_column(col)
    for name in result.metrics():
        lo, mean, hi, sd = result.spread(name)
        metrics.add_row(cell(name), f"{lo:.4f}", f"{mean:.4f}", f"{hi:.4f}", f"{sd:.4f}")
    return metrics


def _run(args: argparse.Namespace) -> int:
    from ...authoring.calibrate import calibrate
    from ...core.console import console, err_console, notice_line, plain

    with console.status(Text(tr(ja="解答例を実行中…", en="running the reference…"))):
        result = calibrate(assignment_id=args.assignment, runs=args.runs, margin=args.margin,
                           write=args.write, params=parse_params(args.param),
                           assignments_root=args.assignments, data_dir=args.data)
    console.print(_runs_table(result))
    console.print(_metrics_table(result))
    for key, value in result.suggestions().items():
        now = result.assignment.thresholds.get(key)
        plain(tr(ja=f"推奨しきい値 {key} = {value:.2f} (現在 {now})",
                 en=f"suggested threshold {key} = {value:.2f} (now {now})"))
    if args.write:
        plain(tr(ja="マニフェストを更新しました", en="manifest updated"))
    for run in result.failures:
        err_console.print(notice_line(f"{run.participant}: {run.status.value} {run.reason}",
                                      mark="✗", style="red"), highlight=False, soft_wrap=True)
    return 1 if result.failures else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "calibrate", ja="解答例を N 回実行し、しきい値を提案します",
                en="run the reference N times, suggest thresholds")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("--runs", type=int, default=3,
                   help=tr(ja="実行回数(種を変えて)", en="runs, each with its own seed"))
    p.add_argument("--margin", type=float, default=0.02,
                   help=tr(ja="しきい値 = 最悪の回 − この余裕",
                           en="threshold = worst run minus this margin"))
    p.add_argument("--write", action="store_true",
                   help=tr(ja="マニフェストの [thresholds] を書き換えます",
                           en="update the manifest's [thresholds]"))
    add_params(p)
    add_assignments(p)
    add_data(p)
    p.set_defaults(handler=_run)


register(add_parser)
