"""``autograder grade ASSIGNMENT SUBMISSION... --out DIR``: progress and summary.

On a terminal, a progress bar; otherwise (output to a file or a pipe: a batch job's
log) one line per finished submission, flushed at once: ``[3/40] participant status
score/max seconds``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ...core.i18n import tr
from ...engine.tasks import TaskOutcome
from .common import (
    add_assignments,
    add_data,
    add_gradebook,
    add_params,
    command,
    parse_gpus,
    parse_params,
)
from .registry import register

OnDone = Callable[[TaskOutcome], None]
OnStart = Callable[[int], None]

if TYPE_CHECKING:
    from ...grading.summary import GradeSummary


def progress_line(outcome: TaskOutcome, done: int, total: int) -> str:
    """One finished submission, for a log: who, how it ended, the score, how long."""
    who = outcome.participant or f"#{outcome.submission_id}"
    score = f"{outcome.score:g}/{outcome.max_score:g}"
    return tr(ja=f"[{done}/{total}] {who} {outcome.status.value} {score} {outcome.seconds:.1f}秒",
              en=f"[{done}/{total}] {who} {outcome.status.value} {score} {outcome.seconds:.1f}s")


@contextmanager
def _progress(counts: Counter[str]) -> Iterator[tuple[OnStart, OnDone]]:
    from ...core.console import console, plain

    if not console.is_terminal:
        total = [0]

        def start_lines(n: int) -> None:
            total[0] = n

        def line(outcome: TaskOutcome) -> None:
            counts[outcome.status.value] += 1
            plain(progress_line(outcome, sum(counts.values()), total[0]))

        yield start_lines, line
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[counts]}"), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        bar = progress.add_task(tr(ja="採点中", en="grading"), total=None, counts="")

        def start_bar(n: int) -> None:
            progress.update(bar, total=n)

        def advance(outcome: TaskOutcome) -> None:
            counts[outcome.status.value] += 1
            progress.update(bar, advance=1, counts=" ".join(f"{k}:{v}" for k, v in
                                                             sorted(counts.items())))

        yield start_bar, advance


def _run(args: argparse.Namespace) -> int:
    from ...core.console import cell, console, notice_line, plain
    from ...core.i18n import default_lang

    counts: Counter[str] = Counter()
    with _progress(counts) as (on_start, on_done):
        if args.service is not None:
            summary = _on_service(args, on_start, on_done)
        else:
            from ...grading.batch import grade
            from ...grading.cluster.connect import parse_target

            summary = grade(assignment_id=args.assignment, submissions=args.submissions,
                            out=args.out, gradebook=args.gradebook, jobs=args.jobs,
                            gpus=parse_gpus(args.gpus), regrade=args.regrade,
                            keep_stale=args.keep_stale,
                            params=parse_params(args.param),
                            assignments_root=args.assignments,
                            data_dir=args.data, team_submission=args.team,
                            on_start=on_start, on_done=on_done,
                            fork=False if args.no_fork else None,
                            cluster=parse_target(args.cluster, args.scheduler))
    lang = default_lang()  # --lang is in the environment by now
    for message in summary.messages:  # they quote names from the zip: plain text only
        console.print(notice_line(message.text(lang)), highlight=False, soft_wrap=True)
    table = Table(title=cell(tr(ja=f"{summary.assignment} の採点結果",
                                en=f"results of {summary.assignment}")))
    table.add_column(tr(ja="状態", en="status"))
    table.add_column(tr(ja="件数", en="count"), justify="right")
    for status, n in sorted(counts.items()):
        table.add_row(cell(status), str(n))
    table.add_row(tr(ja="採点済みのため省略", en="already graded, skipped"), str(summary.skipped))
    _extra_rows(table, summary)
    console.print(table)
    plain(tr(ja=f"結果: {summary.results_csv}", en=f"results: {summary.results_csv}"))
    if summary.provisional:
        plain(tr(ja=f"手で採点する解答があります: autograder review {summary.assignment}",
                 en=f"some answers need a person: autograder review {summary.assignment}"))
    return 0


def _on_service(args: argparse.Namespace, on_start: OnStart, on_done: OnDone
                ) -> GradeSummary:
    """The batch graded by the running service (``autograder serve``); what this process
    would have passed to ``grade``, every path absolute and every default resolved
    here, where the command was typed."""
    from ...core.errors import ConfigError
    from ...core.i18n import default_lang
    from ...core.paths import assignments_dir, default_gradebook
    from ...service.client import grade_via_service
    from ...service.protocol import GradeRequest, absolute

    if args.cluster or args.scheduler:
        raise ConfigError(tr(ja="--service は --cluster / --scheduler と同時に使えません",
                             en="--service excludes --cluster and --scheduler"),
                          hint=tr(ja="サービスはそのマシンのワーカーで採点します",
                                  en="the service grades with its own machine's workers"))
    request = GradeRequest(
        assignment_id=args.assignment, submissions=absolute(args.submissions),
        out=str(args.out.absolute()),
        gradebook=str((args.gradebook or default_gradebook()).absolute()),
        assignments_root=str((args.assignments or assignments_dir()).absolute()),
        lang=default_lang(), jobs=args.jobs, gpus=tuple(parse_gpus(args.gpus)),
        regrade=args.regrade, keep_stale=args.keep_stale, params=parse_params(args.param),
        data_dir=str(args.data.absolute()) if args.data else None,
        team_submission=args.team, fork=False if args.no_fork else None)
    socket_path = Path(args.service) if args.service else None
    return grade_via_service(request=request, socket_path=socket_path,
                             on_start=on_start, on_done=on_done)


def _extra_rows(table: Table, summary: GradeSummary) -> None:
    """Stale results (regraded or kept) and submissions waiting for a person, if any."""
    if summary.stale:
        table.add_row(tr(ja="古い採点結果 (そのまま残した)", en="stale results kept")
                      if summary.stale_kept else
                      tr(ja="古い採点結果 (採点し直した)", en="stale results regraded"),
                      str(summary.stale))
    if summary.provisional:
        table.add_row(tr(ja="採点者の確認待ち (暫定点)", en="waiting for review (provisional)"),
                      str(summary.provisional))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "grade", ja="提出物を採点します(ノートブック・フォルダ・Moodle の zip)",
                en="grade submissions (notebooks, folders, Moodle zip)")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("submissions", nargs="+", type=Path,
                   help=tr(ja="ノートブック、そのフォルダ、または Moodle の一括ダウンロードの zip",
                           en="notebook files, folders of them, or Moodle's download zip"))
    p.add_argument("--out", type=Path, default=Path("grading-out"),
                   help=tr(ja="出力フォルダ", en="output folder"))
    p.add_argument("--jobs", type=int, default=1,
                   help=tr(ja="同時に動かすカーネルの数"
                              "(--cluster では、起動する各ワーカーのカーネル数)",
                           en="kernel slots (parallel kernels) of the local pool, or of each"
                              " worker of a --cluster this command starts"))
    p.add_argument("--gpus", default=None,
                   help=tr(ja="cuda の課題に使う GPU 番号(例: 0,1)",
                           en="GPU indices for cuda assignments, e.g. 0,1"))
    again = p.add_mutually_exclusive_group()
    again.add_argument("--regrade", action="store_true",
                       help=tr(ja="採点済みのものも採点し直します",
                               en="grade again what is already graded"))
    again.add_argument("--keep-stale", action="store_true",
                       help=tr(ja="ノートブック・チェック・マニフェスト・パラメータ・エンジンが"
                                  "変わる前の採点結果を採点し直しません(既定では採点し直します)",
                               en="do not regrade results graded before a change to the"
                                  " notebook, checks, manifest, parameters or engine"
                                  " (regraded by default)"))
    p.add_argument("--team", action="store_true", default=None,
                   help=tr(ja="Moodle 4.1 以降のグループ提出の zip(グループごとに 1 フォルダ。"
                              "'Default group' のフォルダがあれば自動で判断します)",
                           en="the Moodle zip is a 4.1+ team-submission download (one folder"
                              " per group; detected by itself when a 'Default group' folder"
                              " exists)"))
    add_params(p)
    add_assignments(p)
    add_gradebook(p)
    add_data(p)
    p.add_argument("--no-fork", action="store_true",
                   help=tr(ja="カーネルをワーカーごとのテンプレートから fork せず、"
                              "毎回新しく起動します(docs/security.md を参照)",
                           en="start every kernel afresh instead of forking it from a per-worker"
                              " kernel template (see docs/security.md)"))
    # Dask (docs/scale.md); without these, the local process pool grades
    p.add_argument("--cluster", default=None, metavar="local[:N]|slurm[:N]",
                   help=tr(ja="ここで起動する Dask クラスタで採点します: ローカルのワーカー"
                              "プロセス N 個(127.0.0.1 のみ)、または dask-jobqueue の設定"
                              "による Slurm ジョブ N 個",
                           en="grade on a Dask cluster started here: N local worker processes"
                              " (127.0.0.1 only), or N Slurm jobs from dask-jobqueue's config"))
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help=tr(ja="既存の Dask クラスタで採点します(ワーカーは"
                              " --resources kernel=N で起動)",
                           en="grade on an existing Dask cluster (workers with --resources"
                              " kernel=N)"))
    p.add_argument("--service", nargs="?", const="", default=None,
                   metavar="SOCKET",
                   help=tr(ja="起動中の採点サービス (autograder serve) に採点させます"
                              "(既定のソケット: $AUTOGRADER_SERVICE か"
                              " ~/.cache/autograder/service/grader.sock)",
                           en="let the running grading service (autograder serve) grade"
                              " (default socket: $AUTOGRADER_SERVICE or"
                              " ~/.cache/autograder/service/grader.sock)"))
    p.set_defaults(handler=_run)


register(add_parser)
