"""The dataset cache: one directory laid out the way torchvision expects.

``torchvision.datasets.MNIST(root=CACHE, download=True)`` (and ``FashionMNIST``,
``CIFAR10``) finds what ``fetch`` or ``import_archives`` put there and downloads nothing.
The cache is the ``cache`` argument, else ``$AUTOGRADER_DATA``, else
``<user cache dir>/dl-autograder/data`` (``autograder.core.paths.data_dir``).

- ``fetch(name=)``            download with torchvision (needs the internet)
- ``import_archives(paths=)`` offline: MNIST IDX files, ``mnist.pkl.gz``, ``cifar-10-python.tar.gz``
- ``list_cache()`` / ``print_listing(rows)``  what the cache holds
- ``seed_entries()``          what the sandbox binds read-only where notebooks look

Importing this package loads neither torch nor numpy.
"""

from __future__ import annotations

from .catalog import DATASETS, NAMES, DatasetInfo
from .fetching import fetch
from .importer import Imported, import_archives
from .listing import CacheEntry, list_cache, print_listing, seed_entries

__all__ = [
    "DATASETS",
    "NAMES",
    "CacheEntry",
    "DatasetInfo",
    "Imported",
    "fetch",
    "import_archives",
    "list_cache",
    "print_listing",
    "seed_entries",
]
