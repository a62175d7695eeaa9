"""``autograder grade``: a whole batch, resumable, recorded in the gradebook.

Intake → gradebook (content hash; already graded ones are skipped) → worker pool →
``results.csv`` / ``results.json`` in the output folder. Rows whose outcome intake
already decided get their zero results here (``decided``), never in the pool; a row whose
bytes cannot be stored is recorded as ``error`` and the batch goes on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.config import Assignment, Scalar, load_assignment
from ..core.errors import AutograderError
from ..core.i18n import Lang, default_lang, tr
from ..core.paths import assignments_dir, default_gradebook
from ..core.results import Notice, Status, SubmissionResult
from ..core.safetext import clean, visible
from ..engine.pool import PoolOptions, WarmPool, gpu_memory_mb, gpu_slots, run_pool
from ..engine.tasks import GradeTask, TaskOutcome
from ..intake.folders import intake_session
from ..intake.items import SubmissionItem
from ..store.fingerprint import Fingerprint, effective_params, fingerprint
from ..store.gradebook import Gradebook
from .decided import outdated, settle_decided, split_decided
from .staleness import Stale, find_stale, kept_notice, regrade_notice
from .summary import GradeSummary

if TYPE_CHECKING:
    from .cluster.connect import ClusterTarget
    from .cluster.run import ClusterPlan


def _store(gb: Gradebook, assignment: Assignment, items: Sequence[SubmissionItem],
           lang: Lang) -> list[int]:
    return [_store_one(gb, assignment, item, lang) for item in items]


def _store_one(gb: Gradebook, assignment: Assignment, item: SubmissionItem, lang: Lang) -> int:
    """Record ``item``; when its bytes cannot be kept, record it as ``error`` without them
    (if even that fails, the gradebook itself is unusable and that error goes up)."""
    try:
        return _add(gb, assignment, item)
    except Exception as exc:  # this one participant: say why, and go on with the rest
        why = visible(f"{type(exc).__name__}: {exc}")
        return _add(gb, assignment, replace(item, content=b"", source=None, intake=replace(
            item.intake, status=Status.ERROR,
            reason=tr(lang, ja=f"提出ファイルを記録できませんでした ({why})",
                      en=f"the submission could not be stored ({why})"))))


def _add(gb: Gradebook, assignment: Assignment, item: SubmissionItem) -> int:
    return gb.add_submission(
        assignment=assignment.id, participant=item.participant, file=item.file,
        sha256=item.sha256, content=item.content, source=item.source,
        participant_name=item.participant_name, is_group=item.is_group, intake=item.intake)


def _pool_options(assignment: Assignment, jobs: int, gpus: Sequence[int],
                  template: object = None) -> PoolOptions:
    if assignment.device != "cuda" or not gpus:
        return PoolOptions(jobs=jobs, template=template)  # type: ignore[arg-type]
    tokens = gpu_slots(gpus, budget_mb=assignment.limits.gpu_memory_mb, memory_of=gpu_memory_mb())
    return PoolOptions(jobs=max(1, min(jobs, len(tokens))), gpu_slots=tokens, warm_kernels=False)


def grade(*, assignment_id: str, submissions: Sequence[Path], out: Path,
          gradebook: Path | None = None, jobs: int = 1, gpus: Sequence[int] = (),
          regrade: bool = False, keep_stale: bool = False,
          params: Mapping[str, Scalar] | None = None,
          lang: Lang | None = None, assignments_root: Path | None = None,
          data_dir: Path | None = None, team_submission: bool | None = None,
          kernel_factory: str = "autograder.engine.kernel.sandboxed:SandboxedKernel",
          on_start: Callable[[int], None] | None = None,
          on_done: Callable[[TaskOutcome], None] | None = None,
          fork: bool | None = None,
          cluster: ClusterTarget | None = None,
          warm: WarmPool | None = None) -> GradeSummary:
    """Grade every submission under ``submissions``; return what was graded now.

    Already graded submissions are skipped unless ``regrade``, or unless their result is
    stale (graded under another fingerprint: ``fingerprint.py``) and not ``keep_stale``.
    ``fork``: kernels forked from a template per worker (None: wherever possible; see
    ``zygote.py``), or False: every kernel spawned. ``cluster``: grade on a Dask cluster
    (``cluster/``) instead of the local pool. ``warm``: the local pool's workers come
    from it and stay running after the batch (the grading service, ``service/``).
    """
    root = assignments_root or assignments_dir()
    assignment = load_assignment(assignment_id, root)
    lang = lang or default_lang()
    local = _LocalPool(assignment, jobs, tuple(gpus), data_dir,
                       fork if kernel_factory == _FACTORY else False, warm)
    with _started_early(local, cluster) as local:  # first: the rest runs beside their start
        check_completion_ids(assignment)
        current = fingerprint(assignment, effective_params(assignment, params))
        out.mkdir(parents=True, exist_ok=True)
        gb_path = gradebook or default_gradebook()
        with intake_session(submissions, assignment_id=assignment.id,
                            workdir=out / ".intake", team_submission=team_submission,
                            lang=lang, file_name=assignment.submission_file
                            ) as (items, messages), Gradebook(gb_path) as gb:
            ids = _store(gb, assignment, items, lang)
            todo, stale = (ids, Stale()) if regrade else _todo(gb, ids, current, keep_stale)
            decided, to_grade = split_decided(gb, todo)
            run_id = gb.start_run(assignment=assignment.id, command="grade")
        summary = _summary(assignment.id, ids, todo, stale, keep_stale, messages)
        tasks = [GradeTask(submission_id=i, gradebook=str(gb_path),
                           assignment_id=assignment.id, assignments_root=str(root),
                           run_id=run_id, lang=lang,
                           overrides=tuple(sorted((params or {}).items())),
                           kernel_factory=kernel_factory,
                           fork=fork is not False and kernel_factory == _FACTORY,
                           data_dir=str(data_dir) if data_dir else None,
                           use_gpu=assignment.device == "cuda" and bool(gpus),
                           cpu_threads=_threads(jobs), fingerprint=current.to_json())
                 for i in to_grade]
        summary.messages += _sweep_notices()
        if on_start:
            on_start(len(todo))

        def done(outcome: TaskOutcome) -> None:
            summary.graded_now.append(outcome)
            if on_done:
                on_done(outcome)

        plan = _cluster_plan(cluster, jobs, gpus, data_dir) if tasks else None
        with _batch_runner(plan, local, assignment, gb_path, lang) as run_tasks:
            with Gradebook(gb_path) as gb:
                settle_decided(gb, decided, assignment=assignment, assignments_root=root,
                               lang=lang, run_id=run_id, on_done=done, fingerprint=current)
            if tasks:
                summary.messages += run_tasks(tasks, done)
    _finish(gb_path, run_id, out, summary)
    return summary


def _summary(assignment_id: str, ids: list[int], todo: list[int], stale: Stale,
             keep_stale: bool, messages: list[Notice]) -> GradeSummary:
    summary = GradeSummary(assignment_id, ids, skipped=len(ids) - len(todo), messages=messages,
                           stale=len(stale.ids), stale_kept=keep_stale)
    if stale.ids:
        summary.messages.append(kept_notice(stale) if keep_stale else regrade_notice(stale))
    return summary


def _finish(gb_path: Path, run_id: int, out: Path, summary: GradeSummary) -> None:
    """The run's end in the gradebook, the results files, what waits for a person."""
    with Gradebook(gb_path) as gb:
        gb.finish_run(run_id, graded=len(summary.graded_now))
        summary.results_csv, summary.results_json = write_results(gb, summary.submission_ids,
                                                                  out)
        summary.provisional = len(gb.awaiting_review(summary.submission_ids))


def _todo(gb: Gradebook, ids: list[int], current: Fingerprint, keep_stale: bool
          ) -> tuple[list[int], Stale]:
    """What has no result yet or only the grader's ``error`` (no grade: its sandbox or
    kernel failed), decided rows whose verdict changed since (cheap), and results graded
    under another fingerprint (unless ``keep_stale``); and those."""
    pending = set(gb.ungraded(ids)) | set(gb.failed(ids))
    graded = [i for i in ids if i not in pending]
    stale = find_stale(gb, graded, current)
    redo = pending | set(outdated(gb, graded)) | (set() if keep_stale else set(stale.ids))
    return [i for i in ids if i in redo], stale


_FACTORY = "autograder.engine.kernel.sandboxed:SandboxedKernel"


def _template(assignment: Assignment, data_dir: Path | None, fork: bool | None,
              gpus: Sequence[int]) -> object:
    """The kernel template the workers fork from (``zygote``); None: spawn kernels."""
    from ..engine.grade_one import template_spec
    from ..engine.kernel.zygote import available

    if fork is False or (assignment.device == "cuda" and gpus) or not available():
        return None
    return template_spec(assignment, data_dir)


# --- where the tasks run: the local pool, or a Dask cluster (cluster/run.py) -----------

TaskRunner = Callable[[list[GradeTask], Callable[[TaskOutcome], None]], list[Notice]]


@dataclass(frozen=True)
class _LocalPool:
    """The local process pool's settings (forking decided when it starts)."""

    assignment: Assignment
    jobs: int
    gpus: tuple[int, ...]
    data_dir: Path | None
    fork: bool | None
    warm: WarmPool | None = None
    options: PoolOptions | None = None  # worked out once, where the workers start early

    def pool_options(self) -> PoolOptions:
        if self.options is not None:
            return self.options
        template = _template(self.assignment, self.data_dir, self.fork, self.gpus)
        return _pool_options(self.assignment, self.jobs, self.gpus, template)

    def run(self, tasks: list[GradeTask], done: Callable[[TaskOutcome], None]) -> list[Notice]:
        options = self.pool_options()
        notices = [] if options.template is not None or self.fork is False \
            else self._spawned()
        outcomes = run_pool(tasks, on_done=done, warm=self.warm, options=options)
        crashed = sum(1 for o in outcomes if o.status is Status.CRASHED)
        if not crashed:
            return notices
        return [*notices, Notice("pool_crashed",
                       f"採点プロセスが単独でも 2 回停止した {crashed} 件を crashed として"
                       "記録しました (内容を確認してください)",
                       f"{crashed} submission(s) whose grading process died twice, the "
                       "second time alone, recorded as crashed (look at them)")]


    def _spawned(self) -> list[Notice]:
        """Why kernels were spawned where forking was wanted, when this machine is the
        cause (slower: each kernel imports torch anew); not for GPU batches (by design)
        nor where a person switched it off."""
        from ..engine.kernel.zygote import switched_off, unavailable_reason

        if (self.assignment.device == "cuda" and self.gpus) or switched_off():
            return []
        ja, en = unavailable_reason("ja"), unavailable_reason("en")
        if not en:
            return []
        return [Notice("kernels_spawned",
                       f"カーネルを fork できないため 1 件ごとに起動しました（遅くなります）: {ja}",
                       f"kernels were started afresh for each submission, not forked"
                       f" (slower): {en}")]


# Workers a local batch starts before its intake: a class on a 2-core machine uses both;
# a rerun for one late submission starts one worker more than it needs (a few CPU-seconds
# on a core that would idle) rather than leave the second core idle for every class.
# The pool starts the rest as the tasks come, up to ``jobs``.
EARLY_WORKERS = 2


@contextmanager
def _started_early(local: _LocalPool, cluster: ClusterTarget | None) -> Iterator[_LocalPool]:
    """The local pool with its first workers (``EARLY_WORKERS``) started now, before the
    intake: their imports and kernel templates (seconds of CPU) run on the cores this
    process leaves idle while it reads the submissions. They end with the batch; a batch
    that had nothing for them stops them where they are. Not for a cluster, nor where a
    grading service lends its kept workers."""
    if cluster is not None or local.warm is not None:
        yield local
        return
    try:
        options = local.pool_options()
    except AutograderError:  # said where it always was: when there are tasks to run
        yield local
        return
    early = WarmPool()
    early.start(options, workers=EARLY_WORKERS)
    try:
        yield replace(local, warm=early, options=options)
    finally:
        early.close(now=early.batches == 0)


def _cluster_plan(target: ClusterTarget | None, jobs: int, gpus: Sequence[int],
                  data_dir: Path | None) -> ClusterPlan | None:
    from .cluster.run import ClusterPlan

    return None if target is None else ClusterPlan(target, jobs, tuple(gpus), data_dir)


@contextmanager
def _batch_runner(plan: ClusterPlan | None, local: _LocalPool, assignment: Assignment,
                  gb_path: Path, lang: Lang) -> Iterator[TaskRunner]:
    """How the batch's tasks run; a cluster is started and its workers checked first,
    before any result is written."""
    if plan is None:
        yield local.run
        return
    from .cluster.run import cluster_batch

    with cluster_batch(plan, assignment=assignment, gradebook=gb_path, lang=lang) as batch:
        yield batch.run


def check_completion_ids(assignment: Assignment) -> None:
    """Every ``[hand_grading] completion`` id names a manually graded cell of the source
    (a typo would silently turn the 質問・感想 cell into one that waits for review)."""
    if not assignment.completion_cells:
        return
    from ..core.errors import ConfigError
    from ..core.notebooks import read_notebook
    from ..engine.cells.scores import manual_grade_ids

    known = manual_grade_ids(read_notebook(assignment.source_notebook).nb)
    for gid in assignment.completion_cells:
        if gid not in known:
            raise ConfigError(
                f"{gid!r} is not a manually graded cell of the source notebook",
                where=f"{assignment.manifest_path}: [hand_grading] completion",
                hint=f"manually graded cells: {', '.join(known) or 'none'}")


def _sweep_notices() -> list[Notice]:
    """Private folders left by kernels of a grader that was killed: removed, and said."""
    from ..engine.kernel.private_dirs import sweep_stale

    swept = sweep_stale()
    if not swept:
        return []
    return [Notice("swept_private_dirs",
                   f"中断された採点のカーネル作業フォルダ {swept} 件を"
                   "一時ディレクトリから削除しました",
                   f"removed {swept} kernel work folder(s) left in the temp dir by an "
                   "interrupted grading run")]


def _threads(jobs: int) -> int:
    import os

    return max(1, (os.cpu_count() or 1) // max(1, jobs))


RESULT_COLUMNS = ["participant", "file", "status", "score", "max_score", "reason"]


def write_results(gb: Gradebook, ids: Sequence[int], out: Path) -> tuple[Path, Path]:
    """``results.csv`` (one row per submission) and ``results.json`` (per check), written
    row by row: a batch of 20,000 rows never sits in memory twice."""
    csv_path, json_path = out / "results.csv", out / "results.json"
    with csv_path.open("w", newline="", encoding="utf-8") as fh, \
            json_path.open("w", encoding="utf-8") as js:
        writer = csv.writer(fh)
        writer.writerow(RESULT_COLUMNS)
        js.write("[")
        written = 0
        for sid in ids:
            res = gb.result(sid)
            if res is None:
                continue
            # cleaned here too: a reason may quote what a kernel printed
            writer.writerow([clean(res.participant), clean(res.file), res.status.value,
                             f"{res.score:g}", f"{res.max_score:g}", clean(res.reason)])
            record = json.dumps(_record(res), ensure_ascii=False, indent=1)
            js.write(("," if written else "") + "\n " + record.replace("\n", "\n "))
            written += 1
        js.write("\n]" if written else "]")  # what json.dumps(all records, indent=1) gives
    return csv_path, json_path


def _record(res: SubmissionResult) -> dict[str, object]:
    return {"participant": res.participant, "file": res.file, "status": res.status.value,
            "score": res.score, "max_score": res.max_score, "reason": res.reason,
            "provisional": res.provisional, "notices": [n.__dict__ for n in res.notices],
            "checks": [c.to_dict() for c in res.checks]}
