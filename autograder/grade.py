"""``autograder grade``: a whole batch, resumable, recorded in the gradebook.

Intake → gradebook (content hash; already graded ones are skipped) → worker pool →
``results.csv`` / ``results.json`` in the output folder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .batch import GradeTask, PoolOptions, TaskOutcome, gpu_memory_mb, gpu_slots, run_pool
from .config import Assignment, Scalar, load_assignment
from .gradebook import Gradebook
from .i18n import Lang, default_lang
from .intake import SubmissionItem, collect
from .paths import assignments_dir, default_gradebook
from .results import Notice


@dataclass
class GradeSummary:
    assignment: str
    submission_ids: list[int]
    graded_now: list[TaskOutcome] = field(default_factory=list)
    skipped: int = 0
    results_csv: Path | None = None
    results_json: Path | None = None
    messages: list[Notice] = field(default_factory=list)  # about the archives, not a student


def _store(gb: Gradebook, assignment: Assignment, items: Sequence[SubmissionItem]) -> list[int]:
    ids = []
    for item in items:
        intake = {"notices": [n.__dict__ for n in item.notices], "reason": item.reason,
                  "status": item.status.value if item.status else None, **item.extra}
        ids.append(gb.add_submission(
            assignment=assignment.id, participant=item.participant, file=item.file,
            sha256=item.sha256, content=item.content, participant_name=item.participant_name,
            is_group=item.is_group, intake=intake))
    return ids


def _pool_options(assignment: Assignment, jobs: int, gpus: Sequence[int]) -> PoolOptions:
    if assignment.device != "cuda" or not gpus:
        return PoolOptions(jobs=jobs)
    tokens = gpu_slots(gpus, budget_mb=assignment.limits.gpu_memory_mb, memory_of=gpu_memory_mb())
    return PoolOptions(jobs=max(1, min(jobs, len(tokens))), gpu_slots=tokens, warm_kernels=False)


def grade(*, assignment_id: str, submissions: Sequence[Path], out: Path,
          gradebook: Path | None = None, jobs: int = 1, gpus: Sequence[int] = (),
          regrade: bool = False, params: Mapping[str, Scalar] | None = None,
          lang: Lang | None = None, assignments_root: Path | None = None,
          data_dir: Path | None = None, team_submission: bool | None = None,
          kernel_factory: str = "autograder.kernel:SandboxedKernel",
          on_start: Callable[[int], None] | None = None,
          on_done: Callable[[TaskOutcome], None] | None = None) -> GradeSummary:
    """Grade every submission under ``submissions``; return what was graded now."""
    root = assignments_root or assignments_dir()
    assignment = load_assignment(assignment_id, root)
    out.mkdir(parents=True, exist_ok=True)
    items, messages = collect(submissions, assignment_id=assignment.id,
                              workdir=out / ".intake", team_submission=team_submission)
    gb_path = gradebook or default_gradebook()
    with Gradebook(gb_path) as gb:
        ids = _store(gb, assignment, items)
        todo = ids if regrade else gb.ungraded(ids)
        run_id = gb.start_run(assignment=assignment.id, command="grade")
    summary = GradeSummary(assignment.id, ids, skipped=len(ids) - len(todo), messages=messages)
    tasks = [GradeTask(submission_id=i, gradebook=str(gb_path), assignment_id=assignment.id,
                       assignments_root=str(root), run_id=run_id, lang=lang or default_lang(),
                       overrides=tuple(sorted((params or {}).items())),
                       kernel_factory=kernel_factory,
                       data_dir=str(data_dir) if data_dir else None,
                       use_gpu=assignment.device == "cuda" and bool(gpus),
                       cpu_threads=_threads(jobs)) for i in todo]
    summary.messages += _sweep_notices()
    if on_start:
        on_start(len(tasks))
    if tasks:
        def done(outcome: TaskOutcome) -> None:
            summary.graded_now.append(outcome)
            if on_done:
                on_done(outcome)

        run_pool(tasks, options=_pool_options(assignment, jobs, gpus), on_done=done)
    with Gradebook(gb_path) as gb:
        gb.finish_run(run_id, graded=len(summary.graded_now))
        summary.results_csv, summary.results_json = write_results(gb, ids, out)
    return summary


def _sweep_notices() -> list[Notice]:
    """Private folders left by kernels of a grader that was killed: removed, and said."""
    from .private_dirs import sweep_stale

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
    """``results.csv`` (one row per submission) and ``results.json`` (per check)."""
    rows, records = [], []
    for sid in ids:
        res = gb.result(sid)
        if res is None:
            continue
        rows.append([res.participant, res.file, res.status.value, f"{res.score:g}",
                     f"{res.max_score:g}", res.reason])
        records.append({"participant": res.participant, "file": res.file,
                        "status": res.status.value, "score": res.score,
                        "max_score": res.max_score, "reason": res.reason,
                        "notices": [n.__dict__ for n in res.notices],
                        "checks": [c.to_dict() for c in res.checks]})
    csv_path, json_path = out / "results.csv", out / "results.json"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(RESULT_COLUMNS)
        writer.writerows(rows)
    json_path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return csv_path, json_path
