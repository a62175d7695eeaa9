"""The grader's side of the submission API: plain data across the kernel boundary.

The public face is ``Submission`` (the checks' ``submission`` fixture), the handles it
returns (``Remote``, ``RemoteModel``) and the errors a check may meet. Private modules:
``_errors.py`` (limits and errors), ``_remote.py`` (handles on kernel objects),
``_wire.py`` (the JSON + ``.npy`` wire format), ``_client.py`` (one request's cycle:
send, wait, read and check the answer), ``_operations.py`` (the requests behind the
handles and ``Submission``'s entry points); ``submission.py`` holds ``Submission`` and
re-exports the names checks import; ``notebook_source.py`` reads definitions from the
notebook's text. The kernel-side half is ``engine/kernel/sandbox_files/ag_bridge.py``
(with ``ag_requests.py`` and ``ag_wire.py``).
"""

from .submission import (
    AutogradOn,
    BridgeLimits,
    BridgeTimeout,
    KernelDead,
    MissingName,
    ModelOutputError,
    ModuleInfo,
    NotAModel,
    NotCallable,
    NotPlainData,
    Remote,
    RemoteFunction,
    RemoteModel,
    SourceUnavailable,
    StudentError,
    Submission,
    ValueTooLarge,
)

__all__ = [
    "AutogradOn",
    "BridgeLimits",
    "BridgeTimeout",
    "KernelDead",
    "MissingName",
    "ModelOutputError",
    "ModuleInfo",
    "NotAModel",
    "NotCallable",
    "NotPlainData",
    "Remote",
    "RemoteFunction",
    "RemoteModel",
    "SourceUnavailable",
    "StudentError",
    "Submission",
    "ValueTooLarge",
]
