"""``autograder grade ASSIGNMENT SUBMISSION... --out DIR``: progress bar and summary."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..batch import TaskOutcome
from ..cli import register
from ..i18n import tr


def parse_params(pairs: list[str]) -> dict[str, bool | int | float | str]:
    """``KEY=VALUE`` pairs; values parsed as TOML scalars (``5``, ``0.1``, ``true``, ``"x"``)."""
    import tomllib

    from ..errors import ConfigError

    params: dict[str, bool | int | float | str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--param {pair!r} is not KEY=VALUE",
                              hint="e.g. --param EPOCHS=1 --param DATASET=synthetic")
        try:
            params[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            params[key] = raw  # a bare word is a string: DATASET=synthetic
    return params


def parse_gpus(text: str | None) -> list[int]:
    from ..errors import ConfigError

    if not text:
        return []
    try:
        return [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise ConfigError(f"--gpus {text!r} must be GPU indices like 0,1") from None


def _run(args: argparse.Namespace) -> int:
    from ..cluster import parse_target
    from ..console import console, notice_line
    from ..grade import grade

    counts: Counter[str] = Counter()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[counts]}"), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task(tr(ja="採点中", en="grading"), total=None, counts="")

        def on_start(n: int) -> None:
            progress.update(bar, total=n)

        def on_done(outcome: TaskOutcome) -> None:
            counts[outcome.status.value] += 1
            progress.update(bar, advance=1, counts=" ".join(f"{k}:{v}" for k, v in
                                                             sorted(counts.items())))

        summary = grade(assignment_id=args.assignment, submissions=args.submissions,
                        out=args.out, gradebook=args.gradebook, jobs=args.jobs,
                        gpus=parse_gpus(args.gpus), regrade=args.regrade,
                        params=parse_params(args.param), assignments_root=args.assignments,
                        data_dir=args.data, team_submission=args.team,
                        on_start=on_start, on_done=on_done,
                        cluster=parse_target(args.cluster, args.scheduler))
    from ..i18n import default_lang

    lang = default_lang()  # --lang is in the environment by now
    for message in summary.messages:  # they quote names from the zip: plain text only
        console.print(notice_line(message.text(lang)), highlight=False, soft_wrap=True)
    table = Table(title=tr(ja=f"{summary.assignment} の採点結果",
                           en=f"results of {summary.assignment}"))
    table.add_column(tr(ja="状態", en="status"))
    table.add_column(tr(ja="件数", en="count"), justify="right")
    for status, n in sorted(counts.items()):
        table.add_row(status, str(n))
    table.add_row(tr(ja="採点済みのため省略", en="already graded, skipped"), str(summary.skipped))
    console.print(table)
    console.print(Text(tr(ja=f"結果: {summary.results_csv}", en=f"results: {summary.results_csv}")))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade submissions (notebooks, folders, Moodle zip)")
    p.add_argument("assignment", help="assignment id, e.g. 14_n")
    p.add_argument("submissions", nargs="+", type=Path,
                   help="notebook files, folders of them, or Moodle's download zip")
    p.add_argument("--out", type=Path, default=Path("grading-out"), help="output folder")
    p.add_argument("--gradebook", type=Path, default=None,
                   help="SQLite gradebook (default $AUTOGRADER_GRADEBOOK or"
                        " ./.autograder/gradebook.sqlite)")
    p.add_argument("--jobs", type=int, default=1,
                   help="kernel slots (parallel kernels) of the local pool, or of each worker"
                        " of a --cluster this command starts")
    p.add_argument("--gpus", default=None, help="GPU indices for cuda assignments, e.g. 0,1")
    p.add_argument("--regrade", action="store_true", help="grade again what is already graded")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a grading parameter (after the manifest's [grading])")
    p.add_argument("--assignments", type=Path, default=None,
                   help="assignments folder (default ./assignments)")
    p.add_argument("--team", action="store_true", default=None,
                   help="the Moodle zip is a 4.1+ team-submission download (one folder"
                        " per group; detected by itself when a 'Default group' folder exists)")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset cache (default $AUTOGRADER_DATA); with a cluster, a path"
                        " every worker sees")
    # Dask (docs/scale.md); without these, the local process pool grades
    p.add_argument("--cluster", default=None, metavar="local[:N]|slurm[:N]",
                   help="grade on a Dask cluster started here: N local worker processes"
                        " (127.0.0.1 only), or N Slurm jobs from dask-jobqueue's config")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="grade on an existing Dask cluster (workers with --resources kernel=N)")
    p.set_defaults(handler=_run)


register(add_parser)
