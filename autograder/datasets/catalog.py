"""What the cache can hold: each dataset's CLI name, torchvision folder and files.

The checksums are torchvision's own (``torchvision.datasets.MNIST.resources`` and friends,
copied here so that listing and seeding never import torch). CIFAR-10's are the ones
``CIFAR10._check_integrity`` insists on; the MNIST ones identify the original ``.gz``
downloads, which is how an IDX import tells MNIST from Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import DatasetError
from ..core.i18n import tr

MNIST_RAW = (
    "raw/train-images-idx3-ubyte",
    "raw/train-labels-idx1-ubyte",
    "raw/t10k-images-idx3-ubyte",
    "raw/t10k-labels-idx1-ubyte",
)
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"

CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

# md5 of the original downloads, keyed by file name, per torchvision class.
IDX_GZ_MD5 = {
    "MNIST": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset as the cache stores it: ``<cache>/<folder>/<files...>``."""

    name: str                 # CLI / manifest name, e.g. "mnist"
    folder: str               # torchvision's top-level entry under root, e.g. "MNIST"
    torchvision_class: str    # attribute of torchvision.datasets
    files: tuple[str, ...]    # required files, relative to folder


DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("mnist", "MNIST", "MNIST", MNIST_RAW),
    DatasetInfo("fashion-mnist", "FashionMNIST", "FashionMNIST", MNIST_RAW),
    DatasetInfo("cifar10", "cifar-10-batches-py", "CIFAR10",
                (*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META)),
)
NAMES = tuple(d.name for d in DATASETS)


def by_name(name: str) -> DatasetInfo:
    for info in DATASETS:
        if info.name == name:
            return info
    raise DatasetError(
        tr(ja=f"知らないデータセット名です: {name!r}", en=f"unknown dataset name: {name!r}"),
        where=name,
        hint=tr(ja=f"使える名前: {', '.join(NAMES)}", en=f"known names: {', '.join(NAMES)}"),
    )


def by_folder(folder: str) -> DatasetInfo:
    for info in DATASETS:
        if info.folder == folder:
            return info
    raise KeyError(folder)
