"""The grader's own inputs: seeded generators, the MNIST test set, loaders in the kernel.

Every point rests on what the grader computes from its own data (docs/security.md): the
test set comes from the grader's dataset cache (``submission.data_dir``), never from
the student's loaders, and a loader the student's code must consume is built in the
kernel from tensors the grader chose (``kernel_loader``), so the grader knows exactly
which images it holds. torch and torchvision are imported only when a helper is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from .memo import once
from .outcomes import fail

if TYPE_CHECKING:
    import torch

    from ..engine.bridge.submission import Remote, Submission


def generator(seed: int) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``: inputs that depend on the seed alone,
    never on global RNG state (``torch.randn(3, generator=generator(7))``)."""
    import torch

    return torch.Generator().manual_seed(seed)


def mnist_test_pixels(submission: Submission) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set (``submission.data_dir``): 10,000 ``uint8`` images
    ``(N, 28, 28)`` and ``int64`` labels, read once per submission (``memo.once``).
    Treat them as read-only: the same tensors serve every check of the run."""

    def load() -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import datasets

        test = datasets.MNIST(root=str(submission.data_dir), train=False, download=False)
        return test.data, test.targets

    return once(submission, ("mnist_test_pixels",), load)


def mnist_train_pixels(submission: Submission, n: int | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` (default all 60,000) images of the grader's MNIST training set,
    ``uint8`` ``(n, 28, 28)``, and their ``int64`` labels, read once per submission."""

    def load() -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import datasets

        train = datasets.MNIST(root=str(submission.data_dir), train=True, download=False)
        return train.data[:n].clone(), train.targets[:n].clone()

    return once(submission, ("mnist_train_pixels", n), load)


def mnist_test(submission: Submission, *, mean: float = 0.0, std: float = 1.0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set as ``ToTensor()`` + ``Normalize((mean,), (std,))``
    give it: ``float32`` images ``(N, 1, 28, 28)`` (pixels / 255, then ``(x − mean) / std``)
    and ``int64`` labels; the defaults leave pixels / 255. Computed once per submission and
    normalisation; treat the tensors as read-only."""

    def normalise() -> tuple[torch.Tensor, torch.Tensor]:
        pixels, labels = mnist_test_pixels(submission)
        return pixels.unsqueeze(1).float().div(255).sub(mean).div(std), labels.clone()

    return once(submission, ("mnist_test", mean, std), normalise)


def random_subset(inputs: torch.Tensor, labels: torch.Tensor, n: int, *, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples drawn without replacement (``randperm`` from ``generator(seed)``),
    as new contiguous tensors."""
    import torch

    pick = torch.randperm(len(labels), generator=generator(seed))[:n]
    return inputs[pick].contiguous(), labels[pick].contiguous()


def kernel_loader(submission: Submission, inputs: torch.Tensor, labels: torch.Tensor, *,
                  batch_size: int) -> Remote:
    """A ``DataLoader`` (not shuffled) over ``TensorDataset(inputs, labels)``, built in the
    kernel with the notebook's own ``torch``, kept there as a handle to pass to a student
    function (``evaluate(model, loader)``). The grader keeps ``inputs`` and ``labels``:
    whatever the student's function reports about them can be checked against them.

    A notebook whose text assigns into ``torch.utils.data`` (``torch.utils.data.DataLoader
    = OneBatch``) would make the batches its own (red-team pass 4: a "loader" of one
    batch hid an evaluate that counts batches): the check then fails, read from the
    notebook's text by the grader (``NotebookSource.stored_library_paths``)."""
    _expect_library_loader(submission)
    dataset = submission.function(_DATASET)(inputs, labels)
    loader = submission.function(_LOADER)(dataset, batch_size=batch_size)
    return cast("Remote", loader)   # no loader is plain data: it comes back as a handle


_DATASET, _LOADER = "torch.utils.data.TensorDataset", "torch.utils.data.DataLoader"


def _expect_library_loader(submission: Submission) -> None:
    notebook = getattr(submission, "notebook", None)
    if notebook is None:
        return
    for stored in notebook.stored_library_paths():
        if any(path == stored or path.startswith(f"{stored}.") for path in (_DATASET, _LOADER)):
            fail(ja=f"ノートブックが {stored} を置き換えているので、採点側のデータローダを"
                    "作れません。ライブラリの関数やクラスに代入しないでください",
                 en=f"the notebook replaces {stored}, so the grader cannot build its loader; "
                    "do not assign to library functions or classes")


__all__ = ["generator", "kernel_loader", "mnist_test", "mnist_test_pixels", "random_subset"]
