"""``autograder serve``: grade the batches sent to a Unix socket, one at a time.

The batches run in this process's main thread, exactly as ``grade`` runs them, with the
local pool's workers taken from one ``WarmPool`` that outlives them: the first batch
starts the workers and their templates, later ones of the same assignment and options
find them running (a batch with other options replaces them). A client that leaves
mid-batch (Ctrl-C) stops its batch at the next finished submission, as Ctrl-C stops a
local one: what was recorded stays, the workers are ended and started afresh for the
next batch. The service ends on SIGINT/SIGTERM or on a ``stop`` request.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AutograderError, ServiceError
from ..core.i18n import Lang, tr
from ..engine.pool import WarmPool
from ..engine.tasks import TaskOutcome
from ..grading.batch import grade
from ..store.fingerprint import engine_version
from .protocol import (
    GradeRequest,
    default_socket,
    other_socket,
    outcome_json,
    private_folder,
    receive,
    send,
    settings,
    summary_json,
)

EXIT_BUG = 70
REQUEST_TIMEOUT_S = 30  # a connection that sends no request is dropped


class ClientGone(Exception):
    """The client closed its connection during its batch."""


@dataclass
class _State:
    version: str
    settings: dict[str, str]
    warm: WarmPool = field(default_factory=WarmPool)
    batches: int = 0


def serve(*, socket_path: Path | None = None,
          on_event: Callable[[str], None] | None = None) -> int:
    """Serve until SIGINT/SIGTERM or a ``stop`` request; return the batches graded."""
    path = socket_path or default_socket()
    log = on_event or (lambda text: None)
    private_folder(path.parent, create=True)
    listener = _listen(path)
    state = _State(engine_version(), settings())
    log(tr(ja=f"{path} で待ち受けています (エンジン {state.version}、pid {os.getpid()})",
           en=f"listening on {path} (engine {state.version}, pid {os.getpid()})"))
    try:
        while True:
            conn, _ = listener.accept()
            with conn:
                if not _handle(conn, state, log):
                    break
    finally:
        state.warm.close()
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return state.batches


def _listen(path: Path) -> socket.socket:
    """A listening socket at ``path``; a socket file left by a service that died is
    replaced, a running service is not."""
    if path.exists() or path.is_symlink():
        if not path.is_socket() or path.is_symlink():
            raise ServiceError(tr(ja="ソケットではないものがその場所にあります",
                                  en="something else than a socket is in the way"),
                               where=str(path), hint=other_socket())
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # nobody listens: left by a service that was killed
            else:
                raise ServiceError(tr(ja="採点サービスがすでにここで動いています",
                                      en="a grading service already listens here"),
                                   where=str(path),
                                   hint=tr(ja="それを使うか (grade --service)、止めてください:"
                                              " autograder serve --stop",
                                           en="use it (grade --service), or stop it:"
                                              " autograder serve --stop"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is never, not even for a moment, open to others
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    listener.listen(16)
    return listener


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _handle(conn: socket.socket, state: _State, log: Callable[[str], None]) -> bool:
    """Answer one connection; False when it asked the service to stop."""
    if peer_uid(conn) != os.geteuid():
        log(tr(ja=f"uid {peer_uid(conn)} からの接続を断りました",
               en=f"refused a connection of uid {peer_uid(conn)}"))
        return True
    conn.settimeout(REQUEST_TIMEOUT_S)
    try:
        request = receive(conn)
    except (OSError, ValueError, ServiceError) as exc:
        log(tr(ja=f"接続を切りました: {exc}", en=f"dropped a connection: {exc}"))
        return True
    conn.settimeout(None)
    op = (request or {}).get("op")
    if op == "stop":
        _reply(conn, {"event": "stopping"})
        log(tr(ja="クライアントの指示で止まります", en="stopped by a client"))
        return False
    if op == "status":
        _reply(conn, {"event": "status", **_status(state)})
    elif op == "grade" and request is not None:
        _grade(conn, request, state, log)
    return True


def _status(state: _State) -> dict[str, Any]:
    options = state.warm.options
    return {"pid": os.getpid(), "version": state.version, "batches": state.batches,
            "workers": state.warm.worker_pids(),
            "jobs": options.jobs if options is not None else 0}


def _grade(conn: socket.socket, request: dict[str, Any], state: _State,
           log: Callable[[str], None]) -> None:
    try:
        args = _checked(request, state)
        summary = grade(**args.grade_kwargs(), warm=state.warm,
                        on_start=lambda n: _send(conn, {"event": "start", "total": n}),
                        on_done=lambda o: _done(conn, o))
    except ClientGone:
        log(tr(ja="クライアントが切断したので、そのバッチを止めました"
                  " (記録済みの結果は残っています)",
               en="the client left: its batch was stopped (what was recorded is kept)"))
        return
    except AutograderError as exc:
        _reply(conn, {"event": "error", "exit_code": exc.exit_code, "message": exc.render()})
        return
    except Exception as exc:  # a bug: said to the client, the service goes on
        log(traceback.format_exc())
        _reply(conn, {"event": "error", "exit_code": EXIT_BUG,
                      "message": f"{type(exc).__name__}: {exc}"})
        return
    state.batches += 1
    log(tr(ja=f"{args.assignment_id}: {len(summary.graded_now)} 件採点、{summary.skipped} 件"
              f"省略 ({args.out})",
           en=f"{args.assignment_id}: {len(summary.graded_now)} graded,"
              f" {summary.skipped} skipped ({args.out})"))
    _reply(conn, {"event": "summary", "summary": summary_json(summary)})


def _checked(request: dict[str, Any], state: _State) -> GradeRequest:
    """The request's arguments, once the service is sure to grade as the client would
    (refusals in the client's language)."""
    args = request.get("args")
    lang: Lang = "en" if isinstance(args, dict) and args.get("lang") == "en" else "ja"
    if request.get("version") != state.version:
        raise ServiceError(
            tr(lang, ja=f"サービスはこのコマンドと違うコードで動いています (サービス"
                        f" {state.version}、ここ {request.get('version')})",
               en=f"the service runs other code ({state.version}) than this client"
                  f" ({request.get('version')})"),
            hint=tr(lang, ja="更新の後はサービスを起動し直してください: autograder serve --stop;"
                             " autograder serve",
                    en="restart the service after an update: autograder serve --stop; "
                       "autograder serve"))
    theirs = request.get("settings") or {}
    differ = sorted(k for k, v in state.settings.items() if theirs.get(k, "") != v)
    if differ:
        values = ", ".join(f"{k}={state.settings[k]!r} ({tr(lang, ja='ここ', en='here')}"
                           f" {theirs.get(k, '')!r})" for k in differ)
        raise ServiceError(
            tr(lang, ja=f"サービスは違う設定で起動されています: {values}",
               en=f"the service was started with other settings: {values}"),
            hint=tr(lang, ja="この環境でサービスを起動するか、--service なしで採点してください",
                    en="start the service with this environment, or grade without"
                       " --service"))
    try:
        return GradeRequest.from_json(request["args"])
    except (KeyError, TypeError) as exc:
        raise ServiceError(tr(lang, ja=f"要求の形が正しくありません ({exc})",
                              en=f"a malformed request ({exc})")) from None


def _done(conn: socket.socket, outcome: TaskOutcome) -> None:
    _send(conn, {"event": "done", "outcome": outcome_json(outcome)})


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        send(conn, message)
    except OSError:
        raise ClientGone() from None


def _reply(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a client gone by now misses only its answer
        send(conn, message)
