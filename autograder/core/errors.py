"""The one exception tree of dl-autograder.

Every error says *where* (file, cell, participant, key) and *what to do*. The CLI maps
each branch to an exit code (``exit_code``); library callers catch ``AutograderError``.

    AutograderError                      exit 1
    ├── ConfigError                      exit 2   bad manifest / settings (names file and key)
    ├── DatasetError                     exit 3   cache, fetch or import of a dataset failed
    ├── NotebookError                    exit 4   a notebook cannot be read or restored
    │   └── InvalidNotebook                       not a notebook / corrupt JSON / nbformat 3
    ├── SandboxError                     exit 5   the sandbox or kernel could not be started
    ├── BridgeError                      exit 6   a value from the kernel failed validation
    ├── GradebookError                   exit 7   the SQLite gradebook is unusable
    ├── IntakeError                      exit 8   a Moodle zip / submission folder is unusable
    │   └── UnsafeArchive                         traversal, symlink, zip bomb, duplicates
    ├── ExportError                      exit 9   a worksheet cannot be filled / written
    ├── HandGradingError                 exit 10  a review or adjustment cannot be recorded
    └── ClusterError                     exit 11  a Dask cluster cannot grade (no workers,
                                                  a worker lacks a dataset, versions differ)

Any other exception is a bug: the CLI shows it as one line with a hint to report it and
exits 70 (``cli.EXIT_BUG``).
"""

from __future__ import annotations


class AutograderError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" → {self.hint}")
        return "".join(parts)


class ConfigError(AutograderError):
    exit_code = 2


class DatasetError(AutograderError):
    exit_code = 3


class NotebookError(AutograderError):
    exit_code = 4


class InvalidNotebook(NotebookError):
    """The file is not a usable nbformat-4 notebook (status ``invalid``)."""


class SandboxError(AutograderError):
    exit_code = 5


class BridgeError(AutograderError):
    exit_code = 6


class GradebookError(AutograderError):
    exit_code = 7


class IntakeError(AutograderError):
    exit_code = 8


class UnsafeArchive(IntakeError):
    """An archive entry was refused for safety (traversal, link, bomb, duplicate)."""


class ExportError(AutograderError):
    exit_code = 9


class HandGradingError(AutograderError):
    """A hand grade or adjustment is out of range, or names nothing graded."""

    exit_code = 10


class ClusterError(AutograderError):
    """The Dask cluster cannot grade this batch (``grading/cluster/``); names the worker."""

    exit_code = 11
