"""The grading service's wire: a Unix socket of the instructor's own, JSON frames.

Only the user who started the service may use it: the socket sits in a folder of that
user's (mode 0700, checked, never followed through a link), is itself 0600, and the
server checks every connection's peer uid (``SO_PEERCRED``). Frames are a 4-byte length
and a JSON object (never pickle: a frame is data, whoever wrote it). What the client
sends is what it would have passed to ``grade`` itself, with every path made absolute
and every default resolved on its side, plus what must match for the service's result
to be the one a local run would give: the engine's code (``engine_version``) and the
environment that changes how kernels run (``SETTINGS``).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AutograderError, ServiceError
from ..core.i18n import tr
from ..core.results import Notice, Status
from ..engine.tasks import TaskOutcome
from ..grading.summary import GradeSummary

MAX_FRAME = 64 << 20  # a summary of 20,000 submissions is a few MB
SOCKET_ENV = "AUTOGRADER_SERVICE"
# what the server reads from its own environment while grading: a client whose values
# differ would get another grader's result
# (HOME and XDG_CACHE_HOME: where the dataset cache is when AUTOGRADER_DATA is unset)
SETTINGS = ("AUTOGRADER_SANDBOX", "AUTOGRADER_FORK", "AUTOGRADER_KERNEL_LIMITS",
            "AUTOGRADER_DATA", "HOME", "XDG_CACHE_HOME", "TMPDIR", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS")


class RemoteError(AutograderError):
    """The service's own ``AutograderError`` for this batch, with its exit code."""

    def __init__(self, message: str, *, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def default_socket() -> Path:
    """``$AUTOGRADER_SERVICE``, else ``~/.cache/autograder/service/grader.sock``."""
    env = os.environ.get(SOCKET_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "autograder" / "service" / "grader.sock"


def private_folder(path: Path, *, create: bool) -> None:
    """``path`` is a real folder of this user's that nobody else may enter."""
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise not_running(path) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() \
            or info.st_mode & 0o077:
        raise ServiceError(tr(ja="サービスのフォルダが、このユーザーだけのフォルダではありません",
                              en="the service's folder is not a private folder of this user"),
                           where=str(path), hint=other_socket())


def not_running(path: Path) -> ServiceError:
    return ServiceError(tr(ja="採点サービスが起動していません",
                           en="no grading service is running here"), where=str(path),
                        hint=tr(ja="起動してください: autograder serve",
                                en="start one: autograder serve"))


def other_socket() -> str:
    return tr(ja="取り除くか、別のソケットを指定してください (--socket)",
              en="remove it, or choose another socket (--socket)")


def settings() -> dict[str, str]:
    return {name: os.environ.get(name, "") for name in SETTINGS}


def send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    data = json.dumps(message, ensure_ascii=False).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next frame; None when the other side closed the connection."""
    head = _exactly(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ServiceError(tr(ja=f"{size} バイトのフレームは上限を超えています",
                              en=f"a frame of {size} bytes is over the limit"))
    body = _exactly(sock, size)
    if body is None:
        raise ServiceError(tr(ja="フレームの途中で接続が切れました",
                              en="the connection ended in the middle of a frame"))
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ServiceError(tr(ja="フレームが JSON オブジェクトではありません",
                              en="a frame is not a JSON object"))
    return message


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class GradeRequest:
    """``grade``'s arguments as plain data (paths absolute, defaults resolved)."""

    assignment_id: str
    submissions: tuple[str, ...]
    out: str
    gradebook: str
    assignments_root: str
    lang: str
    jobs: int = 1
    gpus: tuple[int, ...] = ()
    regrade: bool = False
    keep_stale: bool = False
    params: dict[str, bool | int | float | str] = field(default_factory=dict)
    data_dir: str | None = None
    team_submission: bool | None = None
    fork: bool | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GradeRequest:
        fields = dict(data)
        fields["submissions"] = tuple(fields.get("submissions", ()))
        fields["gpus"] = tuple(fields.get("gpus", ()))
        return cls(**fields)

    def grade_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``grading.batch.grade``."""
        return {"assignment_id": self.assignment_id,
                "submissions": [Path(p) for p in self.submissions], "out": Path(self.out),
                "gradebook": Path(self.gradebook), "jobs": self.jobs, "gpus": self.gpus,
                "regrade": self.regrade, "keep_stale": self.keep_stale,
                "params": self.params or None, "lang": self.lang,
                "assignments_root": Path(self.assignments_root),
                "data_dir": Path(self.data_dir) if self.data_dir else None,
                "team_submission": self.team_submission, "fork": self.fork}


def outcome_json(outcome: TaskOutcome) -> dict[str, Any]:
    return {**asdict(outcome), "status": outcome.status.value}


def outcome_from(data: Mapping[str, Any]) -> TaskOutcome:
    return TaskOutcome(**{**data, "status": Status(data["status"])})


def summary_json(summary: GradeSummary) -> dict[str, Any]:
    return {"assignment": summary.assignment, "submission_ids": summary.submission_ids,
            "graded_now": [outcome_json(o) for o in summary.graded_now],
            "skipped": summary.skipped, "stale": summary.stale,
            "stale_kept": summary.stale_kept, "provisional": summary.provisional,
            "results_csv": _text(summary.results_csv),
            "results_json": _text(summary.results_json),
            "messages": [asdict(n) for n in summary.messages]}


def summary_from(data: Mapping[str, Any]) -> GradeSummary:
    return GradeSummary(
        data["assignment"], list(data["submission_ids"]),
        graded_now=[outcome_from(o) for o in data["graded_now"]],
        skipped=data["skipped"], stale=data["stale"], stale_kept=data["stale_kept"],
        provisional=data["provisional"], results_csv=_path(data["results_csv"]),
        results_json=_path(data["results_json"]),
        messages=[Notice(**n) for n in data["messages"]])


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def absolute(paths: Sequence[Path]) -> tuple[str, ...]:
    return tuple(str(Path(p).absolute()) for p in paths)
