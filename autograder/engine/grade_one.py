"""One submission end to end: read → restore → inject parameters → execute → check.

``grade_submission`` is pure with respect to storage (it returns a ``SubmissionResult``);
``grade_input`` grades one task from plain data (``SubmissionInput``: the stored row and
its bytes) without touching the gradebook, as a Dask worker does (``cluster_worker``);
``grade_task`` is the local pool's entry point: it reads the submission from the
gradebook, grades it with ``grade_input`` and writes the result back in one transaction.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..core.config import Assignment, Scalar, load_assignment
from ..core.errors import AutograderError, InvalidNotebook
from ..core.i18n import Lang, tr
from ..core.intake_record import IntakeRecord
from ..core.results import CheckResult, Notice, Status, SubmissionResult
from ..store.fingerprint import Fingerprint
from ..store.gradebook import Gradebook
from .kernel.api import GradingKernel
from .tasks import GradeTask
from .zero_catalog import collect_catalog

_T = TypeVar("_T")

DEFAULT_FACTORY = "autograder.engine.kernel.sandboxed:SandboxedKernel"


@dataclass(frozen=True)
class GradeContext:
    """Where and how one submission is graded (all grader-side, trusted)."""

    assignment: Assignment
    params: Mapping[str, Scalar]
    lang: Lang = "ja"
    slot: int = 0
    gpu: int | None = None
    data_dir: Path | None = None
    kernel_factory: str = DEFAULT_FACTORY
    cpu_threads: int = 1
    extra_notices: tuple[Notice, ...] = field(default=())


def load_factory(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class SubmissionInput:
    """One stored submission as plain data: what grading needs beside its ``GradeTask``."""

    participant: str
    file: str
    sha256: str
    intake: IntakeRecord
    content: bytes


def read_input(gradebook: Gradebook, submission_id: int) -> SubmissionInput:
    """The stored row and bytes of one submission (the gradebook's reader side)."""
    stored = gradebook.submission(submission_id)
    return SubmissionInput(participant=stored.participant, file=stored.file,
                           sha256=stored.sha256, intake=stored.intake,
                           content=gradebook.content(submission_id))


def grade_task(task: GradeTask, *, slot: int = 0, gpu: int | None = None) -> SubmissionResult:
    """Local pool entry point: grade one stored submission and record the result. One
    connection reads and writes (opening one costs ~5 ms; it holds no lock meanwhile)."""
    with Gradebook(Path(task.gradebook)) as gb:
        result = grade_input(task, read_input(gb, task.submission_id), slot=slot, gpu=gpu)
        gb.save_result(task.submission_id, result, run_id=task.run_id,
                       fingerprint=Fingerprint.from_json(task.fingerprint))
    return result


def grade_input(task: GradeTask, sub: SubmissionInput, *, slot: int = 0,
                gpu: int | None = None) -> SubmissionResult:
    """Grade one submission given as plain data; never opens the gradebook (a cluster
    worker's client is the gradebook's one writer)."""
    assignment = _assignment(task)
    params = {**assignment.grading, **dict(task.overrides)}
    ctx = GradeContext(assignment=assignment, params=params, lang=_lang(task.lang), slot=slot,
                       gpu=gpu, data_dir=Path(task.data_dir) if task.data_dir else None,
                       kernel_factory=task.kernel_factory, cpu_threads=task.cpu_threads,
                       extra_notices=sub.intake.notices)
    if sub.intake.status is not None:
        return zero_result(ctx, participant=sub.participant, file=sub.file,
                           sha256=sub.sha256, status=sub.intake.status,
                           reason=sub.intake.reason)
    return grade_submission(ctx, participant=sub.participant, file=sub.file,
                            content=sub.content, sha256=sub.sha256)


_ASSIGNMENTS: dict[Path, tuple[tuple[int, int], Assignment]] = {}


def _assignment(task: GradeTask) -> Assignment:
    """The task's assignment, read once per worker while its manifest is unchanged (a
    worker grades many submissions of one assignment: 4 ms each to read it again)."""
    root = Path(task.assignments_root)
    try:
        return _kept(_ASSIGNMENTS, root / task.assignment_id / "assignment.toml",
                     lambda: load_assignment(task.assignment_id, root))
    except (OSError, ValueError):
        return load_assignment(task.assignment_id, root)  # no manifest: its error says why


def _kept(store: dict[Path, tuple[tuple[int, int], _T]], path: Path,
          load: Callable[[], _T]) -> _T:
    """``load()``'s result, kept in ``store`` while the file at ``path`` is unchanged (its
    modification time and size); one entry: a worker grades one assignment at a time."""
    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size)
    known = store.get(path)
    if known is None or known[0] != stamp:
        store.clear()
        known = store[path] = (stamp, load())
    return known[1]


def _lang(text: str) -> Lang:
    return "en" if text == "en" else "ja"


def grade_submission(ctx: GradeContext, *, participant: str, file: str, content: bytes,
                     sha256: str) -> SubmissionResult:
    """Grade notebook bytes under ``ctx``; never raises for anything the student did."""
    from ..core.notebooks import read_notebook_bytes

    base = {"participant": participant, "file": file, "sha256": sha256}
    try:
        read = read_notebook_bytes(content, name=file)
    except InvalidNotebook as exc:
        return zero_result(ctx, status=Status.INVALID, reason=exc.message, **base)
    try:
        return _execute_and_check(ctx, read.nb, list(read.notices), base)
    except AutograderError as exc:
        return zero_result(ctx, status=Status.ERROR, reason=exc.render(), **base)


def _prepare(ctx: GradeContext, nb: Any, notices: list[Notice]) -> tuple[Any, Any]:
    from .parameters import inject_parameters
    from .restore import restore_locked_cells

    source = source_notebook(ctx.assignment.source_notebook)
    report = restore_locked_cells(nb, source)
    notices.extend(report.notices(ctx.lang))
    nb = report.notebook
    return inject_parameters(nb, ctx.params), source


_SOURCES: dict[Path, tuple[tuple[int, int], Any]] = {}


def source_notebook(path: Path) -> Any:
    """The assignment's source notebook, read once per worker while the file is unchanged
    (every submission needs it; its users only read it)."""
    from ..core.notebooks import read_notebook

    return _kept(_SOURCES, path, lambda: read_notebook(path).nb)


def _execute_and_check(ctx: GradeContext, nb: Any, notices: list[Notice],
                       base: dict[str, str]) -> SubmissionResult:
    from .cells.scores import score_manual_cells, tampering_notices
    from .explain import missing_name_notices
    from .kernel.prestarted import kernel_for

    nb, source = _prepare(ctx, nb, notices)
    notices.extend(tampering_notices(nb, source, lang=ctx.lang))
    kernel_cls = load_factory(ctx.kernel_factory)
    t0 = time.monotonic()
    with kernel_for(kernel_cls, _kernel_kwargs(ctx)) as made:
        kernel: GradingKernel = made  # the factory is named in the task: this is its contract
        report = kernel.execute_notebook(nb)
        exec_seconds = time.monotonic() - t0
        status = _status_of(report.status)
        checks, check_seconds, out_of_time, missing = _run_checks(ctx, kernel, status, nb,
                                                                   source)
        # the checks' own notice says it all when their budget is what timed out
        said = out_of_time and status is Status.GRADED
        status, reason = _after_checks(ctx, kernel, status, report.reason, out_of_time)
        peak_mb = float(getattr(kernel, "peak_memory_mb", 0.0))
    checks += score_manual_cells(nb, source, completion=ctx.assignment.completion_cells,
                                 lang=ctx.lang)
    notices.extend(missing_name_notices(nb, source, missing, checks))
    if getattr(report, "disk_full", False):
        notices.append(_disk_notice(ctx))
    if out_of_time:
        notices.append(_checks_timeout_notice(ctx))
    if status is not Status.GRADED and not said:
        notices.append(_status_notice(status, reason))
    from ..core import nbapi

    return SubmissionResult(
        status=status, checks=checks, notices=[*ctx.extra_notices, *notices],
        reason=reason if status is not Status.GRADED else "",
        penalty=_penalty(ctx), exec_seconds=exec_seconds, check_seconds=check_seconds,
        peak_memory_mb=peak_mb,
        executed_notebook=nbapi.writes(nb), participant=base["participant"],
        file=base["file"], sha256=base["sha256"])


def _kernel_kwargs(ctx: GradeContext) -> dict[str, Any]:
    return {"limits": ctx.assignment.limits, "slot": ctx.slot, "gpu": ctx.gpu,
            "lang": ctx.lang, "cpu_threads": ctx.cpu_threads,
            "datasets": _datasets(ctx.assignment, ctx.data_dir)}


def _datasets(assignment: Assignment, data_dir: Path | None) -> list[tuple[str, Path]]:
    from ..datasets import seed_entries

    names = list(assignment.datasets) or None
    return [(str(n), Path(p)) for n, p in seed_entries(cache=data_dir, names=names)]


def template_spec(assignment: Assignment, data_dir: Path | None) -> Any:
    """The kernel template a worker forks this assignment's kernels from (``zygote``):
    the modules its source notebook imports, the datasets its kernels see."""
    from ..core.notebooks import read_notebook
    from .kernel.zygote import TemplateSpec, preload_for

    source = read_notebook(assignment.source_notebook).nb
    datasets = tuple((name, path.resolve()) for name, path in _datasets(assignment, data_dir))
    return TemplateSpec(preload=preload_for(source), datasets=datasets)


@contextmanager
def forked_kernels(assignment: Assignment, data_dir: Path | None,
                   kernel_factory: str = DEFAULT_FACTORY) -> Iterator[None]:
    """The kernels ``grade_submission`` starts in this block are forked from a template
    made for ``assignment``, as a grading worker's are (spawned where this machine cannot
    fork, or the factory cannot be forked). A template already running for the same
    assignment is used and left running; one started here is closed at the end."""
    from .kernel import template

    if not getattr(load_factory(kernel_factory), "forkable", False):
        yield
        return
    spec = template_spec(assignment, data_dir)
    running = template.current()
    ours = running is None or running.spec != spec or not running.alive
    template.start(spec)
    try:
        yield
    finally:
        if ours:
            template.stop()


def _run_checks(ctx: GradeContext, kernel: GradingKernel, status: Status, nb: Any, source: Any
                ) -> tuple[list[CheckResult], float, bool, tuple[str, ...]]:
    """The pytest checks, then the in-notebook test cells, both decided in the grader
    under one time budget: their results, their time, whether the budget ran out, and
    the names they found undefined (for the feedback's explanation)."""
    from ..checks import ChecksBudget, collect_checks, run_checks
    from .bridge.notebook_source import NotebookSource
    from .bridge.submission import Submission
    from .cells.cell_tests import run_test_cells
    from .cells.requires import apply_cell_requires
    from .cells.scores import zero_cells

    collect_checks(assignment=ctx.assignment)  # once per worker: not this student's time
    t0 = time.monotonic()
    if status is Status.KILLED:
        reason = _dead_message(ctx.lang)
        cells = [c for c in zero_cells(source, reason=reason) if c.kind == "cell"]
        return catalog_zero(ctx, reason=reason) + cells, 0.0, False, ()
    submission = Submission(kernel=kernel, assignment=ctx.assignment, params=ctx.params,
                            data_dir=ctx.data_dir, lang=ctx.lang,
                            notebook=NotebookSource.from_notebook(nb))
    budget = ChecksBudget(ctx.assignment.limits.checks_timeout_s)
    checks = run_checks(assignment=ctx.assignment, submission=submission, lang=ctx.lang,
                        budget=budget)
    checks += run_test_cells(source, submission, lang=ctx.lang, budget=budget)
    checks = apply_cell_requires(checks, ctx.assignment, lang=ctx.lang)
    return checks, time.monotonic() - t0, budget.exhausted, submission.missing_names


def _after_checks(ctx: GradeContext, kernel: GradingKernel, status: Status, reason: str,
                  out_of_time: bool) -> tuple[Status, str]:
    """The status once the checks ran: the checks' time budget ran out, or the kernel
    was stopped while they ran (a limit, or an interrupt it ignored)."""
    if status is not Status.GRADED:
        return status, reason
    if out_of_time:
        return Status.TIMEOUT, _checks_timeout_reason(ctx, ctx.lang)
    if getattr(kernel, "alive", True) or not hasattr(kernel, "death_reason"):
        return status, reason
    stop = getattr(kernel, "stopped_by", None)
    timed_out = stop is not None and stop.kind == "interrupt"
    return (Status.TIMEOUT if timed_out else Status.KILLED), str(kernel.death_reason())


def _status_of(execution_status: str) -> Status:
    return {"timeout": Status.TIMEOUT, "killed": Status.KILLED}.get(execution_status,
                                                                       Status.GRADED)


def _dead_message(lang: Lang) -> str:
    return tr(lang, ja="カーネルが停止したため、このチェックは実行できませんでした",
              en="the kernel died, so this check could not run")


def _status_notice(status: Status, reason: str) -> Notice:
    texts = {
        Status.TIMEOUT: ("制限時間を超えたため、途中で実行を打ち切りました",
                         "execution was stopped at the time limit"),
        Status.KILLED: ("カーネルが強制終了しました (メモリ超過・クラッシュ・終了命令など)",
                        "the kernel was killed (memory limit, crash or exit)"),
    }
    ja, en = texts.get(status, ("採点中に問題が発生しました", "grading ran into a problem"))
    return Notice(status.value, f"{ja}: {reason}" if reason else ja,
                  f"{en}: {reason}" if reason else en)


def _checks_timeout_reason(ctx: GradeContext, lang: Lang) -> str:
    seconds = ctx.assignment.limits.checks_timeout_s
    return tr(lang, ja=f"採点チェック全体の制限時間 ({seconds:g} 秒) に達しました",
              en=f"the checks' total time limit ({seconds:g} s) was reached")


def _checks_timeout_notice(ctx: GradeContext) -> Notice:
    return Notice("checks_timeout",
                  _checks_timeout_reason(ctx, "ja") + "。残りのチェックは実行されませんでした",
                  _checks_timeout_reason(ctx, "en") + "; the remaining checks did not run")


def _disk_notice(ctx: GradeContext) -> Notice:
    limits = ctx.assignment.limits
    return Notice(
        "disk_quota",
        f"書き込める容量の上限 ({limits.disk_mb} MB・ファイル {limits.inodes} 個) に達した"
        "ため、それを超える書き込みは失敗しました (No space left on device)",
        f"the notebook reached its disk quota ({limits.disk_mb} MB, {limits.inodes} files); "
        "writes beyond it failed (No space left on device)")


def _penalty(ctx: GradeContext) -> float:
    misnamed = any(n.code == "misnamed" for n in ctx.extra_notices)
    return ctx.assignment.misnamed_penalty if misnamed else 0.0


def catalog_zero(ctx: GradeContext, *, reason: str) -> list[CheckResult]:
    """Every pytest check of the assignment at zero points (nothing could run)."""
    from ..checks import collect_checks

    return [CheckResult(name=name, points=0.0, max_points=pts, passed=False, message=reason)
            for name, pts in collect_checks(assignment=ctx.assignment)]


def zero_result(ctx: GradeContext, *, participant: str, file: str, sha256: str,
                status: Status, reason: str) -> SubmissionResult:
    """A result with every graded item at zero (invalid, missing, wrong file...).

    Collects the catalogue (a whole pytest collection): a batch's rows that intake
    already decided use the batch's one catalogue instead (``decided``).
    """
    return collect_catalog(ctx.assignment).result(
        participant=participant, file=file, sha256=sha256, status=status, reason=reason,
        notices=ctx.extra_notices)
