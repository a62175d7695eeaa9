"""``grade --service``: hand a batch to the running grading service and follow it.

Imports only the wire and the result types: the point of the service is that this side
starts in a tenth of a second, not in the seconds a grader needs for torch and pytest.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..core.errors import ServiceError
from ..core.i18n import tr
from ..engine.tasks import TaskOutcome
from ..grading.summary import GradeSummary
from ..store.fingerprint import engine_version
from .protocol import (
    GradeRequest,
    RemoteError,
    default_socket,
    not_running,
    outcome_from,
    private_folder,
    receive,
    send,
    settings,
    summary_from,
)


def grade_via_service(*, request: GradeRequest, socket_path: Path | None = None,
                      on_start: Callable[[int], None] | None = None,
                      on_done: Callable[[TaskOutcome], None] | None = None) -> GradeSummary:
    """Grade ``request`` on the service at ``socket_path``: what ``grade`` returns."""
    with _connected(socket_path) as sock:
        send(sock, {"op": "grade", "version": engine_version(), "settings": settings(),
                    "args": asdict(request)})
        while True:
            message = _next(sock)
            event = message.get("event")
            if event == "start" and on_start:
                on_start(int(message["total"]))
            elif event == "done" and on_done:
                on_done(outcome_from(message["outcome"]))
            elif event == "summary":
                return summary_from(message["summary"])
            elif event == "error":
                raise RemoteError(str(message["message"]), exit_code=int(message["exit_code"]))


def service_status(*, socket_path: Path | None = None) -> dict[str, Any]:
    """The service's pid, engine version, batches graded, kept worker processes."""
    with _connected(socket_path) as sock:
        send(sock, {"op": "status"})
        return _next(sock)


def stop_service(*, socket_path: Path | None = None) -> None:
    """Ask the service to end (after the batch it is grading, if any)."""
    with _connected(socket_path) as sock:
        send(sock, {"op": "stop"})
        _next(sock)


@contextmanager
def _connected(socket_path: Path | None) -> Iterator[socket.socket]:
    path = socket_path or default_socket()
    private_folder(path.parent, create=False)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise not_running(path) from None
    with sock:
        yield sock


def _next(sock: socket.socket) -> dict[str, Any]:
    message = receive(sock)
    if message is None:
        raise ServiceError(tr(ja="採点サービスが採点の途中で終了しました",
                              en="the grading service ended during the batch"),
                           hint=tr(ja="記録済みの結果は残っています。同じコマンドをもう一度"
                                      "実行してください",
                                   en="what it recorded is kept: run the same command again"))
    return message
