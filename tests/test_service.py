"""The grading service (``autograder serve`` / ``grade --service``): a real service
process on a socket in the test's folder, real sandboxed kernels, real SQLite.

It must grade exactly as a local run does, keep its workers between batches (and
replace one that died), refuse a client whose code or settings differ, be reachable by
its own user only, and survive a client that leaves in the middle of a batch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cluster import ASSIGNMENTS, _expected, _folder, _grade, _results

from autograder.core.errors import ServiceError
from autograder.core.results import Notice, Status
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.engine.tasks import TaskOutcome
from autograder.grading.summary import GradeSummary
from autograder.service import client
from autograder.service.client import grade_via_service, service_status, stop_service
from autograder.service.protocol import (
    MAX_FRAME,
    GradeRequest,
    RemoteError,
    receive,
    send,
    summary_from,
    summary_json,
)

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "autograder", "--lang", "en", *args],
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _start(sock: Path) -> subprocess.Popen[str]:
    log = (sock.parent.parent / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "--lang", "en", "serve",
                             "--socket", str(sock)], stdout=log, stderr=log, text=True)
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None, (sock.parent.parent / "serve.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "svc" / "grader.sock"
    proc = _start(sock)
    try:
        yield sock
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _request(subs: Path, gb: Path, *, jobs: int = 2) -> GradeRequest:
    return GradeRequest(assignment_id="02_n", submissions=(str(subs),),
                        out=str(gb.parent / "out"), gradebook=str(gb),
                        assignments_root=str(ASSIGNMENTS), lang="en", jobs=jobs)


@pytest.mark.slow
@needs_bwrap
def test_the_service_grades_as_a_local_run_and_keeps_its_workers(
        tmp_path: Path, service: Path) -> None:
    subs = _folder(tmp_path)
    local = tmp_path / "local" / "gb.sqlite"
    local.parent.mkdir()
    _grade(subs, local, cluster=None, jobs=2)
    served = tmp_path / "served" / "gb.sqlite"
    proc = _cli("grade", "02_n", str(subs), "--service", str(service), "--jobs", "2",
                "--assignments", str(ASSIGNMENTS), "--gradebook", str(served),
                "--out", str(served.parent / "out"))
    assert "[8/8]" in proc.stdout  # the progress lines came from the service, live
    assert _results(served) == _results(local)
    assert (served.parent / "out" / "results.csv").read_text(encoding="utf-8") == \
        (local.parent / "out" / "results.csv").read_text(encoding="utf-8")
    first = service_status(socket_path=service)
    assert len(first["workers"]) == 2 and first["batches"] == 1
    seen: list[TaskOutcome] = []
    summary = grade_via_service(request=_request(subs, served), socket_path=service,
                                on_done=seen.append)
    assert summary.skipped == 8 and not summary.graded_now and not seen  # resumable
    summary = grade_via_service(request=GradeRequest(**{**_request(subs, served).__dict__,
                                                        "regrade": True}),
                                socket_path=service, on_done=seen.append)
    assert sorted(o.participant for o in seen) == sorted(f"s{i:02d}" for i in range(8))
    assert {o.participant: o.score for o in summary.graded_now} == {
        o.participant: _expected(o.participant) for o in seen}
    assert _results(served) == _results(local)
    again = service_status(socket_path=service)
    assert again["workers"] == first["workers"] and again["batches"] == 3


@pytest.mark.slow
@needs_bwrap
def test_a_kept_worker_that_died_is_replaced(tmp_path: Path, service: Path) -> None:
    subs = _folder(tmp_path)
    gb = tmp_path / "gb.sqlite"
    grade_via_service(request=_request(subs, gb), socket_path=service)
    workers = service_status(socket_path=service)["workers"]
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(0.5)
    request = GradeRequest(**{**_request(subs, gb).__dict__, "regrade": True})
    summary = grade_via_service(request=request, socket_path=service)
    assert {o.participant: (o.status, o.score) for o in summary.graded_now} == {
        f"s{i:02d}": (Status.GRADED, _expected(f"s{i:02d}")) for i in range(8)}
    assert not set(service_status(socket_path=service)["workers"]) & set(workers)


@pytest.mark.slow
@needs_bwrap
def test_other_code_or_other_settings_are_refused_before_anything_is_graded(
        tmp_path: Path, service: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subs = _folder(tmp_path)
    gb = tmp_path / "gb.sqlite"
    with monkeypatch.context() as patch:
        patch.setattr(client, "engine_version", lambda: "0.0.0+another")
        with pytest.raises(RemoteError) as code:
            grade_via_service(request=_request(subs, gb), socket_path=service)
        assert code.value.exit_code == ServiceError.exit_code
        assert "other code" in code.value.message and "restart" in code.value.message
        japanese = GradeRequest(**{**_request(subs, gb).__dict__, "lang": "ja"})
        with pytest.raises(RemoteError, match="違うコードで動いています"):  # the client's language
            grade_via_service(request=japanese, socket_path=service)
    monkeypatch.setenv("AUTOGRADER_KERNEL_LIMITS", "off")
    with pytest.raises(RemoteError) as setting:
        grade_via_service(request=_request(subs, gb), socket_path=service)
    assert "AUTOGRADER_KERNEL_LIMITS" in setting.value.message
    assert not gb.exists()
    monkeypatch.delenv("AUTOGRADER_KERNEL_LIMITS")
    proc = _cli("grade", "02_n", str(subs), "--service", str(service), "--cluster",
                "local:1", check=False)
    assert proc.returncode == 2 and "--service" in proc.stderr


def _as_nobody(sock: Path) -> str:
    """What another user gets from the service: 'denied' (cannot reach the socket),
    'closed' (reached it, got no answer) or 'answered' (a forked child as uid 65534:
    this interpreter's files need not be readable by that user)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        answer = b"?"
        try:
            os.setgid(65534)
            os.setuid(65534)
            answer = _knock(sock)
        except BaseException as exc:  # named, for the assertion's message
            answer = type(exc).__name__.encode()
        finally:
            os.write(write, answer)
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


def _knock(sock: Path) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        try:
            peer.connect(str(sock))
        except PermissionError:
            return b"denied"
        data = json.dumps({"op": "status"}).encode()
        try:
            peer.sendall(struct.pack(">I", len(data)) + data)
            return b"answered" if peer.recv(4) else b"closed"
        except (BrokenPipeError, ConnectionResetError):  # closed before or after our request
            return b"closed"


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to another uid")
def test_only_the_services_own_user_is_served() -> None:
    base = Path(tempfile.mkdtemp(prefix="ag-service-"))  # pytest's own folders are 0700
    base.chmod(0o755)
    sock = base / "svc" / "grader.sock"
    proc = _start(sock)
    try:
        assert (sock.parent.stat().st_mode & 0o777, sock.stat().st_mode & 0o777) == \
            (0o700, 0o600)
        assert _as_nobody(sock) == "denied"
        sock.parent.chmod(0o755)  # even when the folder and socket are opened up by
        sock.chmod(0o666)         # mistake, the peer's uid is checked
        assert _as_nobody(sock) == "closed"
        sock.parent.chmod(0o700)
        assert service_status(socket_path=sock)["batches"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_a_running_service_is_not_replaced_but_a_dead_ones_socket_is(
        tmp_path: Path, service: Path) -> None:
    second = _cli("serve", "--socket", str(service), check=False)
    assert second.returncode == ServiceError.exit_code
    assert "already listens" in second.stderr
    pid = service_status(socket_path=service)["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert service.is_socket()  # left behind by the killed service
    with pytest.raises(ServiceError, match="採点サービスが起動していません"):
        service_status(socket_path=service)
    proc = _start_replacing(service)
    try:
        assert service_status(socket_path=service)["pid"] == proc.pid
        stop_service(socket_path=service)
        assert proc.wait(timeout=60) == 0
        assert not service.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def _start_replacing(sock: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "serve", "--socket",
                             str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    try:
        while True:  # the new socket file may even get the old one's inode number
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                service_status(socket_path=sock)
                return proc
            except ServiceError:
                time.sleep(0.05)
    except BaseException:
        proc.kill()
        raise


@pytest.mark.slow
@needs_bwrap
def test_a_client_that_leaves_stops_its_batch_and_the_service_goes_on(
        tmp_path: Path, service: Path) -> None:
    subs = _folder(tmp_path)
    gb = tmp_path / "gb.sqlite"
    from autograder.service.protocol import settings
    from autograder.store.fingerprint import engine_version

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(service))
        send(sock, {"op": "grade", "version": engine_version(), "settings": settings(),
                    "args": _request(subs, gb).__dict__})
        message = receive(sock)
        assert message is not None and message["event"] == "start"
    deadline = time.monotonic() + 120  # the service notices at the next finished one
    while "the client left" not in (tmp_path / "serve.log").read_text():
        assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
        time.sleep(0.2)
    summary = grade_via_service(request=_request(subs, gb), socket_path=service)
    assert summary.skipped + len(summary.graded_now) == 8  # the rest, graded now
    assert {p: r[1] for p, r in _results(gb).items()} == {
        f"s{i:02d}": _expected(f"s{i:02d}") for i in range(8)}


def test_frames_summaries_and_requests_round_trip() -> None:
    left, right = socket.socketpair()
    with left, right:
        send(left, {"op": "status", "text": "課題 ✓"})
        assert receive(right) == {"op": "status", "text": "課題 ✓"}
        left.sendall(struct.pack(">I", MAX_FRAME + 1))
        with pytest.raises(ServiceError, match="上限を超えています"):
            receive(right)
        left.close()
        assert receive(right) is None
    summary = GradeSummary("02_n", [1, 2], graded_now=[
        TaskOutcome(1, Status.GRADED, 3.0, 4.0, participant="s1", seconds=0.5)],
        skipped=1, messages=[Notice("x", "日本語", "english", ("c1",))],
        results_csv=Path("/o/results.csv"))
    assert summary_from(json.loads(json.dumps(summary_json(summary)))) == summary
    request = _request(Path("/subs"), Path("/gb/gb.sqlite"))
    assert GradeRequest.from_json(json.loads(json.dumps(request.__dict__))) == request


def test_no_service_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="採点サービスが起動していません"):
        service_status(socket_path=tmp_path / "grader.sock")
    proc = _cli("grade", "02_n", str(tmp_path), "--service", str(tmp_path / "x.sock"),
                check=False)
    assert proc.returncode == ServiceError.exit_code and "autograder serve" in proc.stderr
