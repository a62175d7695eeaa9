"""14_n / 14_h — CIFAR-10: the 40k/10k split, a small CNN, the lecture's AlexNet.

Training is built for speed on a GPU without giving up correctness on the CPU: the whole
dataset sits on the device as uint8 (50,000 × 3 × 32 × 32 is 150 MB), each batch is
gathered, augmented (random crop with 4-pixel padding, horizontal flip) and normalised
there in a few batched tensor operations, the model runs channels-last under bf16
autocast on CUDA, and the host synchronises once per epoch. Nothing in the hot loop
touches PIL or a per-image Python transform.

Real CIFAR-10 is not reachable in every workplace: :func:`make_fake_cifar` makes a
learnable stand-in of the same shape and layout (``.data`` ``(N, 32, 32, 3)`` uint8,
``.targets``, per-item transforms) for tests and benchmarks, from the same generator as
14_n's offline ``FakeCIFAR10`` (:func:`fake_cifar_tensors` gives that notebook's images).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision import transforms

from .device import amp_dtype, autocast, resolve_device, uses_channels_last

# One item: (image, label), the image a PIL image or whatever the transform makes of it.
_Item = tuple[Any, int]

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "CLASSES",
    "AlexNet",
    "DeviceData",
    "SmallCNN",
    "SyntheticCIFAR10",
    "augment_batch",
    "confusion_matrix",
    "device_batches",
    "evaluate",
    "evaluate_loss_accuracy",
    "fake_cifar_item",
    "fake_cifar_tensors",
    "make_fake_cifar",
    "normalize_batch",
    "split_dataset",
    "test_transform",
    "to_device_data",
    "train_step",
    "train_transform",
    "train_with_history",
]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
# The PyTorch CIFAR-10 tutorial's normalisation, as in 14_n's notebook: pixels to [−1, 1].
CIFAR_MEAN = (0.5, 0.5, 0.5)
CIFAR_STD = (0.5, 0.5, 0.5)
PAD = 4  # random-crop padding, as torchvision's RandomCrop(32, padding=4)

train_transform = transforms.Compose([
    transforms.RandomCrop(32, padding=PAD),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
    transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
])
test_transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
])


def split_dataset(dataset: Any, seed: int = 0, *, val_size: int = 10_000,
                  ) -> tuple[Subset[_Item], Subset[_Item]]:
    """CIFAR-10's 50,000 training images → ``(train, val)`` of 40,000 and 10,000.

    Disjoint, and the same for the same ``seed`` (a seeded ``torch.Generator``).
    """
    n = len(dataset)
    if not 0 < val_size < n:
        raise ValueError(f"split_dataset: val_size must be in (0, {n}), got {val_size}")
    g = torch.Generator().manual_seed(seed)
    train, val = torch.utils.data.random_split(dataset, [n - val_size, val_size], generator=g)
    return train, val


class SmallCNN(nn.Module):
    """Three conv(3×3)-ReLU-maxpool stages (``width``, 2·``width``, 4·``width`` maps), two FCs."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * w * 4 * 4, 128), nn.ReLU(), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # nn.Module.__call__ is typed Any in torch; these layers return a tensor
        return cast(torch.Tensor, self.classifier(self.features(x)))


class AlexNet(nn.Module):
    """The lecture's AlexNet for 32×32 inputs (seeds/003), 36,051,786 parameters for 10 classes."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(256 * 4 * 4, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # reshape, not the deck's view: identical on contiguous input, and also works on
        # the channels-last feature maps of the fast path.
        x = x.reshape(x.size(0), 256 * 4 * 4)
        return cast(torch.Tensor, self.classifier(x))  # nn.Module.__call__ is typed Any


# --------------------------------------------------------------------------- fake data
#
# One generator, shared with 14_n's notebook (its ``FakeCIFAR10``): class ``k`` is a fixed
# smooth colour pattern (a 4×4 random field upsampled, seed 2024), each image is that
# pattern rolled by up to ±3 pixels plus Gaussian noise of std 0.5, clamped to [−1, 1]
# (the range after ``Normalize((0.5,)*3, (0.5,)*3)``). Image ``i`` depends only on
# ``(seed, i)``. The notebook uses seed 1 for its 50,000 training and seed 2 for its
# 10,000 test images.

FAKE_TRAIN_SEED = 1
FAKE_TEST_SEED = 2


def _prototypes() -> torch.Tensor:
    g = torch.Generator().manual_seed(2024)
    coarse = torch.randn(10, 3, 4, 4, generator=g)
    return F.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False) * 0.6


def fake_cifar_item(i: int, seed: int, prototypes: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Image ``i`` of the set with ``seed``: ``(3, 32, 32)`` floats in [−1, 1] and its label."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + i)
    label = int(torch.randint(0, 10, (1,), generator=g))
    dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=g))
    image = torch.roll(prototypes[label], shifts=(dy, dx), dims=(1, 2))
    image = image + 0.5 * torch.randn(3, 32, 32, generator=g)
    return image.clamp(-1.0, 1.0), label


def fake_cifar_tensors(
    n: int, *, train: bool = True, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images of the notebook's ``FakeCIFAR10``, normalised, and labels.

    ``(n, 3, 32, 32)`` float32 in [−1, 1] (as after ``test_transform``) and int64 labels;
    ``seed`` defaults to the notebook's (1 for training, 2 for the test set).
    """
    s = seed if seed is not None else (FAKE_TRAIN_SEED if train else FAKE_TEST_SEED)
    prototypes = _prototypes()
    images = torch.empty(n, 3, 32, 32)
    labels = torch.empty(n, dtype=torch.int64)
    for i in range(n):
        images[i], labels[i] = fake_cifar_item(i, s, prototypes)
    return images, labels


class SyntheticCIFAR10(Dataset[_Item]):
    """A stand-in for ``torchvision.datasets.CIFAR10``: same fields, same items.

    ``data`` is ``(N, 32, 32, 3)`` uint8 and ``targets`` a list of ints; an item is
    ``(transform(PIL image), target)`` exactly as torchvision's, so the same code (and
    :func:`to_device_data`) serves both.
    """

    classes: ClassVar[list[str]] = list(CLASSES)

    def __init__(
        self, data: np.ndarray, targets: list[int], transform: Callable[[Any], Any] | None = None
    ) -> None:
        self.data = data
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> _Item:
        img: Any = Image.fromarray(self.data[index])
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]


def make_fake_cifar(
    n: int, seed: int = FAKE_TRAIN_SEED, *, transform: Callable[[Any], Any] | None = None
) -> SyntheticCIFAR10:
    """``n`` learnable images of CIFAR-10's shape and storage (uint8 pixels, 10 classes).

    The notebook's generator (see above) quantised to pixels ``round((v + 1) / 2 · 255)``,
    so ``test_transform`` gives back its values to within 1/255.
    """
    images, labels = fake_cifar_tensors(n, seed=seed)
    pixels = ((images + 1.0) * 127.5).round().to(torch.uint8)
    data = pixels.permute(0, 2, 3, 1).contiguous().numpy()
    return SyntheticCIFAR10(data, labels.tolist(), transform)


# ------------------------------------------------------------ device-resident fast path

@dataclass
class DeviceData:
    """A whole image set on one device: ``images`` ``(N, 3, 32, 32)`` uint8, ``labels`` int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device


def _uint8_nchw(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw uint8 images ``(N, 3, H, W)`` and labels of a CIFAR-like set, bypassing transforms."""
    if isinstance(dataset, Subset):
        images, labels = _uint8_nchw(dataset.dataset)
        idx = torch.as_tensor(list(dataset.indices), dtype=torch.int64)
        return images[idx], labels[idx]
    data = getattr(dataset, "data", None)
    if data is not None and hasattr(dataset, "targets") and np.ndim(data) == 4:
        # torchvision's CIFAR10 and SyntheticCIFAR10: (N, H, W, C) uint8 pixels
        images = torch.as_tensor(np.asarray(dataset.data)).permute(0, 3, 1, 2)
        return images, torch.as_tensor(list(dataset.targets), dtype=torch.int64)
    if isinstance(dataset, TensorDataset) and dataset.tensors[0].dtype == torch.uint8:
        return dataset.tensors[0], dataset.tensors[1].to(torch.int64)
    raise TypeError(
        "to_device_data needs torchvision's CIFAR10 (or SyntheticCIFAR10), a Subset of one, or a "
        f"TensorDataset of uint8 (N, 3, 32, 32) images; got {type(dataset).__name__}"
    )


def to_device_data(dataset: Any, device: str | torch.device | None = None) -> DeviceData:
    """Put a CIFAR-like set (or a ``Subset`` of one) on ``device`` as raw uint8 tensors."""
    if isinstance(dataset, DeviceData):
        dev = resolve_device(device) if device is not None else dataset.device
        return DeviceData(dataset.images.to(dev), dataset.labels.to(dev))
    dev = resolve_device(device)
    images, labels = _uint8_nchw(dataset)
    return DeviceData(images.contiguous().to(dev), labels.to(dev))


def augment_batch(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random 32×32 crop of the zero-padded image and random horizontal flip, per image.

    The batched equivalent of ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``
    on uint8 ``(B, C, H, W)``: one gather for every crop at once.
    """
    b, c, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (PAD, PAD, PAD, PAD))
    dy = torch.randint(0, 2 * PAD + 1, (b, 1), device=dev, generator=generator)
    dx = torch.randint(0, 2 * PAD + 1, (b, 1), device=dev, generator=generator)
    flip = torch.rand(b, 1, device=dev, generator=generator) < 0.5
    cols = torch.arange(w, device=dev)
    cols = torch.where(flip, w - 1 - cols, cols)  # a flip is a reversed column order
    rows = (dy + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx + cols)[:, None, None, :]
    batch = torch.arange(b, device=dev)[:, None, None, None]
    chans = torch.arange(c, device=dev)[None, :, None, None]
    return padded[batch, chans, rows, cols]


@functools.lru_cache(maxsize=8)
def _norm_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as ``(1, 3, 1, 1)`` tensors, made once per device (no copy per batch)."""
    mean = torch.tensor(CIFAR_MEAN, device=device).view(1, 3, 1, 1)
    return mean, torch.tensor(CIFAR_STD, device=device).view(1, 3, 1, 1)


def normalize_batch(
    images: torch.Tensor, *, channels_last: bool = False, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` → ``(x/255 − mean)/std`` as ``test_transform`` computes it."""
    mean, std = _norm_constants(images.device)
    x = images.to(torch.float32).div_(255).sub_(mean).div_(std).to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# ------------------------------------------------------------------ training and eval

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class _Plan:
    """How batches are made and computed on one device."""

    device: torch.device
    amp: torch.dtype | None
    channels_last: bool


def device_batches(
    data: DeviceData, batch_size: int, *, augment: bool = False,
    generator: torch.Generator | None = None, channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised ``(x, y)`` batches made on ``data``'s device.

    With a ``generator`` the order is shuffled (and augmentation drawn) from it; without
    one the order is the stored one.
    """
    n = len(data)
    order = (torch.randperm(n, device=data.device, generator=generator) if generator is not None
             else torch.arange(n, device=data.device))
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        images = data.images[idx]
        if augment:
            images = augment_batch(images, generator)
        yield normalize_batch(images, channels_last=channels_last), data.labels[idx]


def _batches(
    source: DeviceData | Batches, plan: _Plan, batch_size: int, *, train: bool,
    augment: bool = False, generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches on ``plan.device`` from device data (fast path) or any loader of (x, y)."""
    if isinstance(source, DeviceData):
        yield from device_batches(source, batch_size, augment=augment and train,
                                  generator=generator if train else None,
                                  channels_last=plan.channels_last)
        return
    memory = torch.channels_last if plan.channels_last else torch.contiguous_format
    for x, y in source:
        x = x.to(plan.device, non_blocking=True).contiguous(memory_format=memory)
        yield x, y.to(plan.device, non_blocking=True)


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
    *, amp: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on ``(x, y)``; returns the summed loss and correct count (on device)."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device, amp):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    return loss.detach() * len(y), (logits.argmax(dim=1) == y).sum()


def _predict_batches(
    model: nn.Module, source: DeviceData | Batches, plan: _Plan, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(logits in fp32, labels)`` per batch, in eval mode and without gradients."""
    model.eval()
    with torch.no_grad():
        for x, y in _batches(source, plan, batch_size, train=False):
            with autocast(plan.device, plan.amp):
                logits = model(x)
            yield logits.float(), y


Amp = bool | torch.dtype | None


def _plan(device: str | torch.device | None, amp: Amp, channels_last: bool | None) -> _Plan:
    """``amp``: ``None``/``True`` the device's best, ``False`` fp32, a dtype forces it."""
    dev = resolve_device(device)
    if isinstance(amp, torch.dtype):
        dtype: torch.dtype | None = amp
    else:
        dtype = amp_dtype(dev) if amp is None or amp else None
    cl = uses_channels_last(dev) if channels_last is None else channels_last
    return _Plan(dev, dtype, cl)


def _prepare(model: nn.Module, plan: _Plan) -> nn.Module:
    model.to(plan.device)
    if plan.device.type == "cuda":
        # fixed 32×32 shapes: let cuDNN pick its fastest kernels once
        torch.backends.cudnn.benchmark = True
    if plan.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _model_plan(model: nn.Module, device: str | torch.device | None) -> _Plan:
    dev = next(model.parameters()).device if device is None else torch.device(device)
    return _plan(dev, None, None)


def _as_source(data: Any, plan: _Plan) -> DeviceData | Batches:
    """Datasets go to the device whole; loaders (any iterable of batches) stay as they are."""
    if isinstance(data, DeviceData):
        return data if data.device == plan.device else to_device_data(data, plan.device)
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        return to_device_data(data, plan.device)
    # anything else the caller passed: a loader, taken to yield (x, y) batches as documented
    return cast(Batches, data)


def evaluate_loss_accuracy(
    model: nn.Module, data: Any, *, batch_size: int = 1000, device: str | torch.device | None = None
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on a dataset, device data or loader."""
    plan = _model_plan(model, device)
    return _evaluate_source(model, _as_source(data, plan), plan, batch_size)


def _evaluate_source(
    model: nn.Module, source: DeviceData | Batches, plan: _Plan, batch_size: int
) -> tuple[float, float]:
    total = torch.zeros((), device=plan.device)
    correct = torch.zeros((), device=plan.device, dtype=torch.int64)
    count = 0
    for logits, y in _predict_batches(model, source, plan, batch_size):
        total += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
        count += len(y)
    return float(total) / max(count, 1), int(correct) / max(count, 1)


def evaluate(
    model: nn.Module, data: Any, *, batch_size: int = 1000, device: str | torch.device | None = None
) -> float:
    """Accuracy in [0, 1] of ``model`` on a dataset, device data or loader."""
    return evaluate_loss_accuracy(model, data, batch_size=batch_size, device=device)[1]


def confusion_matrix(
    model: nn.Module, loader: Any, num_classes: int = 10, *,
    device: str | torch.device | None = None, batch_size: int = 1000,
) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts on the CPU: rows true, columns predicted."""
    plan = _model_plan(model, device)
    counts = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=plan.device)
    for logits, y in _predict_batches(model, _as_source(loader, plan), plan, batch_size):
        pred = logits.argmax(dim=1)
        counts += torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).cpu()


def _make_optimizer(
    model: nn.Module, name: str, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _train_epoch(
    model: nn.Module, optimizer: torch.optim.Optimizer, source: DeviceData | Batches,
    plan: _Plan, batch_size: int, *, augment: bool, generator: torch.Generator,
) -> tuple[float, float]:
    model.train()
    total = torch.zeros((), device=plan.device)
    correct = torch.zeros((), device=plan.device, dtype=torch.int64)
    count = 0
    for x, y in _batches(source, plan, batch_size, train=True, augment=augment,
                         generator=generator):
        loss_sum, n_correct = train_step(model, optimizer, x, y, amp=plan.amp)
        total += loss_sum
        correct += n_correct
        count += len(y)
    # the only host synchronisation of the epoch
    return float(total) / max(count, 1), int(correct) / max(count, 1)


def train_with_history(
    model: nn.Module,
    train_data: Any,
    val_data: Any,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 0.01,
    device: str | torch.device | None = None,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    augment: bool = True,
    amp: Amp = None,
    channels_last: bool | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` and return ``{train_loss, val_loss, train_acc, val_acc}`` per epoch.

    ``train_data``/``val_data``: datasets (moved to the device whole, augmented there when
    ``augment``), :class:`DeviceData`, or loaders of ``(x, y)`` (used as given: their own
    transforms apply). ``amp``/``channels_last``: ``None`` = the device's best (bf16 and
    channels-last on CUDA, fp32 and NCHW on the CPU); ``amp`` may also name a dtype to
    force autocast (bf16 on the CPU, say). ``on_epoch(epoch, history)`` is
    called after each epoch.
    """
    plan = _plan(device, amp, channels_last)
    _prepare(model, plan)
    train_src, val_src = _as_source(train_data, plan), _as_source(val_data, plan)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    generator = torch.Generator(device=plan.device).manual_seed(seed)
    history: dict[str, list[float]] = {k: [] for k in
                                       ("train_loss", "val_loss", "train_acc", "val_acc")}
    for epoch in range(epochs):
        tr_loss, tr_acc = _train_epoch(model, opt, train_src, plan, batch_size,
                                       augment=augment, generator=generator)
        val_loss, val_acc = _evaluate_source(model, val_src, plan, 1000)
        for key, value in zip(history, (tr_loss, val_loss, tr_acc, val_acc), strict=True):
            history[key].append(value)
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
