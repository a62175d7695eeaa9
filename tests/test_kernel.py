"""Real sandboxed kernels executing the sample notebooks in tests/notebooks/.

Hostile notebooks attack real targets: the tests write the path of a file that exists on
the host (hidden tests, a SQLite gradebook, another submission, a file in /root) or the
port of a socket they listen on into the notebook's ``parameters`` cell.

Kernel starts are the expensive part (a few seconds on shared cores), so notebooks that
leave the kernel usable share one kernel; those that kill or wedge it get their own.
Every kernel test runs twice: with a spawned kernel and with one forked from a kernel
template (``launcher``, tests/forking.py).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from forking import launcher_fixture
from slots import worker_slot

from autograder.core.config import Limits
from autograder.engine.kernel import sandbox
from autograder.engine.kernel.sandboxed import (
    ExecutionReport,
    LaunchedKernel,
    SandboxedKernel,
    truncation_marker,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
IS_ROOT = os.geteuid() == 0

pytestmark = pytest.mark.skipif(not sandbox.bwrap_available(),
                                reason="bubblewrap cannot create namespaces here")


def slot(n: int) -> int:
    return worker_slot(100, n)


def load(name: str, **params: Any) -> nbformat.NotebookNode:
    """A sample notebook with its ``parameters`` cell replaced by ``params``."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if params:
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = "\n".join(f"{key} = {value!r}" for key, value in params.items())
    return nb


def records(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [c.metadata["autograder"] for c in nb.cells if c.cell_type == "code"]


def statuses(nb: nbformat.NotebookNode) -> list[str]:
    return [r["status"] for r in records(nb)]


def value(kernel: SandboxedKernel, expr: str) -> Any:
    result = kernel.run_code(f"print(repr({expr}))", timeout=30)
    assert result.ok, (result, kernel.death_reason())
    import ast

    return ast.literal_eval(result.stdout.strip())


def no_processes_of(uid: int) -> bool:
    return not [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid]


# ----------------------------------------------------------------------------- fixtures


@dataclass
class Targets:
    """Real files on the host that no kernel may read."""

    tests_file: Path
    gradebook: Path
    other_submission: Path
    root_file: Path


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    # Inside the project folder, next to the venv that *is* visible in the sandbox.
    (REPO / ".cache").mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="sandbox-targets-", dir=REPO / ".cache"))
    tests_file = base / "assignments" / "14_n" / "tests" / "test_hidden.py"
    tests_file.parent.mkdir(parents=True)
    tests_file.write_text("def test_hidden(submission):\n    assert True\n")
    gradebook = base / ".autograder" / "gradebook.sqlite"
    gradebook.parent.mkdir()
    with sqlite3.connect(gradebook) as db:
        db.execute("CREATE TABLE grades (participant TEXT, points REAL)")
    other = base / "submissions" / "Participant_42" / "14_n.ipynb"
    other.parent.mkdir(parents=True)
    nbformat.write(load("hello"), other)
    for path in (tests_file, gradebook, other):
        path.chmod(0o644)
    root_file = next(p for p in (Path("/root/.bashrc"), Path("/root/.profile"),
                                 Path(sys.base_prefix) / "bin" / "python3") if p.exists())
    yield Targets(tests_file, gradebook, other, root_file)
    shutil.rmtree(base)


@pytest.fixture(scope="module")
def dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    (cache / "MNIST" / "raw").mkdir(parents=True)
    (cache / "MNIST" / "raw" / "x").write_bytes(b"idx")
    return cache


launcher = launcher_fixture(
    lambda request: [("MNIST", request.getfixturevalue("dataset_cache") / "MNIST")])


@pytest.fixture(scope="module")
def shared(dataset_cache: Path, launcher: Any) -> Iterator[SandboxedKernel]:
    """One kernel for every notebook that leaves it usable."""
    limits = Limits(cell_timeout_s=30, notebook_timeout_s=120, memory_mb=2048, output_kb=64)
    with SandboxedKernel(limits=limits, slot=slot(0), lang="en", launcher=launcher,
                         datasets=[("MNIST", dataset_cache / "MNIST")]) as kernel:
        yield kernel


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


# ----------------------------------------------------------------------------- shared kernel


def test_benign_notebook_runs_as_a_dedicated_user(shared: SandboxedKernel) -> None:
    nb = load("hello", GREETING="こんにちは")
    report = shared.execute_notebook(nb)
    assert (report.status, report.cells_run) == ("ok", 3)
    assert statuses(nb) == ["ok", "ok", "ok"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].outputs[0]["text"] == "こんにちは\n"
    assert code[2].outputs[0]["data"]["text/plain"] == "5"
    uid = value(shared, "UID")
    assert uid != 0
    if IS_ROOT:
        assert uid >= sandbox.KERNEL_UID_BASE
    assert value(shared, "CWD") == sandbox.CONTENT


@pytest.mark.parametrize(("name", "param", "result_var"), [
    ("read_tests_folder", "tests_file", "RESULT"),
    ("read_gradebook", "gradebook", "RESULT"),
    ("read_other_submission", "other_submission", "RESULT"),
    ("read_root", "root_file", "RESULT"),
])
def test_host_files_are_invisible(shared: SandboxedKernel, targets: Targets, name: str,
                                  param: str, result_var: str) -> None:
    target: Path = getattr(targets, param)
    assert target.read_bytes()  # it is there on the host
    nb = load(name, TARGET=str(target))
    report = shared.execute_notebook(nb)
    assert report.status == "error"
    last = records(nb)[-1]
    assert last["status"] == "error"
    assert last["ename"] in ("FileNotFoundError", "PermissionError")
    assert value(shared, result_var) == last["ename"]


def test_other_kernels_and_root_are_not_listed(shared: SandboxedKernel, targets: Targets) -> None:
    shared.execute_notebook(load("read_other_submission", TARGET=str(targets.other_submission)))
    assert value(shared, "OTHER_KERNELS") == []
    shared.execute_notebook(load("read_root", TARGET=str(targets.root_file)))
    # /root exists only as the path to the Python installation, when Python lives there.
    assert set(value(shared, "ROOT_LISTING")) <= {".pyenv"}


def test_host_port_is_unreachable(shared: SandboxedKernel, listener: socket.socket) -> None:
    nb = load("connect_host_port", PORT=listener.getsockname()[1])
    report = shared.execute_notebook(nb)
    assert report.status == "error"
    assert records(nb)[-1]["ename"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
    assert value(shared, "CONNECTED") is False
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_nothing_outside_the_workdir_is_writable(shared: SandboxedKernel) -> None:
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
        / "site-packages" / "ag_probe.py"
    paths = ["/usr/ag_probe", "/opt/autograder/ag_probe.py", "/work/ag_probe",
             str(REPO / "ag_probe"), str(site), "/etc/ag_probe"]
    nb = load("write_outside", TARGETS=paths)
    report = shared.execute_notebook(nb)
    assert statuses(nb) == ["ok", "ok", "ok"], report
    results = value(shared, "RESULTS")
    assert set(results) == set(paths)
    assert all(r in ("PermissionError", "OSError", "FileNotFoundError") for r in results.values())
    for path in (*paths[2:], str(sandbox.SANDBOX_FILES / "ag_probe.py")):
        assert not Path(path).exists(), path


def test_colab_stub_and_skipped_installs(shared: SandboxedKernel) -> None:
    nb = load("colab_and_pip")
    report = shared.execute_notebook(nb)
    assert report.status == "ok", report
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    for text in texts[:3]:
        assert "採点中はパッケージをインストールできません" in text
        assert "packages cannot be installed during grading" in text
    assert not any(line.strip() == "installed" for line in texts[2].splitlines())
    assert "/content/data" in texts[3] and "Google Drive" in texts[3]
    assert value(shared, "UPLOADED") == {}
    assert "shell-still-works" in texts[5]
    stub = value(shared, "__import__('google.colab', fromlist=['drive']).__file__")
    assert stub == f"{sandbox.OPT}/google/colab/__init__.py"


def test_sys_exit_is_an_error_but_the_kernel_lives(shared: SandboxedKernel) -> None:
    nb = load("sys_exit")
    report = shared.execute_notebook(nb)
    assert report.status == "error"
    assert statuses(nb) == ["error", "ok", "ok"]
    assert records(nb)[0]["ename"] == "SystemExit"
    assert "exit() / quit() is ignored" in nb.cells[1].outputs[0]["text"]
    assert shared.alive and value(shared, "AFTER") == 1


def test_record_comes_from_the_reply_not_the_outputs(shared: SandboxedKernel) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "get_ipython().showtraceback = lambda *a, **k: None\n1 / 0")])
    shared.execute_notebook(nb)
    assert nb.cells[0].outputs == []
    assert records(nb)[0]["status"] == "error"
    assert records(nb)[0]["ename"] == "ZeroDivisionError"


def test_outputs_are_capped_per_notebook(shared: SandboxedKernel) -> None:
    cells = ["for _ in range(1000): print('a' * 99)", "print('later')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    report = shared.execute_notebook(nb)
    assert report.output_truncated and report.output_bytes_dropped > 0
    marker = truncation_marker(64)
    first = [o["text"] for o in nb.cells[0].outputs]
    assert first[-1] == marker
    assert sum(len(t) for t in first[:-1]) == 64 * 1024
    assert [o["text"] for o in nb.cells[1].outputs] == [marker]


def test_datasets_are_seeded_read_only(shared: SandboxedKernel) -> None:
    for where in ("MNIST/raw/x", "./data/MNIST/raw/x", "/content/data/MNIST/raw/x"):
        assert value(shared, f"open({where!r}, 'rb').read()") == b"idx"
    result = shared.run_code("open('/content/data/MNIST/raw/evil', 'w')")
    assert (result.ok, result.error_name) == (False, "OSError")
    assert "Read-only" in result.error_value


def test_run_code_results(shared: SandboxedKernel) -> None:
    assert shared.run_code("print(6 * 7)").stdout == "42\n"
    failed = shared.run_code("raise KeyError('x')")
    assert (failed.ok, failed.error_name, failed.error_value) == (False, "KeyError", "'x'")
    slow = shared.run_code("while True: pass", timeout=1)
    assert slow.timed_out and not slow.ok
    assert shared.run_code("print('still here')").stdout == "still here\n"


def test_inline_figures_are_drawn_once_as_png(shared: SandboxedKernel) -> None:
    """``ag_startup`` routes the inline backend's PNGs through ``ag_figures``."""
    plot = ("import matplotlib.pyplot as plt\n"
            "fig, axes = plt.subplots(1, 2, figsize=(6, 2))\n"
            "for ax in axes: ax.plot([0, 1], [1, 0]); ax.set_title('t')\n"
            "plt.show()")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(plot)])
    assert shared.execute_notebook(nb).status == "ok"
    shown = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(shown) == 1
    png = base64.b64decode(shown[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert value(shared, "__import__('IPython.core.pylabtools', fromlist=['x'])"
                         ".print_figure.__module__") == "ag_figures"


def test_exchange_dir_is_shared_with_the_kernel(shared: SandboxedKernel) -> None:
    assert shared.kernel_exchange_dir == sandbox.EXCHANGE
    result = shared.run_code("import os\n"
                             "open(os.path.join(os.environ['AG_EXCHANGE'], 'a.json'), 'w')"
                             ".write('[1]')")
    assert result.ok, result
    assert (shared.exchange_dir / "a.json").read_text() == "[1]"


# ----------------------------------------------------------------------------- own kernels


def run_alone(name: str, limits: Limits, n: int, launcher: Any, **params: Any
              ) -> tuple[nbformat.NotebookNode, ExecutionReport, SandboxedKernel]:
    nb = load(name, **params)
    kernel = SandboxedKernel(limits=limits, slot=slot(n), lang="en", launcher=launcher)
    kernel.start()
    return nb, kernel.execute_notebook(nb), kernel


def test_infinite_loop_hits_the_notebook_deadline(launcher: Any) -> None:
    nb, report, kernel = run_alone("infinite_loop",
                                   Limits(cell_timeout_s=60, notebook_timeout_s=3), 1,
                                   launcher)
    with kernel:
        assert report.status == "timeout"
        assert "total time limit" in report.reason
        assert statuses(nb) == ["ok", "timeout", "not_run"]
        # Interrupted, not killed: the checks can still talk to the kernel.
        assert value(kernel, "BEFORE") == 1
        assert kernel.run_code("AFTER").error_name == "NameError"


@pytest.mark.slow
def test_sleep_that_swallows_the_interrupt_is_killed(launcher: Any) -> None:
    nb, report, kernel = run_alone("sleep_forever", Limits(cell_timeout_s=3), 2, launcher)
    with kernel:
        assert report.status == "timeout"
        assert "Code cell 1 exceeded its time limit of 3 s" in report.reason
        assert statuses(nb) == ["timeout", "not_run"]
        assert not kernel.alive
        assert kernel.run_code("1").kernel_died


@pytest.mark.parametrize(("name", "reason"), [
    ("os_exit", "exit status 1"),
    ("segfault", "signal SIGSEGV"),
])
def test_kernel_death_is_killed(name: str, reason: str, launcher: Any) -> None:
    nb, report, kernel = run_alone(name, Limits(cell_timeout_s=30), 3, launcher)
    with kernel:
        assert report.status == "killed"
        assert reason in report.reason
        assert statuses(nb) == ["killed", "not_run"]
        assert not report.output_truncated


def test_memory_hog_is_stopped(launcher: Any) -> None:
    # the worker may already hold torch and MNIST from earlier test files: only growth counts
    before = psutil.Process().memory_info().rss
    nb, report, kernel = run_alone("memory_hog", Limits(cell_timeout_s=60, memory_mb=1024), 4,
                                   launcher, GIGABYTES=4)
    with kernel:
        # Observed: the RSS watchdog kills the kernel at ~1 GB (RLIMIT_AS leaves headroom
        # for torch); an in-cell MemoryError would be acceptable as well.
        if report.status == "killed":
            assert "1024 MB memory limit" in report.reason
            assert statuses(nb) == ["ok", "killed", "not_run"]
        else:
            assert records(nb)[1]["ename"] == "MemoryError"
    assert psutil.Process().memory_info().rss - before < 256 << 20


def test_fork_bomb_is_bounded_by_the_process_limit(launcher: Any) -> None:
    limits = Limits(cell_timeout_s=30, processes=64)
    nb, report, kernel = run_alone("fork_bomb", limits, 5, launcher, MAX_PROCS=5000, SECONDS=10)
    with kernel:
        assert report.status == "ok", report
        assert statuses(nb) == ["ok", "ok"]
        started, blocked = value(kernel, "(STARTED, BLOCKED)")
        assert blocked is True
        assert 0 < started < limits.processes


def test_print_100mb_is_truncated_without_growing_the_grader(launcher: Any) -> None:
    me = psutil.Process()
    base, peak, done = me.memory_info().rss, [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        nb, report, kernel = run_alone("print_100mb", Limits(cell_timeout_s=60), 6, launcher)
        with kernel:
            assert report.status == "ok" and report.output_truncated
            outputs = nb.cells[0].outputs
            assert outputs[-1]["text"] == truncation_marker(Limits().output_kb)
            stored = sum(len(o.get("text", "")) for o in outputs)
            assert stored <= Limits().output_kb * 1024 + 1024
            assert value(kernel, "AFTER") == 1  # the channel recovered after the flood
    finally:
        done.set()
        sampler.join()
    assert peak[0] - base < 64 << 20


def test_close_leaves_no_process_and_no_directory(launcher: Any) -> None:
    launched: list[LaunchedKernel] = []

    def recording_launcher(spec: sandbox.SandboxSpec, **kwargs: Any) -> LaunchedKernel:
        launched.append(launcher(spec, **kwargs))  # the seam the kernel template uses
        return launched[-1]

    kernel = SandboxedKernel(limits=Limits(), slot=slot(7), launcher=recording_launcher)
    with kernel:
        assert len(launched) == 1 and launched[0].spec.workdir == kernel.workdir
        assert kernel.run_code("import subprocess; subprocess.Popen(['sleep', '600'])").ok
        private = kernel.workdir.parent
        uid = kernel._uid
    assert not private.exists()
    if IS_ROOT:
        assert no_processes_of(uid)


@pytest.mark.skipif(not IS_ROOT, reason="the uid drop needs a root grader")
def test_fallback_without_bubblewrap(monkeypatch: pytest.MonkeyPatch, dataset_cache: Path
                                     ) -> None:
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "none")
    monkeypatch.setitem(sandbox._WARNED, "no_sandbox", False)
    nb = load("hello")
    with SandboxedKernel(limits=Limits(cell_timeout_s=30), slot=slot(8),
                         datasets=[("MNIST", dataset_cache / "MNIST")]) as kernel:
        assert kernel.mode == "none"
        report = kernel.execute_notebook(nb)
        assert report.status == "ok"
        assert value(kernel, "UID") == kernel._uid != 0
        assert value(kernel, "open('data/MNIST/raw/x', 'rb').read()") == b"idx"
        assert kernel.run_code("import resource; print(resource.getrlimit("
                               "resource.RLIMIT_NPROC)[0])").stdout == f"{Limits().processes}\n"

