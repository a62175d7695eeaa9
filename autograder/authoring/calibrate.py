"""``autograder calibrate``: how the reference does under the grading parameters.

Runs the source notebook (the reference solution) N times with different seeds through
the real grading path, reports each measured metric (the accuracy the grader computed),
run time and peak memory, and suggests thresholds: the worst run minus a margin. The
manifest changes only with ``write=True`` (comments and layout kept, via tomlkit).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import nbapi
from ..core.config import Assignment, Scalar, load_assignment
from ..core.errors import ConfigError
from ..core.i18n import Lang, default_lang, tr
from ..core.paths import assignments_dir
from ..core.results import Status, SubmissionResult
from ..engine.grade_one import GradeContext, forked_kernels, grade_submission

SEED_CELL = """# Seed set by autograder calibrate (run {seed})
import random as _ag_random
_ag_random.seed({seed})
try:
    import numpy as _ag_np
    _ag_np.random.seed({seed})
except ImportError:
    pass
try:
    import torch as _ag_torch
    _ag_torch.manual_seed({seed})
except ImportError:
    pass
"""


@dataclass
class Calibration:
    assignment: Assignment
    runs: list[SubmissionResult] = field(default_factory=list)
    margin: float = 0.02

    def metrics(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for run in self.runs:
            for check in run.checks:
                if check.metric is not None:
                    found.setdefault(check.name, []).append(check.metric)
        return found

    def spread(self, name: str) -> tuple[float, float, float, float]:
        values = self.metrics()[name]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return min(values), statistics.mean(values), max(values), sd

    def suggestions(self) -> dict[str, float]:
        """Threshold key → worst run minus the margin (rounded down to 0.01)."""
        metrics = self.metrics()
        out: dict[str, float] = {}
        for key in self.assignment.thresholds:
            source = _metric_for(key, metrics)
            if source is not None:
                worst = min(metrics[source])
                out[key] = max(0.0, int((worst - self.margin) * 100) / 100)
        return out

    @property
    def failures(self) -> list[SubmissionResult]:
        return [r for r in self.runs if r.status is not Status.GRADED]


def _metric_for(key: str, metrics: Mapping[str, list[float]]) -> str | None:
    named = [name for name in metrics if key in name]
    if len(named) == 1:
        return named[0]
    return next(iter(metrics)) if len(metrics) == 1 else None


def seeded_source(assignment: Assignment, seed: int) -> bytes:
    from .release import read_source

    nb = read_source(assignment.source_notebook)  # 4.0-4.4 upgraded: the seed cell has an id
    nb.cells.insert(0, nbapi.new_code_cell(SEED_CELL.format(seed=seed)))
    return nbapi.writes(nb).encode()


def calibrate(*, assignment_id: str, runs: int = 3, margin: float = 0.02, write: bool = False,
              params: Mapping[str, Scalar] | None = None, assignments_root: Path | None = None,
              data_dir: Path | None = None, lang: Lang | None = None,
              kernel_factory: str = "autograder.engine.kernel.sandboxed:SandboxedKernel",
             ) -> Calibration:
    if runs < 1:
        raise ConfigError(tr(ja=f"--runs は 1 以上です({runs})",
                             en=f"--runs must be at least 1, got {runs}"))
    assignment = load_assignment(assignment_id, assignments_root or assignments_dir())
    result = Calibration(assignment, margin=margin)
    with forked_kernels(assignment, data_dir, kernel_factory):
        for seed in range(runs):
            ctx = GradeContext(assignment=assignment,
                               params={**assignment.grading, **(params or {}), "SEED": seed},
                               lang=lang or default_lang(), data_dir=data_dir,
                               kernel_factory=kernel_factory, cpu_threads=os.cpu_count() or 1)
            result.runs.append(grade_submission(ctx, participant=f"seed-{seed}",
                                                file=assignment.source_notebook.name,
                                                content=seeded_source(assignment, seed),
                                                sha256=f"seed-{seed}"))
    if write:
        write_thresholds(assignment, result.suggestions())
    return result


def write_thresholds(assignment: Assignment, thresholds: Mapping[str, float]) -> None:
    """Update ``[thresholds]`` in the manifest, keeping its comments and layout."""
    import tomlkit

    if not thresholds:
        return
    path = assignment.manifest_path
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    table = doc.get("thresholds")
    if table is None:
        table = tomlkit.table()
        doc["thresholds"] = table
    for key, value in thresholds.items():
        table[key] = value
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    load_assignment(assignment.id, assignment.root.parent)  # still valid after the edit
