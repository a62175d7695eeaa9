"""The one exception tree of dl-autograder.

Every error says *where* (file, cell, participant, key) and *what to do*. The CLI maps
each branch to an exit code (``exit_code``); library callers catch ``AutograderError``.
The branches are defined here; a subclass defined elsewhere (it needs that module's
context) is listed with its module, relative to ``autograder/``.

    AutograderError                      exit 1
    ├── ConfigError                      exit 2   bad manifest / settings (names file and key)
    ├── DatasetError                     exit 3   cache, fetch or import of a dataset failed
    ├── NotebookError                    exit 4   a notebook cannot be read or restored
    │   └── InvalidNotebook                       not a notebook / corrupt JSON / nbformat 3
    │       └── NotebookReadError                 core/notebooks.py: with a reason ``code``
    ├── SandboxError                     exit 5   the sandbox or kernel could not be started
    │   └── ZygoteError                           engine/kernel/zygote.py: the kernel template
    │                                             failed (the worker spawns kernels instead)
    ├── BridgeError                      exit 6   a value from the kernel failed validation
    │   └── _StudentFacing                        engine/bridge/_errors.py (private base): a
    │       │                                     bridge failure with a message for the
    │       │                                     student (``student_message(lang)``)
    │       ├── NotPlainData                      the value is not plain data
    │       ├── ValueTooLarge                     the value is over the bridge's limits
    │       ├── SourceUnavailable                 no definition in the notebook's text
    │       ├── AutogradOn                        a call to run with autograd switched off
    │       │                                     could not be (the kernel tampered with)
    │       ├── BridgeTimeout                     no answer in time
    │       └── KernelDead                        the kernel died or is unreachable
    │                                             (later requests fail at once)
    ├── GradebookError                   exit 7   the SQLite gradebook is unusable
    ├── IntakeError                      exit 8   a Moodle zip / submission folder is unusable
    │   └── UnsafeArchive                         traversal, symlink, zip bomb, duplicates
    ├── ExportError                      exit 9   a worksheet cannot be filled / written
    ├── HandGradingError                 exit 10  a review or adjustment cannot be recorded
    ├── ClusterError                     exit 11  a Dask cluster cannot grade (no workers,
    │   │                                         a worker lacks a dataset, versions differ)
    │   └── GradingProcessDied                    grading/cluster/worker.py: a slot process
    │                                             died (Dask retries the task once)
    ├── ServiceError                     exit 12  the grading service cannot be reached or
    │                                             refused the batch (other code/settings)
    ├── RemoteError                      (theirs) service/protocol.py: the service's own
    │                                             error for this batch, with its exit code
    └── StudentError                     exit 1   engine/bridge/_errors.py: student code
        │                                         raised during a grader call (only the
        │                                         built-in exception type is shown)
        ├── MissingName                           the notebook does not define a name
        ├── NotCallable                           the name is not a function
        ├── NotAModel                             the name is not a ``torch.nn.Module``
        └── ModelOutputError                      the model's output is not one tensor
                                                  with a row per input

The bridge errors (``StudentError`` and the ``_StudentFacing`` family) are raised by the
grader's side of the submission API for what the student's notebook or kernel did: a
check (or in-notebook test cell) that meets one fails with its ``student_message(lang)``
(``checks/outcomes.py``). All but the private base are importable from
``autograder.engine.bridge`` (``StudentError`` and ``SourceUnavailable`` also from
``autograder.checks``).

Outside the tree, on purpose (control flow, never shown as an error of the package):
``checks/outcomes.py``: ``CheckFailed`` (an ``AssertionError``: a check's failure with
its message), ``Partial`` (a check ends with part of its points), ``CheckTimeout`` (a
``BaseException``, so a check's ``except Exception`` cannot swallow it);
``checks/budget.py``: ``BudgetUsedUp``; ``cli/__init__.py``: ``Stopped`` (a
``KeyboardInterrupt``: SIGINT/SIGTERM unwinding the command);
``engine/kernel/channel.py``: ``ChannelBroken`` (the bridge channel turned bad; the
bridge then sees a dead kernel, ``KernelDead``); ``moodle/safezip.py``: ``_Refused``
(one archive entry refused, recorded as a ``RefusedEntry``).

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


class ServiceError(AutograderError):
    """The grading service cannot be reached, or refused the batch (``service/``)."""

    exit_code = 12
