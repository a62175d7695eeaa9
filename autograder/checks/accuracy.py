"""Accuracy computed by the grader from a model's outputs, never taken from the student.

``model`` is a ``RemoteModel`` (outputs computed in the kernel, on the model's own
device; the grader only takes the argmax), a grader-side ``torch.nn.Module`` (e.g. a
reference architecture with the student's weights from ``RemoteModel.load_into``; run on
``device``, the GPU when there is one) or any callable from a batch to outputs.
``data`` is ``(inputs, labels)`` tensors or an iterable of such batches (a DataLoader).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from ..engine.bridge.submission import RemoteModel
from ._common import shape_text
from .outcomes import fail, record_metric

if TYPE_CHECKING:
    import torch


def _batches(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    import torch

    if isinstance(data, tuple) and len(data) == 2 and all(
            isinstance(t, torch.Tensor) for t in data):
        inputs, labels = data
        if len(inputs) != len(labels):
            raise ValueError("inputs and labels differ in length")
        for i in range(0, len(inputs), batch_size):
            yield inputs[i:i + batch_size], labels[i:i + batch_size]
        return
    for batch in data:
        inputs, labels = batch[0], batch[1]
        yield inputs, labels


def _runner(model: Any, device: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch

    if isinstance(model, RemoteModel):
        return model.forward
    if isinstance(model, torch.nn.Module):
        where = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(where).eval()

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                # a student's nn.Module: its forward (Module.__call__) is untyped
                return cast("torch.Tensor", model(x.to(where))).cpu()

        return run
    if callable(model):  # any callable the check was given: its signature is unknown
        return cast("Callable[[torch.Tensor], torch.Tensor]", model)
    raise TypeError(f"not a model: {type(model).__name__}")


def predict(model: Any, data: Any, *, device: str | None = None, batch_size: int = 500
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted_class, label)`` for every example; rows with NaN predict ``-1``."""
    import torch

    run = _runner(model, device)
    preds, targets = [], []
    for inputs, labels in _batches(data, batch_size):
        out = run(inputs)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or len(out) != len(inputs):
            got = shape_text(tuple(out.shape)) if isinstance(out, torch.Tensor) \
                else type(out).__name__
            fail(ja=f"モデルの出力が (バッチ数, クラス数) の形ではありません: {got}",
                 en=f"the model's output is not shaped (batch, classes): {got}")
        pred = out.float().argmax(dim=1)
        pred[torch.isnan(out.float()).any(dim=1)] = -1
        preds.append(pred.cpu())
        targets.append(labels.reshape(-1).to(torch.int64).cpu())
    if not preds:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64)
    return torch.cat(preds), torch.cat(targets)


def accuracy_of(model: Any, data: Iterable[Any] | tuple[Any, Any], *,
                device: str | None = None, batch_size: int = 500) -> float:
    """Fraction of examples whose argmax output equals the label."""
    pred, target = predict(model, data, device=device, batch_size=batch_size)
    if len(target) == 0:
        raise ValueError("accuracy_of needs at least one example")
    return float((pred == target).float().mean())


def accuracy_in_batches(model: RemoteModel, inputs: torch.Tensor, labels: torch.Tensor,
                        batch_size: int) -> float:
    """The fraction of ``labels`` the argmax of ``model``'s outputs gets right, run batch
    by batch as a ``DataLoader(batch_size=batch_size)`` over the same tensors would serve
    them (the last batch short): the number a correct ``evaluate(model, loader)`` gives
    for ``data.kernel_loader(submission, inputs, labels, batch_size=batch_size)``. Plain
    argmax, as a student's code takes it (no NaN rule, unlike ``predict``)."""
    correct = 0
    for i in range(0, len(labels), batch_size):
        out = model.forward(inputs[i:i + batch_size])
        correct += int((out.float().argmax(dim=1) == labels[i:i + batch_size]).sum())
    return correct / len(labels)


def designed_labels(model: RemoteModel, inputs: torch.Tensor, batch_size: int, *,
                    seed: int) -> tuple[torch.Tensor, float]:
    """Labels for ``inputs`` and the accuracy a correct ``evaluate(model, loader)`` gives
    for them (correct ÷ items), for a loader serving them in batches of ``batch_size``
    (the last one short): ``model``'s own argmax (run batch by batch, as the loader will
    serve them), shifted by one for every item of the short batch and for a number of
    items of the full ones that ``seed`` draws (0 to a sixth of them, so that no
    constant is the answer). A mean of the batches' accuracies, a count of batches or of
    full batches gives another number.

    Give it inputs the kernel cannot look up (random images, not the test set): on test
    images a model can answer its labels from a table, so that any evaluate looks right
    (red-team pass 6); on these it computes what it computes, and the labels follow."""
    import torch

    outputs = [model.forward(inputs[i:i + batch_size]).float()
               for i in range(0, len(inputs), batch_size)]
    predicted = torch.cat([out.argmax(dim=1) for out in outputs])
    classes = max(int(outputs[0].shape[-1]), 2)
    short = len(inputs) % batch_size or batch_size
    full = len(inputs) - short
    g = torch.Generator().manual_seed(seed)
    extra = int(torch.randint(0, full // 6 + 1, (1,), generator=g))
    wrong = torch.cat([torch.randperm(full, generator=g)[:extra],
                       torch.arange(full, len(inputs))])
    labels = predicted.clone()
    labels[wrong] = (labels[wrong] + 1) % classes
    return labels, (len(inputs) - len(wrong)) / len(inputs)


def expect_accuracy(accuracy: float, threshold: float, *, what: str = "テスト精度") -> None:
    """Record ``accuracy`` with the check and fail below ``threshold``, showing both."""
    record_metric(accuracy)
    if not accuracy >= threshold:
        fail(ja=f"{what} {accuracy:.4f} が基準 {threshold:.4f} に届きません",
             en=f"{what} {accuracy:.4f} is below the required {threshold:.4f}")
