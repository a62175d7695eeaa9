"""Executing a notebook in a started kernel: cells in order, outputs capped while they
stream, each cell's record taken from its reply, time limits enforced with an interrupt
and then a kill.

A notebook's cells go down the kernel's bridge channel (``channel.py``; kernel side
``sandbox_files/ag_cells``), which runs each through ipykernel's own ``do_execute`` and
answers with what its ``execute_reply`` would have said: half the messaging of an
``execute_request`` on both sides. Snippets, and every cell of a kernel without a working
channel, go as ``execute_request``s. Either way the outputs come over IOPub, parented to
the request's id, and the reply is as untrusted as the outputs.

``NotebookExecution`` is the part of ``SandboxedKernel`` (``sandboxed.py``) that talks
to a running kernel over its shell and IOPub channels; the kernel object supplies the
connection (``_require``), its limits and how it stops (``interrupt``, ``kill``).
"""

from __future__ import annotations

import errno
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import zmq

from ...core.config import Limits
from ...core.i18n import Lang, tr
from .channel import BridgeChannel, ChannelBroken, RequestTooLarge
from .launch import LaunchedKernel, reconnect_iopub
from .outputs import NotebookOutputs
from .watchdog import LimitHit

ExecStatus = Literal["ok", "error", "timeout", "killed"]
CellStatus = Literal["ok", "error", "timeout", "killed", "not_run"]

INTERRUPT_GRACE_S = 5.0      # after a timeout: how long an interrupted cell may take to stop
IOPUB_GRACE_S = 2.0          # after a reply: how long to wait for the cell's last outputs
TEXT_CAP = 2000              # chars kept of an untrusted ename/evalue
MAX_CELL_LINES = 1_000_000   # a line number beyond it is no line of a cell
_OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")


@dataclass
class ExecutionReport:
    """What happened when a notebook was executed."""

    status: ExecStatus
    reason: str = ""                 # user-facing (grader's language)
    seconds: float = 0.0
    cells_run: int = 0
    output_bytes_dropped: int = 0    # a lower bound: oversized messages are never read
    output_truncated: bool = False
    disk_full: bool = False          # the kernel's writable space ran full (quota tmpfs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Pending:
    """A request on its way: its id (its outputs' parent), how its reply's content is
    taken once it has come, and where that reply arrives (the bridge channel, or the
    shell channel where ``channel`` is None): only that socket is polled with IOPub, so
    what a kernel writes on the other one cannot make the wait spin."""

    msg_id: str
    take: Callable[[], dict[str, Any] | None]
    channel: BridgeChannel | None = None


@dataclass
class _Reply:
    status: CellStatus
    ename: str = ""
    evalue: str = ""
    execution_count: int | None = None
    seconds: float = 0.0
    line: int | None = None   # the kernel's word: where in the cell its error arose


def _cap_text(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + "…"


def _record(cell: Any, status: CellStatus, *, ename: str = "", evalue: str = "",
            seconds: float = 0.0, line: int | None = None) -> None:
    record: dict[str, Any] = {"status": status, "ename": ename, "evalue": evalue,
                              "seconds": round(seconds, 3)}
    if line is not None and status == "error":
        record["line"] = line
    cell.setdefault("metadata", {})["autograder"] = record


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _is_child_of(msg: Any, msg_id: str) -> bool:
    parent = msg.get("parent_header") if isinstance(msg, dict) else None
    return isinstance(parent, dict) and parent.get("msg_id") == msg_id \
        and isinstance(msg.get("header"), dict)


def _reply_from(content: dict[str, Any]) -> _Reply:
    status = content.get("status")
    count = content.get("execution_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    if status == "ok":
        return _Reply("ok", execution_count=count)
    ename = _cap_text(content.get("ename")) or ("Aborted" if status == "aborted" else "Error")
    line = content.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) \
        and 0 < line <= MAX_CELL_LINES else None
    return _Reply("error", ename=ename, evalue=_cap_text(content.get("evalue")),
                  execution_count=count, line=line)


class NotebookExecution:
    """Notebook and snippet execution over a connected kernel (mixed into
    ``SandboxedKernel``, which provides what is declared here)."""

    limits: Limits
    lang: Lang | None
    _stop: LimitHit | None

    def _require(self) -> LaunchedKernel:
        raise NotImplementedError

    def interrupt(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def death_reason(self) -> str:
        raise NotImplementedError

    def _timeout_reason(self, number: int, by_notebook: bool) -> str:
        raise NotImplementedError

    @property
    def disk_full(self) -> bool:
        raise NotImplementedError

    def execute_notebook(self, nb: Any) -> ExecutionReport:
        """Execute the code cells of ``nb`` in order, in place (see module docstring)."""
        self._require()
        t0 = time.monotonic()
        deadline = t0 + self.limits.notebook_timeout_s
        sink = NotebookOutputs(self.limits.output_kb)
        cells = [c for c in nb.cells if c.get("cell_type") == "code"]
        for cell in cells:
            cell.outputs, cell.execution_count = [], None
        report = ExecutionReport(status="ok")
        for number, cell in enumerate(cells, start=1):
            if report.status in ("timeout", "killed"):
                _record(cell, "not_run")
                continue
            self._run_cell(cell, number, deadline, sink, report)
        report.seconds = round(time.monotonic() - t0, 3)
        report.output_bytes_dropped, report.output_truncated = sink.dropped, sink.truncated
        report.disk_full = report.disk_full or self.disk_full
        return report

    def _run_cell(self, cell: Any, number: int, deadline: float, sink: NotebookOutputs,
                  report: ExecutionReport) -> None:
        source = _source(cell)
        if not source.strip():
            _record(cell, "ok")
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _record(cell, "not_run")
            report.status, report.reason = "timeout", self._timeout_reason(number, True)
            return
        sink.start(cell)
        reply = self._execute(source, timeout=min(self.limits.cell_timeout_s,
                                                             remaining), sink=sink)
        report.cells_run += 1
        cell.execution_count = reply.execution_count
        _record(cell, reply.status, ename=reply.ename, evalue=reply.evalue,
                seconds=reply.seconds, line=reply.line)
        if reply.status == "timeout":
            by_notebook = self.limits.cell_timeout_s > remaining
            report.status, report.reason = "timeout", self._timeout_reason(number, by_notebook)
        elif reply.status == "killed":
            report.status, report.reason = "killed", self.death_reason()
        elif reply.status == "error" and report.status == "ok":
            report.status = "error"
            report.reason = f"{reply.ename}: {reply.evalue}"[:TEXT_CAP]
        # A write refused by the quota (fallocate leaves the tmpfs short of full). The
        # student's own text, so it only ever adds a notice.
        if reply.status == "error" and reply.evalue.startswith(f"[Errno {errno.ENOSPC}]"):
            report.disk_full = True

    def _execute(self, code: str, *, timeout: float,
                 sink: Callable[[str, dict[str, Any]], None],
                 store_history: bool = True) -> _Reply:
        """Run ``code``: a notebook's cell (``store_history``) over the bridge channel
        where the kernel has a working one, anything else as an ``execute_request``."""
        launched = self._require()
        t0 = time.monotonic()
        if launched.process.poll() is not None:
            return _Reply("killed")
        pending = self._send_cell(code, t0 + timeout) if store_history else None
        if pending is None:
            msg_id = launched.client.execute(code, silent=False, store_history=store_history,
                                             allow_stdin=False, stop_on_error=False)
            pending = _Pending(msg_id, lambda: self._drain_shell(msg_id))
        reply = self._wait(pending, t0 + timeout, sink)
        if reply is None:
            reply = self._after_timeout(pending, sink)
        reply.seconds = time.monotonic() - t0
        return reply

    def _send_cell(self, code: str, deadline: float) -> _Pending | None:
        """Send a cell down the bridge channel (``sandbox_files/ag_cells``); None where
        the kernel has no working channel, or the cell is larger than the kernel's end
        reads (then it goes as an ``execute_request``). A kernel that does not take the
        request in time gets no reply: its cell times out."""
        channel = self._require().channel
        if channel is None or channel.broken:
            return None
        msg_id = uuid.uuid4().hex
        try:
            channel.send({"rid": msg_id, "cell": code, "msg_id": msg_id}, deadline)
        except (ChannelBroken, RequestTooLarge):
            return None
        except TimeoutError:
            pass  # no reply will come; what the kernel writes is still read (and bounded)
        return _Pending(msg_id, lambda: self._channel_reply(channel, msg_id), channel)

    def _channel_reply(self, channel: BridgeChannel, rid: str) -> dict[str, Any] | None:
        """The cell's reply content from its reply frame, if it has come (untrusted, as an
        ``execute_reply`` is: ``_reply_from`` keeps only what it expects, capped). A
        channel that breaks during a cell ends the cell with an error unless the kernel
        died (then None: the caller sees it dead); the next cells go as
        ``execute_request``s."""
        try:
            reply = channel.poll_reply(rid)
        except ChannelBroken:
            if not self._still_running(IOPUB_GRACE_S / 4):
                return None
            return {"status": "error", "ename": "KernelChannelBroken",
                    "evalue": tr(self.lang, ja="カーネルが採点側との通信路を壊しました。",
                                 en="The kernel broke its channel to the grader.")}
        if reply is None:
            return None
        try:
            content = json.loads(reply.answer or b"") if reply.ok else None
        except (UnicodeDecodeError, ValueError):
            content = None
        return content if isinstance(content, dict) else {"status": "error"}

    def _wait(self, pending: _Pending, deadline: float,
              sink: Callable[[str, dict[str, Any]], None]) -> _Reply | None:
        """The cell's reply (after its outputs), ``killed``, or None at the deadline."""
        launched = self._require()
        reply: dict[str, Any] | None = None
        idle, idle_by = False, 0.0
        while not (reply is not None and idle):
            now = time.monotonic()
            if reply is None and now >= deadline:
                return None
            if reply is not None and now >= idle_by:
                break
            self._poll(min(0.1, (idle_by if reply else deadline) - now),
                       None if reply is not None else pending)
            idle = self._drain_iopub(pending.msg_id, sink) or idle
            if self._iopub_dropped() and self._still_running(IOPUB_GRACE_S / 4):
                sink("ag_dropped", {})
                reconnect_iopub(launched)
            if reply is None:
                reply = pending.take()
                if reply is not None:
                    idle_by = time.monotonic() + IOPUB_GRACE_S
                elif launched.process.poll() is not None:
                    self._drain_iopub(pending.msg_id, sink)
                    return _Reply("killed")
        assert reply is not None
        return _reply_from(reply)

    def _still_running(self, grace: float) -> bool:
        """Is the kernel still running ``grace`` seconds from now? (A connection that
        dropped because the kernel died is no dropped message; the outermost process
        ends a moment after the kernel.)"""
        process = self._require().process
        deadline = time.monotonic() + grace
        while process.poll() is None:
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.02)
        return False

    def _poll(self, seconds: float, awaiting: _Pending | None) -> None:
        """Wait for IOPub and, while a reply is ``awaiting``, the socket it comes on (a
        socket nobody drains would wake every poll at once)."""
        client = self._require().client
        poller = zmq.Poller()
        if client.iopub_channel.socket is not None:
            poller.register(client.iopub_channel.socket, zmq.POLLIN)
        channel = awaiting.channel if awaiting is not None else None
        if channel is not None and not channel.broken:
            poller.register(channel.fileno(), zmq.POLLIN)
        elif awaiting is not None and channel is None and client.shell_channel.socket:
            poller.register(client.shell_channel.socket, zmq.POLLIN)
        poller.poll(int(1000 * max(0.0, seconds)))

    def _drain_iopub(self, msg_id: str, sink: Callable[[str, dict[str, Any]], None],
                     limit: int = 2000) -> bool:
        """Feed the cell's output messages to ``sink``; True once the kernel went idle."""
        channel = self._require().client.iopub_channel
        idle = False
        for _ in range(limit):
            if not channel.msg_ready():
                break
            try:
                msg = channel.get_msg(timeout=0)
            except Exception:  # a malformed message from the kernel is skipped
                continue
            if not _is_child_of(msg, msg_id):
                continue
            msg_type, content = msg["header"].get("msg_type"), msg.get("content")
            if not isinstance(content, dict):
                continue
            if msg_type == "status":
                idle = idle or content.get("execution_state") == "idle"
            elif msg_type in (*_OUTPUT_TYPES, "clear_output", "update_display_data"):
                sink(msg_type, content)
        return idle

    def _drain_shell(self, msg_id: str) -> dict[str, Any] | None:
        channel = self._require().client.shell_channel
        while channel.msg_ready():
            try:
                msg = channel.get_msg(timeout=0)
            except Exception:  # malformed: skip
                continue
            if _is_child_of(msg, msg_id) and msg["header"].get("msg_type") == "execute_reply":
                content = msg.get("content")
                return content if isinstance(content, dict) else {"status": "error"}
        return None

    def _after_timeout(self, pending: _Pending,
                       sink: Callable[[str, dict[str, Any]], None]) -> _Reply:
        """Interrupt the cell; a kernel that does not stop within the grace is killed."""
        self.interrupt()
        late = self._wait(pending, time.monotonic() + INTERRUPT_GRACE_S, sink)
        if late is None:
            self._stop = self._stop or LimitHit("interrupt", int(INTERRUPT_GRACE_S))
            self.kill()
        reply = _Reply("timeout")
        if late is not None and late.status != "killed":
            reply.execution_count = late.execution_count
        return reply

    def _iopub_dropped(self) -> bool:
        """Did libzmq drop the iopub connection (an oversized message) since last asked?"""
        monitor = self._require().monitor
        dropped = False
        while monitor is not None and monitor.poll(0):
            monitor.recv_multipart()
            dropped = True
        return dropped

    # -- signals ------------------------------------------------------------------------
