"""A submission whose grading process died twice: recorded ``crashed``, every item at zero.

Both the local pool (``pool.py``) and a Dask batch (``grading/cluster/run.py``) run a
task again, alone, when the process grading it dies; a task that dies alone too is
this. Its result is built in the grader (the catalogue of the assignment's items,
collected in a child process: ``zero_catalog``), never by the process that died.
"""

from __future__ import annotations

from pathlib import Path

from ..core.i18n import Lang, tr
from ..core.results import Notice, Status, SubmissionResult
from ..store.fingerprint import Fingerprint
from ..store.gradebook import Gradebook
from .tasks import GradeTask, TaskOutcome
from .zero_catalog import ZeroCatalog, collect_catalog_apart


def crashed_reason(lang: Lang) -> str:
    return tr(lang, ja="この提出物の採点中に採点ワーカーが 2 回停止したため、採点できません"
                       "でした (これ以上再試行しません)",
              en="the grading worker died twice while grading this submission, so it was "
                 "not graded (and is not retried again)")


def crashed_result(gb: Gradebook, task: GradeTask, catalog: ZeroCatalog,
                   lang: Lang) -> SubmissionResult:
    """The stored submission's ``crashed`` result, every item at zero."""
    stored = gb.submission(task.submission_id)
    return catalog.result(
        participant=stored.participant, file=stored.file, sha256=stored.sha256,
        status=Status.CRASHED, reason=crashed_reason(lang),
        notices=[Notice("crashed", crashed_reason("ja"), crashed_reason("en"))])


def record_crash(task: GradeTask) -> TaskOutcome:
    """Store ``task``'s submission as crashed in its gradebook (the local pool's parent,
    which writes nothing else: its workers store their own results)."""
    lang: Lang = "en" if task.lang == "en" else "ja"
    catalog = collect_catalog_apart(task.assignment_id, Path(task.assignments_root))
    with Gradebook(Path(task.gradebook)) as gb:
        result = crashed_result(gb, task, catalog, lang)
        gb.save_result(task.submission_id, result, run_id=task.run_id,
                       fingerprint=Fingerprint.from_json(task.fingerprint))
    return TaskOutcome(task.submission_id, Status.CRASHED, 0.0, result.max_score,
                       result.reason)
