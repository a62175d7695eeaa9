"""03_n / 03_h — MNIST with the lecture's fully connected ``Net`` and its CNN ``Net``.

Both networks are exactly seeds/001's (``MLPNet``: 784-784-784-10 with sigmoids;
``CNNNet``: conv 1→32→64, max-pool, fc 9216→128→10), both end in ``log_softmax`` and
are trained with ``F.nll_loss``; inputs are normalised with
``transforms.Normalize((0.5,), (1.0,))`` as in the lecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from torchvision import datasets, transforms

from autograder.core.errors import DatasetError

from .convolution import conv_output_size
from .device import resolve_device

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# One (image, label) item: torchvision's MNIST labels are ints, tensor_dataset's tensors.
_Sample = tuple[torch.Tensor | int, ...]

__all__ = [
    "CNNNet",
    "MLPNet",
    "compute_feature_shapes",
    "conv_output_size",
    "evaluate",
    "feature_shapes",
    "kernels_figure",
    "load_datasets",
    "make_loaders",
    "tensor_dataset",
    "train",
    "transform",
]

transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (1.0,))])

# Shapes after conv1, conv2 and pool for one 28×28 image (03_h's ``feature_shapes``).
feature_shapes: list[tuple[int, int, int]] = [(32, 26, 26), (64, 24, 24), (64, 12, 12)]


class MLPNet(nn.Module):
    """The lecture's fully connected ``Net`` (input ``(N, 784)``, output log-probabilities)."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(784, 784)
        self.l2 = nn.Linear(784, 784)
        self.l3 = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.sigmoid(self.l1(x))
        x = torch.sigmoid(self.l2(x))
        x = self.l3(x)
        return F.log_softmax(x, dim=1)


class CNNNet(nn.Module):
    """The lecture's CNN ``Net`` (input ``(N, 1, 28, 28)``, output log-probabilities)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)  # 28x28x1 -> 26x26x32
        self.conv2 = nn.Conv2d(32, 64, 3)  # 26x26x32 -> 24x24x64
        self.pool = nn.MaxPool2d(2, 2)  # 24x24x64 -> 12x12x64
        self.fc1 = nn.Linear(12 * 12 * 64, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = x.view(-1, 12 * 12 * 64)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def compute_feature_shapes(model: CNNNet | None = None, size: int = 28) -> list[tuple[int, ...]]:
    """Run one ``size×size`` image through conv1, conv2 and pool; return the three shapes."""
    net = model if model is not None else CNNNet()
    with torch.no_grad():
        x1 = net.conv1(torch.zeros(1, 1, size, size))
        x2 = net.conv2(x1)
        x3 = net.pool(x2)
    return [tuple(t.shape[1:]) for t in (x1, x2, x3)]


def load_datasets(data_root: str | Path, *, download: bool = True,
                  ) -> tuple[Dataset[_Sample], Dataset[_Sample]]:
    """torchvision's MNIST train (60,000) and test (10,000) sets with the lecture's transform."""
    try:
        train_set = datasets.MNIST(root=str(data_root), train=True, transform=transform,
                                   download=download)
        test_set = datasets.MNIST(root=str(data_root), train=False, transform=transform,
                                  download=download)
    except (RuntimeError, OSError) as exc:
        raise DatasetError(
            f"MNIST could not be loaded: {exc}",
            where=str(data_root),
            hint="run `autograder data fetch mnist` or `autograder data import mnist.pkl.gz`",
        ) from exc
    return train_set, test_set


def tensor_dataset(dataset: Any) -> TensorDataset:
    """A torchvision MNIST set as one normalised tensor ``(N, 1, 28, 28)`` plus labels.

    The values are bit-for-bit those of ``transform`` (``/255`` then ``−0.5``, ``/1.0``),
    but computed once instead of through PIL for every item of every epoch.
    """
    x = dataset.data.unsqueeze(1).float().div(255).sub(0.5).div(1.0)
    return TensorDataset(x, dataset.targets.clone())


def _subset(dataset: Dataset[_Sample], size: int | None, seed: int) -> Dataset[_Sample]:
    n = len(dataset)  # type: ignore[arg-type]
    if size is None or size >= n:
        return dataset
    g = torch.Generator().manual_seed(seed)
    return Subset(dataset, torch.randperm(n, generator=g)[:size].tolist())


def make_loaders(
    data_root: str | Path,
    batch_size: int,
    train_subset: int | None = None,
    *,
    test_batch_size: int = 1000,
    seed: int = 0,
    download: bool = True,
    num_workers: int = 0,
    in_memory: bool = False,
) -> tuple[DataLoader[_Sample], DataLoader[_Sample]]:
    """``(train_loader, test_loader)`` as in the lecture: shuffled train, ordered test.

    ``train_subset`` keeps that many training images (a seeded random choice);
    ``in_memory`` serves the same normalised tensors from memory (:func:`tensor_dataset`),
    which is much faster than PIL per image.
    """
    train_set, test_set = load_datasets(data_root, download=download)
    if in_memory:
        train_set, test_set = tensor_dataset(train_set), tensor_dataset(test_set)
    g = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(_subset(train_set, train_subset, seed), batch_size=batch_size,
                              shuffle=True, generator=g, num_workers=num_workers)
    test_loader = DataLoader(test_set, batch_size=test_batch_size, shuffle=False,
                             num_workers=num_workers)
    return train_loader, test_loader


def expects_flat(model: nn.Module) -> bool:
    """Whether ``model`` takes ``(N, 784)`` rows: its first layer with weights is a Linear."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return True
        if isinstance(module, nn.Conv2d | nn.Conv1d):
            return False
    return False


def _make_optimizer(
    model: nn.Module, optimizer: str | torch.optim.Optimizer, lr: float, momentum: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or a torch optimizer, got {optimizer!r}")


def train(
    model: nn.Module,
    loader: DataLoader[_Sample],
    epochs: int,
    lr: float,
    device: str | torch.device | None = None,
    optimizer: str | torch.optim.Optimizer = "sgd",
    *,
    momentum: float = 0.0,
    flatten: bool | None = None,
) -> list[float]:
    """The lecture's loop (``nll_loss`` on log-probabilities); returns each epoch's mean loss.

    ``flatten`` (default: :func:`expects_flat`) reshapes batches to ``(N, 784)`` as the
    lecture's ``input.view(-1, 28*28)``.
    """
    dev = resolve_device(device)
    model.to(dev).train()
    flat = expects_flat(model) if flatten is None else flatten
    opt = _make_optimizer(model, optimizer, lr, momentum)
    history: list[float] = []
    for _ in range(epochs):
        total, count = torch.zeros((), device=dev), 0
        for inputs, targets in loader:
            inputs, targets = inputs.to(dev), targets.to(dev)
            if flat:
                inputs = inputs.view(-1, 28 * 28)
            opt.zero_grad()
            batch_loss = F.nll_loss(model(inputs), targets)
            batch_loss.backward()
            opt.step()
            total += batch_loss.detach() * len(targets)
            count += len(targets)
        history.append(float(total) / max(count, 1))
    return history


def evaluate(
    model: nn.Module,
    loader: DataLoader[_Sample],
    *,
    device: str | torch.device | None = None,
    flatten: bool | None = None,
) -> float:
    """Fraction of correctly classified items of ``loader``, in [0, 1]."""
    dev = next(model.parameters()).device if device is None else torch.device(device)
    flat = expects_flat(model) if flatten is None else flatten
    model.to(dev).eval()
    correct, count = 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs = inputs.to(dev)
            if flat:
                inputs = inputs.view(-1, 28 * 28)
            pred = model(inputs).argmax(dim=1).cpu()
            correct += int((pred == targets).sum())
            count += len(targets)
    return correct / count if count else 0.0


def kernels_figure(model: CNNNet) -> Figure:
    """A 4×8 grid of conv1's 32 learned 3×3 kernels (03_h's ``kernels_figure``)."""
    from matplotlib.figure import Figure  # heavy: only when a figure is wanted

    weights = model.conv1.weight.detach().cpu()[:, 0]
    fig = Figure(figsize=(8, 4))
    axes = fig.subplots(4, 8)
    for i, ax in enumerate(axes.flat):
        ax.imshow(weights[i].numpy(), cmap="gray")
        ax.set_axis_off()
    fig.suptitle("conv1 kernels")
    return fig
