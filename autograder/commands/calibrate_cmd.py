"""``autograder calibrate ID [--runs N] [--write]``: the reference's spread, and thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from ..cli import register
from ..i18n import tr
from .grade_cmd import parse_params


def _run(args: argparse.Namespace) -> int:
    from ..calibrate import calibrate
    from ..console import console, err_console

    with console.status(tr(ja="解答例を実行中…", en="running the reference…")):
        result = calibrate(assignment_id=args.assignment, runs=args.runs, margin=args.margin,
                           write=args.write, params=parse_params(args.param),
                           assignments_root=args.assignments, data_dir=args.data)
    runs = Table(title=tr(ja="実行ごとの結果", en="runs"))
    for col in ("seed", tr(ja="状態", en="status"), tr(ja="得点", en="score"),
                tr(ja="実行時間 (秒)", en="run time (s)"), tr(ja="最大メモリ (MB)", en="peak MB")):
        runs.add_column(col)
    for seed, run in enumerate(result.runs):
        runs.add_row(str(seed), run.status.value, f"{run.score:g}/{run.max_score:g}",
                     f"{run.exec_seconds:.1f}", f"{run.peak_memory_mb:.0f}")
    console.print(runs)
    metrics = Table(title=tr(ja="測定値のばらつき", en="metric spread"))
    for col in (tr(ja="チェック", en="check"), "min", "mean", "max", "sd"):
        metrics.add_column(col)
    for name in result.metrics():
        lo, mean, hi, sd = result.spread(name)
        metrics.add_row(name, f"{lo:.4f}", f"{mean:.4f}", f"{hi:.4f}", f"{sd:.4f}")
    console.print(metrics)
    for key, value in result.suggestions().items():
        now = result.assignment.thresholds.get(key)
        console.print(tr(ja=f"推奨しきい値 {key} = {value:.2f} (現在 {now})",
                         en=f"suggested threshold {key} = {value:.2f} (now {now})"))
    if args.write:
        console.print(tr(ja="マニフェストを更新しました", en="manifest updated"))
    for run in result.failures:
        err_console.print(f"[red]✗[/] {run.participant}: {run.status.value} {run.reason}")
    return 1 if result.failures else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="run the reference N times, suggest thresholds")
    p.add_argument("assignment")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--margin", type=float, default=0.02,
                   help="threshold = worst run minus this margin")
    p.add_argument("--write", action="store_true", help="update the manifest's [thresholds]")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--assignments", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None, help="dataset cache")
    p.set_defaults(handler=_run)


register(add_parser)
