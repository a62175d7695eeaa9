"""The grader's end of a kernel's bridge channel (kernel side: ``sandbox_files/ag_channel``).

Every kernel inherits one end of a unix socket pair (``AG_BRIDGE_FD``); a bridge request
goes down it as one frame and the kernel answers with a "done" frame, about a hundred
times faster than an ``execute_request``. A small answer rides in that frame, after its
JSON header and a newline (``Reply.answer``); a larger one is in the exchange folder.
Either way the answer's bytes are validated exactly as before (``engine/bridge/``): the
frame is as untrusted as the file.

The kernel's end is in the student's process, so what comes up the channel is treated as
hostile: frames are bounded (``MAX_REPLY``, headers ``MAX_HEADER``), matched to the request
id, a bounded number of stray frames is skipped, and nothing is ever read without a
deadline. A channel that misbehaves is closed for good (``broken``); the kernel is then
treated as unreachable.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct(">I")
MAX_HEADER = 4096           # a reply's header is {"rid": ..., "ok": ..., "inline": ...}
MAX_REPLY = 64 << 10        # the header, a newline and an inline answer (kernel: 60 KiB)
MAX_STRAY = 1 << 20         # bytes of frames for other requests skipped per request
MAX_REQUEST = 64 << 20      # the largest request frame the kernel reads (ag_channel.MAX_FRAME)
_POLL_S = 0.1               # how often a wait looks whether the kernel is still alive


@dataclass(frozen=True)
class Reply:
    ok: bool
    answer: bytes | None = None   # the answer, where the frame carried it (untrusted)


class ChannelBroken(Exception):
    """The kernel's end wrote something that is not a reply, or went away."""


class RequestTooLarge(ValueError):
    """A request larger than the kernel's end reads (``MAX_REQUEST``): nothing was sent,
    and the channel is as it was (the request goes another way)."""


class BridgeChannel:
    """The grader's end; ``pair()`` makes both ends."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._sock.setblocking(False)
        self._buffer = b""
        self._stray = 0
        self.broken = False

    @classmethod
    def pair(cls) -> tuple[BridgeChannel, socket.socket]:
        """(the grader's channel, the kernel's end: pass its descriptor to the kernel)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(ours), theirs

    def send(self, request: dict[str, Any], deadline: float) -> None:
        """Write one request frame; ``TimeoutError`` if the kernel does not take it,
        ``RequestTooLarge`` (before sending anything) if it would not read it."""
        body = json.dumps(request, allow_nan=True).encode("utf-8")
        if len(body) > MAX_REQUEST:
            raise RequestTooLarge(f"a request of {len(body)} bytes")
        data = memoryview(_HEADER.pack(len(body)) + body)
        self._stray = 0
        while data:
            self._wait(select.POLLOUT, deadline)
            try:
                data = data[self._sock.send(data):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise self._broken(f"the kernel's end is gone ({exc.strerror})") from None

    def reply(self, rid: str, deadline: float, alive: Callable[[], bool]) -> Reply | None:
        """The reply to ``rid``; None at the deadline or once ``alive()`` is False."""
        while True:
            reply = self._take(rid)
            if reply is not None:
                return reply
            if not alive():
                return None
            now = time.monotonic()
            if now >= deadline:
                return None
            self._fill(min(deadline, now + _POLL_S))

    def poll_reply(self, rid: str) -> Reply | None:
        """The reply to ``rid`` if it has arrived, without waiting (for a caller that
        polls ``fileno()`` among other sockets)."""
        reply = self._take(rid)
        if reply is None and self._receive():
            reply = self._take(rid)
        return reply

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    # -- reading ----------------------------------------------------------------------

    def _take(self, rid: str) -> Reply | None:
        """The reply to ``rid`` among the whole frames read so far; the frames before it
        that answer nothing are skipped, ``MAX_STRAY`` bytes of them per request."""
        while (frame := self._frame()) is not None:
            header, answer = frame
            if header.get("rid") == rid:
                return Reply(ok=header.get("ok") is True, answer=answer)
            self._stray += len(json.dumps(header)) + len(answer or b"")
            if self._stray > MAX_STRAY:
                raise self._broken("too many frames that answer nothing")
        return None

    def _frame(self) -> tuple[dict[str, Any], bytes | None] | None:
        """The next whole frame: its header and, where it says ``inline``, the answer."""
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_REPLY:
            raise self._broken("a reply frame is too large")
        end = _HEADER.size + size
        if len(self._buffer) < end:
            return None
        body, self._buffer = self._buffer[_HEADER.size:end], self._buffer[end:]
        head, newline, answer = body.partition(b"\n")
        if len(head) > MAX_HEADER:
            raise self._broken("a reply frame's header is too large")
        try:
            header = json.loads(head.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._broken("a reply frame is not JSON") from None
        if not isinstance(header, dict):
            raise self._broken("a reply frame is not an object")
        inline = header.get("inline") is True and header.get("ok") is True
        if bool(newline) != inline:
            raise self._broken("a reply frame's answer does not match its header")
        return header, answer if inline else None

    def _fill(self, until: float) -> None:
        if self._ready(select.POLLIN, until):
            self._receive()

    def _receive(self) -> bool:
        """Read what has arrived (at most one whole frame); False if nothing had."""
        try:
            data = self._sock.recv(MAX_REPLY + _HEADER.size)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise self._broken(f"the kernel's end is gone ({exc.strerror})") from None
        if not data:
            raise self._broken("the kernel closed its end")
        self._buffer += data
        return True

    def _wait(self, event: int, deadline: float) -> None:
        if not self._ready(event, deadline):
            raise TimeoutError("the kernel did not take the request in time")

    def _ready(self, event: int, until: float) -> bool:
        poller = select.poll()
        poller.register(self._sock, event)
        left = max(0.0, until - time.monotonic())
        return bool(poller.poll(int(left * 1000) + 1))

    def _broken(self, why: str) -> ChannelBroken:
        self.broken = True
        return ChannelBroken(why)


__all__ = ["BridgeChannel", "ChannelBroken", "Reply", "RequestTooLarge"]
