"""Whether a student's model has a real convolution layer, decided by the grader.

A layer's type name is the kernel's word: a ``class Conv2d(nn.Module)`` whose forward
hands its input on unchanged is "a Conv2d" to every check that reads names (red-team
pass 4, 14_n). Here a layer with a 4-D ``weight`` counts only when it *computes*
torch's 2-D convolution: the grader runs the layer in the kernel on a random input of
its own and compares the answer with its own ``torch.nn.Conv2d`` built from the layer's
weights (plain tensors of the model's ``state_dict``) and its ``stride``, ``padding``,
``dilation``, ``groups`` and ``padding_mode``. Subclasses, layers inside
``nn.Sequential`` and ``LazyConv2d`` (a ``Conv2d`` once it has run) pass; a convolution
written with ``F.conv2d`` on ``nn.Parameter`` weights is no ``nn.Conv2d`` layer, as
the course asks for one. What the model's forward does with the layer is not judged
here: the test accuracy is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.bridge.submission import NotPlainData, StudentError, ValueTooLarge
from .data import generator
from .outcomes import fail

if TYPE_CHECKING:
    import torch

    from ..engine.bridge.submission import RemoteModel, Submission

_ATTRS = ("stride", "padding", "dilation", "groups", "padding_mode")
_MAX_LAYERS = 8


def expect_conv2d(submission: Submission, model: RemoteModel, *, name: str = "model",
                  seed: int = 0) -> None:
    """Fail unless one of ``model``'s layers computes a convolution: the layers with a
    4-D ``weight`` (whatever their class is called: a subclass of ``nn.Conv2d`` may have
    any name), those named ``Conv2d`` first."""
    weights = model.state_dict()
    layers = _candidates(model, weights)
    if not layers:
        fail(ja=f"{name} に畳み込み層 nn.Conv2d がありません",
             en=f"{name} has no nn.Conv2d layer")
    if not any(_computes_conv(submission, name, layer, weights, seed) for layer in layers):
        fail(ja=f"{name} の Conv2d という名前の層が、畳み込み（torch の nn.Conv2d と同じ計算）を"
                "していません。torch.nn の nn.Conv2d を使ってください",
             en=f"the layers of {name} named Conv2d do not compute a convolution (as torch's "
                "nn.Conv2d does); use torch.nn's nn.Conv2d")


def _candidates(model: RemoteModel, weights: dict[str, torch.Tensor]) -> list[str]:
    with_kernels = {key.removesuffix("weight").removesuffix(".") for key, value in weights.items()
                    if key.rsplit(".", 1)[-1] == "weight" and value.dim() == 4}
    named = [m.name for m in model.modules if m.type_name == "Conv2d"]
    ordered = named + sorted(with_kernels - set(named))
    return [layer for layer in ordered if layer in with_kernels][:_MAX_LAYERS]


def _computes_conv(submission: Submission, name: str, layer: str,
                   weights: dict[str, torch.Tensor], seed: int) -> bool:
    import torch

    prefix = f"{layer}." if layer else ""
    weight, bias = weights.get(f"{prefix}weight"), weights.get(f"{prefix}bias")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4 or \
            not weight.is_floating_point():
        return False
    expr = f"{name}.get_submodule({layer!r})" if layer else name
    try:
        remote = submission.evaluate(expr, remote_ok=True)
        settings = {key: _plain(remote.attr(key)) for key in _ATTRS}
        ref = _reference(weight, bias, settings)
        if ref is None:
            return False
        x = torch.randn(2, ref.in_channels, 11, 13, generator=generator(seed),
                        dtype=torch.float64)
        with torch.no_grad():
            want = ref(x)
        got = remote(x.to(weight.dtype))
    except (StudentError, NotPlainData, ValueTooLarge):   # no answer: no convolution shown
        return False
    return isinstance(got, torch.Tensor) and got.shape == want.shape and \
        bool(torch.allclose(got.to(torch.float64), want, rtol=1e-3, atol=1e-4))


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _reference(weight: torch.Tensor, bias: Any, settings: dict[str, Any]
               ) -> torch.nn.Conv2d | None:
    """The grader's own ``nn.Conv2d`` with the layer's weights, float64; ``None`` where
    the layer's settings are not ones ``nn.Conv2d`` takes."""
    import torch

    groups = settings["groups"]
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        return None
    try:
        conv = torch.nn.Conv2d(
            weight.shape[1] * groups, weight.shape[0], (weight.shape[2], weight.shape[3]),
            stride=settings["stride"], padding=settings["padding"],
            dilation=settings["dilation"], groups=groups,
            bias=isinstance(bias, torch.Tensor), padding_mode=settings["padding_mode"],
        ).double()
        with torch.no_grad():
            conv.weight.copy_(weight.to(torch.float64))
            if isinstance(bias, torch.Tensor) and conv.bias is not None:
                conv.bias.copy_(bias.to(torch.float64))
    except (TypeError, ValueError, RuntimeError):
        return None
    return conv
