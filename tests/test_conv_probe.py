"""``checks.convolution.expect_conv2d``: a layer named Conv2d counts only when it computes
torch's convolution on the grader's input (red-team pass 4: a ``class Conv2d(nn.Module)``
with an identity forward passed 14_n's "model is a CNN").

The submission is a stand-in that answers as the bridge does: ``model.modules`` with each
layer's qualified name and type name, ``state_dict()`` as plain tensors, and a layer from
``model.get_submodule(...)`` as a handle whose attributes and calls run "in the kernel"
(here, on the real module).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import CheckFailed, ModuleInfo, StudentError
from autograder.checks.convolution import expect_conv2d


class _Handle:
    def __init__(self, module: nn.Module):
        self.module = module

    def attr(self, name: str) -> Any:
        if not hasattr(self.module, name):   # the kernel's AttributeError
            raise StudentError(what=name, error_name="AttributeError")
        value = getattr(self.module, name)
        return list(value) if isinstance(value, tuple) else value   # tuples may come as lists

    def __call__(self, x: torch.Tensor) -> Any:
        with torch.no_grad():
            return self.module(x)


class _Model:
    def __init__(self, module: nn.Module):
        self.module = module.eval()
        self.modules = tuple(ModuleInfo(n, type(m).__name__, "") for n, m in module.named_modules())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}


class _Submission:
    def __init__(self, model: _Model):
        self.model = model

    def evaluate(self, expr: str, *, remote_ok: bool = False) -> Any:
        if expr == "model":
            return _Handle(self.model.module)
        prefix = "model.get_submodule("
        assert expr.startswith(prefix) and remote_ok
        return _Handle(self.model.module.get_submodule(eval(expr[len(prefix):-1])))


class Conv2d(nn.Module):
    """The red team's: named Conv2d, hands its input on."""

    def __init__(self, c_in: int, c_out: int, k: int, padding: int = 0):
        super().__init__()
        self.in_channels, self.out_channels = c_in, c_out
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ScaledConv(nn.Conv2d):
    """A subclass that computes a convolution (honest)."""


class FunctionalConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.w)


class WrongConv(nn.Conv2d):
    """Named after torch's class by inheritance, but computes something else."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2


def _lazy() -> nn.Module:
    net = nn.Sequential(nn.LazyConv2d(8, 3), nn.ReLU())
    net(torch.zeros(1, 3, 8, 8))   # materialised: now a Conv2d
    return net


MODELS = {
    "nn.Conv2d": (lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten()), True),
    "bare Conv2d model": (lambda: nn.Conv2d(3, 4, 3), True),
    "padding, stride, no bias": (lambda: nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=False)), True),
    "groups and dilation": (lambda: nn.Sequential(nn.Conv2d(4, 8, 3, groups=2, dilation=2)),
                            True),
    "reflect padding": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1,
                                                        padding_mode="reflect")), True),
    "padding='same'": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding="same")), True),
    "subclass": (lambda: nn.Sequential(ScaledConv(3, 4, 3)), True),
    "LazyConv2d": (_lazy, True),
    "fake Conv2d (identity)": (lambda: nn.Sequential(Conv2d(3, 16, 3), nn.Flatten()), False),
    "subclass computing another thing": (lambda: nn.Sequential(WrongConv(3, 4, 3)), False),
    "F.conv2d on parameters (no nn.Conv2d layer)": (FunctionalConv, False),
    "no convolution": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), False),
}


@pytest.mark.parametrize("case", list(MODELS))
def test_a_conv2d_must_compute_a_convolution(case: str) -> None:
    torch.manual_seed(0)
    build, ok = MODELS[case]
    model = _Model(build())
    if ok:
        expect_conv2d(_Submission(model), model)  # type: ignore[arg-type]
    else:
        with pytest.raises(CheckFailed):
            expect_conv2d(_Submission(model), model)  # type: ignore[arg-type]
