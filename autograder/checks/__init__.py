"""Assignment checks: the pytest plugin that runs them and the helpers they use.

A check is a pytest test in ``assignments/<id>/tests/`` that takes the ``submission``
fixture (a ``Submission``, re-exported here with the bridge's errors a check may catch:
``StudentError``, ``SourceUnavailable``, ``RemoteModel``) and fails with
``assert ..., "メッセージ"`` or ``checks.fail(ja=..., en=...)``::

    from autograder import checks

    @pytest.mark.points(2)
    def test_relu(submission):
        relu = submission.function("relu")
        x = checks.gradients.random_tensors(seed=0, x=(4, 5))["x"]
        checks.values.expect_close(relu(x), x.clamp(min=0), what="relu(x)")

Helper families (torch is imported only when they are used): ``shapes``
(``expect_shape``), ``values`` (``expect_close``, ``expect_equal``), ``gradients``
(``random_tensors``, ``autograd_gradients``, ``numerical_gradient``,
``expect_gradients``), ``accuracy`` (``accuracy_of``, ``expect_accuracy``).
"""

from ..engine.bridge.submission import RemoteModel, SourceUnavailable, StudentError, Submission
from . import accuracy, gradients, shapes, values
from .budget import ChecksBudget
from .outcomes import (
    CheckFailed,
    CheckTimeout,
    Partial,
    fail,
    partial,
    record_metric,
    student_message,
)
from .session import CheckInfo, collect_checks, describe_checks, run_checks

__all__ = [
    "CheckFailed",
    "CheckInfo",
    "CheckTimeout",
    "ChecksBudget",
    "Partial",
    "RemoteModel",
    "SourceUnavailable",
    "StudentError",
    "Submission",
    "accuracy",
    "collect_checks",
    "describe_checks",
    "fail",
    "gradients",
    "partial",
    "record_metric",
    "run_checks",
    "shapes",
    "student_message",
    "values",
]
