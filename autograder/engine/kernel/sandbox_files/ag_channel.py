"""The bridge's own channel into the kernel (kernel side): one request per frame.

A bridge request through Jupyter's ``execute_request`` costs several milliseconds of
messaging (a shell thread, busy/idle status, the IOPub thread's flush handshake); 13_n's
checks make ~130 of them. The grader therefore gives every kernel one end of a socket
pair (inherited as ``AG_BRIDGE_FD``), and ``listen`` (called by ``ag_startup`` before any
student code runs) has the kernel's own event loop read requests from it in the main
thread, where the kernel runs cells: the request is answered exactly as ``ag_bridge.serve``
would answer it from a cell, interruptible by SIGINT as a cell is. The reply frame says
the request is done; an answer of at most ``INLINE_MAX`` bytes travels in it, after the
frame's header and a newline, instead of the exchange folder (a file costs both sides
an open, a write or read, and an unlink: half of a request's time). A larger answer
lands in the exchange folder as before. A request with a ``"cell"`` is a notebook cell:
``ag_cells.execute`` runs it as a task of the event loop (as ipykernel runs an
``execute_request``), and nothing more is read until its reply is written.

Like all of ``ag_bridge``, this is a convenience inside the student's process, not a
boundary: student code can read the requests and write frames. The grader bounds what
it reads, ties every frame to its request id, and trusts nothing but the answer it
validates.

Frame: 4-byte big-endian length, then JSON (request: the bridge request; reply:
``{"rid": ..., "ok": bool}``, or ``{"rid": ..., "ok": true, "inline": true}``, a newline
and the answer's JSON).
"""

import contextlib as _contextlib
import json as _json
import os as _os
import signal as _signal
import socket as _socket
import struct as _struct

_HEADER = _struct.Struct(">I")
MAX_FRAME = 64 << 20
INLINE_MAX = 60 << 10    # the grader reads reply frames of up to 64 KiB


class _Channel:
    def __init__(self, sock, answer, write, loop, execute=None):
        self.sock, self.answer, self.write, self.loop = sock, answer, write, loop
        self.execute, self.cell = execute, None   # the running cell's task: held, as the
        # event loop keeps only a weak reference to a task

    def on_readable(self, fd, events):
        # Runs in the kernel's main thread, between messages: nothing may escape, or the
        # kernel's event loop (and with it the kernel) would stop.
        try:
            request = self._read()
        except BaseException:
            request = None
        if request is None:
            self.loop.remove_handler(fd)
            return
        if "cell" in request and self.execute is not None:
            self._start_cell(fd, request)
            return
        try:
            inline = self._answer(request)
            ok = True
        except BaseException:
            inline, ok = None, False
        with _contextlib.suppress(BaseException):  # the grader went away: nothing to do
            self._write({"rid": request.get("rid"), "ok": ok}, inline)

    def _start_cell(self, fd, request):
        """Run a notebook cell (``ag_cells``) as a task of the event loop, as ipykernel
        runs an ``execute_request`` (a cell may ``await``); the channel reads nothing
        more until the cell is done and its reply written."""
        import asyncio

        self.loop.remove_handler(fd)
        self.cell = asyncio.ensure_future(self._run_cell(fd, request))

    async def _run_cell(self, fd, request):
        try:
            try:
                inline, ok = await self.execute(request), True
            except BaseException:
                inline, ok = None, False
            with _contextlib.suppress(BaseException):
                self._write({"rid": request.get("rid"), "ok": ok}, inline)
        finally:
            self.cell = None
            with _contextlib.suppress(BaseException):
                self.loop.add_handler(fd, self.on_readable, self.loop.READ)

    def _answer(self, request):
        """The answer's bytes to send inline, or None once it is in the exchange folder."""
        previous = _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        try:
            data = self.answer(request)
            if len(data) <= INLINE_MAX:
                return data
            self.write(request, data)
            return None
        finally:
            _signal.signal(_signal.SIGINT, previous)

    def _read(self):
        head = self._exactly(_HEADER.size)
        if head is None:
            return None
        (size,) = _HEADER.unpack(head)
        if size > MAX_FRAME:
            return None
        body = self._exactly(size)
        if body is None:
            return None
        request = _json.loads(body.decode("utf-8"))
        return request if request.__class__ is dict else None

    def _exactly(self, size):
        parts, got = [], 0
        while got < size:
            part = self.sock.recv(min(size - got, 1 << 20))
            if not part:
                return None
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _write(self, reply, inline):
        if inline is not None:
            reply["inline"] = True
        body = _json.dumps(reply).encode("utf-8")
        if inline is not None:
            body += b"\n" + inline
        self.sock.sendall(_HEADER.pack(len(body)) + body)


def listen(answer, write, execute=None):
    """Serve requests from ``$AG_BRIDGE_FD`` on the kernel's event loop (``answer``: a
    request's answer as bytes; ``write``: put it in the exchange folder; ``execute``: a
    coroutine running a notebook cell, ``ag_cells.execute``); False if the grader gave
    no channel (then requests come as code in cells)."""
    raw = _os.environ.get("AG_BRIDGE_FD", "")
    if not raw.isdigit():
        return False
    from tornado.ioloop import IOLoop

    sock = _socket.socket(fileno=int(raw))
    sock.setblocking(True)
    _os.set_inheritable(sock.fileno(), False)  # not into the student's subprocesses
    loop = IOLoop.current()
    channel = _Channel(sock, answer, write, loop, execute)
    loop.add_handler(sock.fileno(), channel.on_readable, IOLoop.READ)
    return True
