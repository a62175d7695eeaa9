"""Models the kernel keeps, judged in the grader: handles, layers by shape, forward passes.

A student's model stays in the kernel as a ``RemoteModel`` (``trained_model``,
``new_model``); the grader sees its parameter count, its output shape, its outputs on the
grader's batches and its weights as plain tensors, never the object itself (no
``isinstance`` on it, no unpickling). What a lecture pins is the network's layers and what
it computes, not the attribute names, so layers are matched to a grader-side reference
module by their tensors' shapes (``l1`` or ``layers.0`` or ``hidden``), trying every
order among layers of equal shapes (``layer_placements``), and the student's outputs must
equal the reference's carrying the student's weights in one of those placements::

    model = models.trained_model(submission, (1, 28, 28))
    placements = models.expect_layers(model, ref.CNNNet(), what="model",
                                      described=("講義の CNN", "the lecture's CNN"))
    x = torch.randn(6, 1, 28, 28, generator=data.generator(4))
    models.expect_reference_outputs(model, ref.CNNNet, placements, x, what="model の出力",
                                    computes="model の出力（conv → ReLU → …）")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..engine.bridge.submission import RemoteModel
from .outcomes import fail
from .shapes import expect_shape
from .values import expect_close

if TYPE_CHECKING:
    import torch

    from ..engine.bridge.submission import Submission

MAX_PLACEMENTS = 24


def trained_model(submission: Submission, input_shape: Sequence[int], *, name: str = "model",
                  batch: int = 2) -> RemoteModel:
    """A handle on the notebook's ``name`` (its trained model), in eval mode, run once on
    zeros of ``(batch, *input_shape)``. Each call asks the kernel anew."""
    import torch

    return submission.model(name, torch.zeros(batch, *input_shape))


def new_model(submission: Submission, class_name: str, input_shape: Sequence[int],
              *args: Any, batch: int = 2) -> RemoteModel:
    """A fresh ``class_name(*args)`` built in the kernel (the student's class), kept there
    as a model handle, run once on zeros of ``(batch, *input_shape)``."""
    import torch

    made: Any = submission.function(class_name)(*args)   # a Remote handle on the instance
    return submission.model(made, torch.zeros(batch, *input_shape))


def expect_class_name(submission: Submission, name: str, class_name: str) -> None:
    """Fail unless the class of the notebook's ``name`` is called ``class_name``, or is
    what the notebook's ``class_name`` is bound to: the kernel's word, worth nothing
    alone (a check of what the object computes must go with it); it tells a student
    who trained another network which one is wanted."""
    kind = submission.evaluate(f"type({name}).__name__")
    if kind == class_name:
        return
    # ``Net = FullyConnectedNet``: the class the notebook calls ``class_name`` (as much
    # the kernel's word as the name is)
    if submission.evaluate(f"type({name}) is globals().get({class_name!r})") is True:
        return
    fail(ja=f"{name} は {class_name} のインスタンスにしてください（{kind}）",
         en=f"{name} should be an instance of {class_name} ({kind})")


def expect_log_softmax(output: torch.Tensor, *, what: str) -> None:
    """Fail unless every row of ``output`` is log-probabilities: its ``exp`` sums to 1
    (within 1e-4, in float64). ``what`` names the network (``"Net"``)."""
    import torch

    rows = output.double().exp().sum(dim=1)
    if not torch.allclose(rows, torch.ones(len(output), dtype=torch.float64), atol=1e-4):
        fail(ja=f"{what} の出力は log_softmax です。exp をとると各行の合計が 1 になるはずです",
             en=f"{what}'s output is log_softmax: each row's exp should sum to 1")


def _layers(state: Mapping[str, torch.Tensor]) -> dict[tuple[Any, ...], list[str]]:
    """Layer prefixes by signature (their tensors' names and shapes), in state order."""
    groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, []).append((leaf, tuple(value.shape)))
    by_signature: dict[tuple[Any, ...], list[str]] = {}
    for prefix, tensors in groups.items():
        by_signature.setdefault(tuple(sorted(tensors)), []).append(prefix)
    return by_signature


def layer_placements(reference: torch.nn.Module, state: Mapping[str, torch.Tensor], *,
                     limit: int = MAX_PLACEMENTS) -> list[dict[str, torch.Tensor]]:
    """The student's tensors (``state``: ``RemoteModel.state_dict()``) as state dicts of
    ``reference``, one per way of placing layers of equal shapes (at most ``limit``);
    none when the layers' shapes differ from the reference's.

    A layer is the tensors sharing a name prefix (``l1.weight``, ``l1.bias``); layers
    match when their tensors' leaf names and shapes are the same."""
    want, have = _layers(reference.state_dict()), _layers(state)
    if {k: len(v) for k, v in want.items()} != {k: len(v) for k, v in have.items()}:
        return []
    choices = [[list(zip(want[sig], order, strict=True))
                for order in itertools.permutations(have[sig])] for sig in want]
    out = []
    for combination in itertools.product(*choices):
        placed = {}
        for pairs in combination:
            for ref_prefix, own_prefix in pairs:
                for key in reference.state_dict():
                    prefix, _, leaf = key.rpartition(".")
                    if prefix == ref_prefix:
                        placed[key] = state[f"{own_prefix}.{leaf}" if own_prefix else leaf]
        out.append(placed)
        if len(out) >= limit:
            break
    return out


def expect_parameter_count(model: RemoteModel, count: int, *, what: str) -> None:
    """Fail unless ``model`` has ``count`` parameters (the message shows both)."""
    if model.num_parameters != count:
        fail(ja=f"{what} のパラメータ数は {count:,} 個のはずです（{model.num_parameters:,} 個）",
             en=f"{what} should have {count:,} parameters (has {model.num_parameters:,})")


def expect_layers(model: RemoteModel, reference: torch.nn.Module, *, what: str,
                  described: tuple[str, str]) -> list[dict[str, torch.Tensor]]:
    """``reference``'s parameter count, then its layers by shape (``layer_placements``);
    the ways to place the student's weights in ``reference``. ``described`` names the
    expected network in the failure message (Japanese, English), e.g.
    ``("講義の Net（…）", "the lecture's Net (…)")``."""
    expect_parameter_count(model, sum(p.numel() for p in reference.parameters()), what=what)
    placements = layer_placements(reference, model.state_dict())
    if not placements:
        fail(ja=f"{what} の層が{described[0]}と違います",
             en=f"{what}'s layers differ from {described[1]}")
    return placements


def expect_reference_outputs(model: RemoteModel, reference: Callable[[], torch.nn.Module],
                             placements: Sequence[Mapping[str, torch.Tensor]],
                             x: torch.Tensor, *, what: str, computes: str,
                             rtol: float, atol: float, dtype: torch.dtype | None = None
                             ) -> torch.Tensor:
    """Fail unless ``model``'s outputs on ``x`` have the shape of the reference's and equal
    the outputs of a new ``reference()`` carrying one of ``placements`` (in eval mode,
    without grad, computed in ``dtype``: float64 unless given). Returns the outputs.

    ``what`` names the outputs in a shape failure (``"Net() の出力"``), ``computes`` in a
    value failure (``"Net() の出力（Linear → sigmoid → …）"``), which compares with the first
    placement."""
    import torch

    kind = dtype or torch.float64
    got = model.forward(x)
    wants: list[torch.Tensor] = []
    for state in placements:
        module = reference().to(kind)
        module.load_state_dict(state)
        with torch.no_grad():
            wants.append(module.eval()(x.to(kind)))
        if len(wants) == 1:
            expect_shape(got, tuple(wants[0].shape), what=what)
        if torch.allclose(got.to(kind), wants[-1], rtol=rtol, atol=atol):
            return got
    if not wants:
        raise ValueError("expect_reference_outputs needs at least one placement")
    expect_close(got, wants[0], rtol=rtol, atol=atol, what=computes)
    return got


def grader_copy(model: RemoteModel, reference: Callable[[], torch.nn.Module],
                placements: Sequence[Mapping[str, torch.Tensor]], x: torch.Tensor, *,
                what: str, rtol: float, atol: float) -> torch.nn.Module:
    """A new ``reference()`` carrying the student's weights in the placement whose outputs
    on ``x`` (the grader's inputs) are the model's: the network the grader then runs
    itself, in eval mode, where a score depends on what a model computes on the test set.
    The model's own outputs there are the kernel's word: a model that answers the test
    images from a table of their labels (the kernel can read the test set) computes its
    network everywhere else, and its weights are all that is scored. Fails where no
    placement gives the model's outputs (then the grader has no network to run). The
    outputs may be the reference's class scores in another form, which ranks the classes
    alike: log-probabilities, probabilities or logits (a net ending without its
    ``log_softmax``, trained with ``CrossEntropyLoss``, has the same accuracy)."""
    import torch

    got = model.forward(x).to(torch.float64)
    for state in placements:
        module = reference().to(torch.float64)
        module.load_state_dict(state)
        with torch.no_grad():
            want = module.eval()(x.to(torch.float64))
        if _same_scores(got, want, rtol=rtol, atol=atol):
            return module.to(torch.float32)
    fail(ja=f"{what} の出力が、その重みを入れた講義のネットワークの出力と一致しないため、"
            "採点側でテスト正解率を計算できません",
         en=f"{what}'s outputs are not those of the lecture's network with its weights, so "
            "the grader cannot compute its test accuracy")


def _same_scores(got: torch.Tensor, want: torch.Tensor, *, rtol: float, atol: float) -> bool:
    """``got`` holds ``want``'s class scores (last dimension): as they are, as their
    softmax, or up to a constant per row (logits of log-probabilities, and back)."""
    import torch

    if got.shape != want.shape or got.dim() < 1:
        return False

    def centred(t: torch.Tensor) -> torch.Tensor:
        return t - t.mean(dim=-1, keepdim=True)

    return any(torch.allclose(a, b, rtol=rtol, atol=atol) for a, b in (
        (got, want), (got, torch.softmax(want, dim=-1)), (centred(got), centred(want))))


__all__ = ["MAX_PLACEMENTS", "expect_class_name", "expect_layers", "expect_log_softmax",
           "expect_parameter_count", "expect_reference_outputs", "grader_copy",
           "layer_placements", "new_model", "trained_model"]
