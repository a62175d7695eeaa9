"""Assignment checks: the pytest plugin that runs them and the helpers they use.

Everything a check file needs comes from here. A check is a pytest test in
``assignments/<id>/tests/`` that takes the ``submission`` fixture (a ``Submission``,
re-exported here with its handles ``Remote``, ``RemoteFunction``, ``RemoteModel``,
``ModuleInfo`` and the bridge's errors a check may catch: ``StudentError`` and its
``MissingName``, ``NotCallable``, ``NotAModel``, ``ModelOutputError``; ``BridgeError`` and
its ``SourceUnavailable``, ``NotPlainData``, ``ValueTooLarge``, ``BridgeTimeout``,
``KernelDead``, ``AutogradOn``) and fails with ``assert ..., "メッセージ"`` or
``checks.fail(ja=..., en=...)``::

    from autograder import checks

    @pytest.mark.points(2)
    def test_relu(submission):
        relu = submission.function("relu")
        x = checks.gradients.random_tensors(seed=0, x=(4, 5))["x"]
        checks.values.expect_close(relu(x), x.clamp(min=0), what="relu(x)")

Helper families (torch is imported only when they are used): ``shapes``
(``expect_shape``), ``values`` (``expect_close``, ``expect_equal``, ``as_tensor``,
``as_number``), ``gradients`` (``random_tensors``, ``autograd_gradients``,
``numerical_gradient``, ``expect_gradients``), ``accuracy`` (``accuracy_of``, ``predict``,
``accuracy_in_batches``, ``expect_accuracy``), ``models`` (``trained_model``,
``new_model``, ``expect_class_name``, ``expect_log_softmax``, ``expect_parameter_count``,
``layer_placements``, ``expect_layers``, ``expect_reference_outputs``), ``data``
(``generator``, ``mnist_test``, ``mnist_test_pixels``, ``random_subset``,
``kernel_loader``), ``source`` (``read_functions``, ``names_read``, ``attribute_names``,
``library_names``, ``parse``), ``memo`` (``once``: computed once per submission), ``convolution``
(``expect_conv2d``: a layer that computes torch's convolution, judged by the grader).
"""

from ..core.errors import BridgeError
from ..engine.bridge.submission import (
    AutogradOn,
    BridgeTimeout,
    KernelDead,
    MissingName,
    ModelOutputError,
    ModuleInfo,
    NotAModel,
    NotCallable,
    NotPlainData,
    Remote,
    RemoteFunction,
    RemoteModel,
    SourceUnavailable,
    StudentError,
    Submission,
    ValueTooLarge,
)
from . import accuracy, convolution, data, gradients, memo, models, shapes, source, values
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
    "AutogradOn",
    "BridgeError",
    "BridgeTimeout",
    "CheckFailed",
    "CheckInfo",
    "CheckTimeout",
    "ChecksBudget",
    "KernelDead",
    "MissingName",
    "ModelOutputError",
    "ModuleInfo",
    "NotAModel",
    "NotCallable",
    "NotPlainData",
    "Partial",
    "Remote",
    "RemoteFunction",
    "RemoteModel",
    "SourceUnavailable",
    "StudentError",
    "Submission",
    "ValueTooLarge",
    "accuracy",
    "collect_checks",
    "convolution",
    "data",
    "describe_checks",
    "fail",
    "gradients",
    "memo",
    "models",
    "partial",
    "record_metric",
    "run_checks",
    "shapes",
    "source",
    "student_message",
    "values",
]
