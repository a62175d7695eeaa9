"""``Submission.without_autograd`` against a real ipykernel: calls run in torch's inference
mode, so a tensor's ``backward()`` has no graph to follow, while a student's own layer
objects with ``backward`` methods (ゼロから作る) work; a kernel whose inference mode, torch
modes or hooks were tampered with, or a call that leaves the mode and enters it again
(torch.func does so inside), refuses instead of running with autograd on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from local_kernel import LocalKernel

from autograder.checks import gradients
from autograder.engine.bridge.submission import AutogradOn, StudentError, Submission

STUDENT = r'''
import torch

class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
    def forward(self, x):
        self.x = x
        return x @ self.W + self.b
    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(0)
        return dout @ self.W.T

def by_hand(X, W, b):
    layer = Affine(W, b)
    layer.forward(X)
    layer.backward(torch.ones(X.shape[0], W.shape[1], dtype=X.dtype))
    return {"W": layer.dW, "b": layer.db}

def by_autograd(X, W, b):
    W, b = W.clone().requires_grad_(), b.clone().requires_grad_()
    (X @ W + b).sum().backward()
    return {"W": W.grad, "b": b.grad}

def by_func(X, W, b):
    return dict(zip("Wb", torch.func.grad(lambda w, c: (X @ w + c).sum(), (0, 1))(W, b)))

def inference_on():
    return torch.is_inference_mode_enabled()

def leaves(X, W, b):
    # inference mode left and entered again inside the call: on at both ends of it
    with torch._C._InferenceMode(False):
        W, b = W.clone().requires_grad_(), b.clone().requires_grad_()
        (X.clone() @ W + b).sum().backward()
        return {"W": W.grad, "b": b.grad}
'''


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKernel]:
    with LocalKernel(tmp_path_factory.mktemp("autograd_off")) as k:
        k.execute(STUDENT)
        yield k


@pytest.fixture
def sub(kernel: LocalKernel) -> Submission:
    return Submission(kernel, call_timeout=30)


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return (torch.randn(5, 4, generator=g, dtype=torch.float64),
            torch.randn(4, 3, generator=g, dtype=torch.float64),
            torch.randn(3, generator=g, dtype=torch.float64))


def _want(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    return gradients.autograd_gradients(lambda p: (X @ p["W"] + p["b"]).sum(), {"W": W, "b": b})


def test_own_layer_objects_work_and_a_tensors_backward_does_not(sub: Submission) -> None:
    X, W, b = _problem()
    with sub.without_autograd():
        assert sub.function("inference_on")() is True
        gradients.expect_gradients(sub.function("by_hand")(X, W, b), _want(X, W, b))
        with pytest.raises(StudentError) as caught:
            sub.function("by_autograd")(X, W, b)
    assert caught.value.detail() == "RuntimeError"
    # the same call with autograd on: what the switch takes away
    assert sub.function("inference_on")() is False
    gradients.expect_gradients(sub.function("by_autograd")(X, W, b), _want(X, W, b))


def test_a_mode_left_and_entered_again_inside_the_call_is_seen(sub: Submission) -> None:
    X, W, b = _problem()
    gradients.expect_gradients(sub.function("leaves")(X, W, b), _want(X, W, b))
    with sub.without_autograd(), pytest.raises(AutogradOn):
        sub.function("leaves")(X, W, b)
    with sub.without_autograd():   # the watch is gone with the call
        gradients.expect_gradients(sub.function("by_hand")(X, W, b), _want(X, W, b))
    assert sub.evaluate("__import__('sys').getprofile()") is None


def test_torch_func_is_stopped_by_the_watch(sub: Submission) -> None:
    # functorch runs its own autograd whatever the mode, leaving inference mode inside:
    # the watch of every call sees it (the texts refuse its names too, 13_h _FAMILIES)
    X, W, b = _problem()
    gradients.expect_gradients(sub.function("by_func")(X, W, b), _want(X, W, b))
    with sub.without_autograd(), pytest.raises(AutogradOn):
        sub.function("by_func")(X, W, b)


@pytest.mark.parametrize(("tamper", "undo"), [
    # a guard class that does nothing
    ("_saved = torch._C._InferenceMode\n"
     "class _Nothing:\n"
     "    def __init__(self, mode): pass\n"
     "    def __enter__(self): pass\n"
     "    def __exit__(self, *a): pass\n"
     "torch._C._InferenceMode = _Nothing",
     "torch._C._InferenceMode = _saved"),
    # torch's own answer replaced by the notebook's
    ("_saved = torch._C.is_inference_mode_enabled\n"
     "torch._C.is_inference_mode_enabled = lambda: True",
     "torch._C.is_inference_mode_enabled = _saved"),
    # a torch function mode left on: it runs the notebook's code on every torch call
    ("from torch.overrides import TorchFunctionMode\n"
     "_mode = TorchFunctionMode()\n"
     "_mode.__enter__()",
     "_mode.__exit__(None, None, None)"),
    # a profile hook: it could leave inference mode on each call and enter it on return
    ("import sys\nsys.setprofile(lambda frame, event, arg: None)", "sys.setprofile(None)"),
    ("import sys\nsys.settrace(lambda frame, event, arg: None)", "sys.settrace(None)"),
], ids=["a guard that does nothing", "is_inference_mode_enabled replaced",
        "a torch function mode left on", "a profile hook", "a trace hook"])
def test_a_tampered_kernel_refuses(kernel: LocalKernel, sub: Submission, tamper: str,
                                   undo: str) -> None:
    X, W, b = _problem()
    kernel.execute(tamper)
    try:
        with sub.without_autograd(), pytest.raises(AutogradOn):
            sub.function("by_autograd")(X, W, b)
    finally:
        kernel.execute(undo)
    with sub.without_autograd():   # and the kernel is sound again
        gradients.expect_gradients(sub.function("by_hand")(X, W, b), _want(X, W, b))


def test_a_message_for_the_student(sub: Submission, kernel: LocalKernel) -> None:
    kernel.execute("_saved = torch._C._InferenceMode\ntorch._C._InferenceMode = None")
    try:
        with sub.without_autograd(), pytest.raises(AutogradOn) as caught:
            sub.function("by_hand")(*_problem())
    finally:
        kernel.execute("torch._C._InferenceMode = _saved")
    assert "自動微分" in caught.value.student_message("ja")
    assert "autograd" in caught.value.student_message("en")


def test_no_torch_in_the_kernel_refuses(tmp_path: Path) -> None:
    with LocalKernel(tmp_path) as k:
        k.execute("def f():\n    return 1")
        plain = Submission(k, call_timeout=30)
        with plain.without_autograd(), pytest.raises(AutogradOn):
            plain.function("f")()
