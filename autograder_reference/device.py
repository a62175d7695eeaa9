"""Where the reference solutions run, and with which arithmetic.

One place decides the device (``cuda`` when present, as the lecture's
``device = 'cuda' if torch.cuda.is_available() else 'cpu'``) and whether
mixed precision and channels-last memory layout are used, so that every
training loop makes the same choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def default_device() -> str:
    """``'cuda'`` when a GPU is present, else ``'cpu'`` (the lecture's rule)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means :func:`default_device`; anything else is taken as given."""
    return torch.device(default_device() if device is None else device)


def amp_dtype(device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype to train with on ``device``, or ``None`` for plain fp32.

    bf16 needs no loss scaling and is what Ampere and later GPUs do fast; on the
    CPU we stay in fp32 because bf16 matmuls there are slower on most machines.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def uses_channels_last(device: str | torch.device) -> bool:
    """Channels-last pays off with cuDNN's tensor-core kernels, not on the CPU."""
    return torch.device(device).type == "cuda"


@contextlib.contextmanager
def autocast(device: str | torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device``; a no-op when ``dtype`` is ``None``."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work (timings and ``.item()`` free points)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
