"""The limits hold: memory counts everything a kernel holds, writes stop at the quota, the
checks of a submission share one time budget, and kernel output cannot grow the grader.

The attacks are the 02_n twins of the hostile corpus's limit notebooks
(tests/notebooks/hostile/02_n/, made by make_limits.py and sized for the short limits in
limits.json there). Each runs in a real sandboxed kernel: with a cgroup and a quota tmpfs
where the grader is root (the normal case), and again with the watchdog alone
(``AUTOGRADER_KERNEL_LIMITS=watchdog``), which is what a grader without root gets. Every
kernel test runs twice: spawned, and forked from a kernel template (``kernels``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from forking import LAUNCHERS
from slots import worker_slot

from autograder.checks import ChecksBudget
from autograder.core.config import Limits, load_assignment, parse_manifest
from autograder.core.errors import ConfigError
from autograder.core.results import Status, SubmissionResult
from autograder.engine.bridge.submission import BridgeTimeout, KernelDead, Submission
from autograder.engine.grade_one import GradeContext, grade_submission
from autograder.engine.kernel import cgroup, quota, sandbox, zygote
from autograder.engine.kernel.outputs import MAX_DISPLAY_IDS, NotebookOutputs
from autograder.engine.kernel.private_dirs import CGROUPS, sweep_stale
from autograder.engine.kernel.sandboxed import INTERRUPT_GRACE_S, SandboxedKernel

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "notebooks" / "hostile" / "02_n"
LIMITS = Limits(**json.loads((HOSTILE / "limits.json").read_text()))
IS_ROOT = os.geteuid() == 0
HARD = IS_ROOT and cgroup.find_layout() is not None

needs_bwrap = pytest.mark.skipif(not sandbox.bwrap_available(), reason="needs bubblewrap")
needs_hard = pytest.mark.skipif(not HARD, reason="needs root and a memory cgroup controller")
MEMORY = ["memfd", "shared_mapping", "tmpfs_shm", "tmpfs_tmp"]
DISK = ["disk_fallocate", "disk_write", "inodes_content", "inodes_tmp", "inodes_exchange"]


def slot(n: int) -> int:
    return worker_slot(600, n)


def host_free() -> int:
    return shutil.disk_usage(tempfile.gettempdir()).free


def records(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [c.metadata["autograder"] for c in nb.cells if c.cell_type == "code"]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sandbox._WARNED, "soft_limits", True)


@pytest.fixture
def watchdog_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_KERNEL_LIMITS", "watchdog")


@pytest.fixture(scope="module", params=LAUNCHERS)
def kernels(request: pytest.FixtureRequest) -> Iterator[Any]:
    """How this module's kernels start: spawned, or forked from this process's template
    (``worker_template``, which grading goes through too); the launcher to give a
    ``SandboxedKernel``."""
    from autograder.engine.grade_one import template_spec
    from autograder.engine.kernel import template as worker_template
    from autograder.engine.kernel.forked import ForkLauncher
    from autograder.engine.kernel.sandboxed import launch_kernel

    if request.param == "spawn":
        yield launch_kernel
        return
    if not zygote.available():
        pytest.skip(f"no forked kernels: {zygote.unavailable_reason()}")
    made = worker_template.start(template_spec(_context().assignment, None))
    assert made is not None
    try:
        made.wait_ready()
        yield ForkLauncher(made)
    finally:
        worker_template.stop()


@contextlib.contextmanager
def attacked(name: str, launcher: Any
             ) -> Iterator[tuple[nbformat.NotebookNode, Any, SandboxedKernel, int]]:
    """Run the attack notebook; the kernel stays open (its files too) inside the block."""
    nb = nbformat.read(HOSTILE / f"{name}.ipynb", as_version=4)
    with SandboxedKernel(limits=LIMITS, slot=slot(0), lang="en", launcher=launcher) as kernel:
        free = host_free()
        report = kernel.execute_notebook(nb)
        yield nb, report, kernel, free


def stopped_within(kernel: SandboxedKernel, seconds: float) -> Any:
    """The limit that stopped the kernel (polling: the watchdog acts between cells)."""
    deadline = time.monotonic() + seconds
    while kernel.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    return kernel.stopped_by


# ---------------------------------------------------------------- memory: cgroup


@needs_bwrap
@needs_hard
@pytest.mark.parametrize("name", MEMORY)
def test_memory_counts_shared_tmpfs_and_memfd(name: str, kernels: Any) -> None:
    with attacked(name, kernels) as (nb, report, kernel, _):
        assert kernel._cgroup is not None and kernel._private is not None
        dirs = kernel._cgroup.dirs
        assert report.status == "killed", report
        assert f"{LIMITS.memory_mb} MB memory limit" in report.reason
        assert records(nb)[-1]["status"] == "killed"
        assert kernel.stopped_by is not None and kernel.stopped_by.kind == "memory"
        assert kernel._cgroup.oom_kills() >= 1       # the Linux kernel stopped it
        private = kernel._private.path
        assert quota.is_mount(private)
    assert not any(d.exists() for d in dirs)         # cgroup and quota gone at close
    assert not private.exists() and not quota.is_mount(private)


# ---------------------------------------------------------------- memory: watchdog only


@needs_bwrap
@pytest.mark.parametrize("name", MEMORY)
def test_watchdog_alone_counts_shared_tmpfs_and_memfd(name: str, watchdog_only: None,
                                                     kernels: Any) -> None:
    with attacked(name, kernels) as (_nb, report, kernel, _):
        assert kernel._cgroup is None
        stop = stopped_within(kernel, 3.0)
        assert stop is not None and stop.kind == "memory", (report, stop)
        assert report.status == "killed" or records(_nb)[-1]["status"] == "ok"
        assert kernel.peak_memory_mb > LIMITS.memory_mb


# ---------------------------------------------------------------- disk and inodes: quota


@needs_bwrap
@pytest.mark.skipif(not IS_ROOT, reason="the quota tmpfs needs a root grader")
@pytest.mark.parametrize("name", DISK)
def test_writes_stop_at_the_quota(name: str, kernels: Any) -> None:
    with attacked(name, kernels) as (nb, report, kernel, free):
        attack = records(nb)[-1]
        assert attack["status"] == "error", attack
        assert attack["evalue"].startswith("[Errno 28] No space left on device"), attack
        assert report.disk_full
        assert kernel.alive and kernel.run_code("print(1)").stdout == "1\n"
        assert kernel._private is not None
        used = quota.statvfs_usage(kernel._private.path)
        assert used.bytes <= (LIMITS.disk_mb << 20) + quota.SLACK_BYTES
        assert used.inodes <= LIMITS.inodes + quota.SLACK_INODES
        assert free - host_free() < 64 << 20         # nothing of it reached the host disk
        if name == "inodes_exchange":
            assert len(os.listdir(kernel.exchange_dir)) <= LIMITS.inodes + quota.SLACK_INODES


# ---------------------------------------------------------------- disk and inodes: watchdog


@needs_bwrap
@pytest.mark.parametrize(("name", "kind"), [("disk_write", "disk"),
                                            ("inodes_content", "inodes"),
                                            ("inodes_tmp", "inodes"),
                                            ("inodes_exchange", "inodes")])
def test_watchdog_alone_stops_disk_and_inode_floods(name: str, kind: str,
                                                    watchdog_only: None, kernels: Any) -> None:
    with attacked(name, kernels) as (_nb, report, kernel, _):
        assert kernel._private is not None and not kernel._private.mounted
        stop = stopped_within(kernel, 3.0)
        assert stop is not None and stop.kind == kind, (report, stop)
        assert report.status == "killed"
        assert ("disk quota" if kind == "disk" else "files") in report.reason


# ---------------------------------------------------------------- the grader's memory


@needs_bwrap
def test_display_flood_leaves_the_grader_flat(kernels: Any) -> None:
    nb = nbformat.read(HOSTILE / "display_flood.ipynb", as_version=4)
    me, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.005)

    with SandboxedKernel(limits=LIMITS, slot=slot(0), lang="en", launcher=kernels) as kernel:
        kernel.run_code("1")  # the client's own first allocations are not the flood's
        base = me.memory_info().rss
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            kernel.execute_notebook(nb)
        finally:
            done.set()
            sampler.join()
        assert records(nb)[-1]["status"] == "ok" and kernel.alive
    # 2000 displays of 100 KB went through; kept after clearing, that was 200 MB
    assert peak[0] - base < 48 << 20


def _display(i: int, text: str) -> dict[str, Any]:
    return {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": f"d{i}"}}


def test_display_updates_reach_the_notebook_and_cleared_ones_are_forgotten() -> None:
    sink = NotebookOutputs(64)
    cell = nbformat.v4.new_code_cell("")
    sink.start(cell)
    sink("display_data", _display(0, "old"))
    sink("update_display_data", _display(0, "new"))
    assert cell.outputs[0]["data"]["text/plain"] == "new"
    sink("clear_output", {})
    for i in range(1, 3 * MAX_DISPLAY_IDS):
        sink("display_data", _display(i, "x"))
        if i % 2:
            sink("clear_output", {})
    assert len(sink._displays) <= MAX_DISPLAY_IDS
    assert sum(map(len, sink._displays.values())) <= MAX_DISPLAY_IDS
    assert len(sink._owner) == sum(map(len, sink._displays.values()))


# ---------------------------------------------------------------- the checks' budget


def _context() -> GradeContext:
    assignment = load_assignment("02_n", HERE / "assignments")
    assignment = dataclasses.replace(assignment, limits=LIMITS)
    return GradeContext(assignment=assignment, params=dict(assignment.grading), lang="en",
                        slot=slot(1))


def _grade(name: str) -> SubmissionResult:
    data = (HOSTILE / f"{name}.ipynb").read_bytes()
    return grade_submission(_context(), participant="p", file="02_n.ipynb", content=data,
                            sha256=hashlib.sha256(data).hexdigest())


@needs_bwrap
@pytest.mark.parametrize(("name", "grace"), [("slow_when_graded", 0.0),
                                             ("slow_when_graded_sigint", INTERRUPT_GRACE_S)])
def test_checks_share_one_time_budget(name: str, grace: float, kernels: Any) -> None:
    result = _grade(name)
    assert result.status is Status.TIMEOUT, result.reason
    assert result.check_seconds < LIMITS.checks_timeout_s + grace + 3.0
    assert "checks_timeout" in [n.code for n in result.notices]
    pytest_checks = [c for c in result.checks if c.kind == "check"]
    assert [c.points for c in pytest_checks] == [0.0, 0.0]
    for check in pytest_checks:  # the budget's words, never the check's expression
        assert "total time limit" in check.message and "add(" not in check.message


@needs_bwrap
def test_a_kernel_that_ignores_the_interrupt_is_killed_and_then_fails_at_once(kernels: Any
                                                                              ) -> None:
    nb = nbformat.read(HOSTILE / "slow_when_graded_sigint.ipynb", as_version=4)
    with SandboxedKernel(limits=LIMITS, slot=slot(0), lang="en", launcher=kernels) as kernel:
        kernel.execute_notebook(nb)
        submission = Submission(kernel, lang="en")
        add = submission.function("add")
        t0 = time.monotonic()
        with submission.time_limit(2), pytest.raises(BridgeTimeout):
            add(1, 2)
        assert time.monotonic() - t0 < 2 + INTERRUPT_GRACE_S + 2
        assert not kernel.alive
        assert kernel.stopped_by is not None and kernel.stopped_by.kind == "interrupt"
        t1 = time.monotonic()
        with pytest.raises(KernelDead):
            submission.function("double")
        assert time.monotonic() - t1 < 0.5


@needs_bwrap
@pytest.mark.skipif(not IS_ROOT, reason="the quota tmpfs needs a root grader")
def test_a_full_disk_is_the_students_error_and_grading_goes_on(kernels: Any) -> None:
    result = _grade("disk_fallocate")
    assert result.status is Status.GRADED
    assert "disk_quota" in [n.code for n in result.notices]
    assert all(c.message != "the kernel died, so this check could not run"
               for c in result.checks)


@needs_bwrap
def test_an_out_of_memory_kernel_is_killed_with_the_reason(kernels: Any) -> None:
    result = _grade("memfd")
    assert result.status is Status.KILLED
    assert f"{LIMITS.memory_mb} MB memory limit" in result.reason
    assert "killed" in [n.code for n in result.notices]


def test_budget_cuts_and_runs_out() -> None:
    budget = ChecksBudget(0.2)
    assert budget.cut(120) <= 0.2 and not budget.exhausted
    assert not budget.note_failure()
    time.sleep(0.25)
    assert budget.note_failure() and budget.exhausted and budget.cut(120) == 0
    assert "0.2" in budget.message("en") and "0.2 秒" in budget.message("ja")


# ---------------------------------------------------------------- manifest keys


def test_manifest_limits_have_defaults_and_are_checked(tmp_path: Path) -> None:
    header = {"id": "02_n", "title": {"ja": "t", "en": "t"}, "lecture": 2, "level": "n"}
    path = tmp_path / "02_n" / "assignment.toml"
    plain = parse_manifest(path, {"assignment": header})
    assert (plain.limits.disk_mb, plain.limits.inodes, plain.limits.checks_timeout_s) == \
        (1024, 20000, 600.0)
    custom = parse_manifest(path, {"assignment": header, "limits": {
        "disk_mb": 64, "inodes": 500, "checks_timeout_s": 30}})
    assert (custom.limits.disk_mb, custom.limits.inodes, custom.limits.checks_timeout_s) == \
        (64, 500, 30)
    with pytest.raises(ConfigError, match=r"\[limits\] inodes"):
        parse_manifest(path, {"assignment": header, "limits": {"inodes": 0}})


# ---------------------------------------------------------------- cgroup layouts


def _tree(tmp_path: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)


def test_v2_layout_prefers_below_the_graders_cgroup(tmp_path: Path) -> None:
    _tree(tmp_path, {"grader/cgroup.controllers": "cpu memory pids",
                     "grader/cgroup.subtree_control": "", "cgroup.subtree_control": ""})
    mount = cgroup.Mount(version=2, path=tmp_path, root="/", controllers=frozenset())
    layout = cgroup._layout_v2([mount], {"": "/grader"})
    assert layout == cgroup.Layout(2, memory=tmp_path / "grader", pids=None, pids_v2=True)
    assert (tmp_path / "grader" / "cgroup.subtree_control").read_text() == "+memory +pids"


def test_v2_layout_goes_next_to_a_cgroup_that_holds_processes(tmp_path: Path) -> None:
    _tree(tmp_path, {"grader/cgroup.controllers": "memory pids",
                     "cgroup.subtree_control": "memory pids"})
    (tmp_path / "grader" / "cgroup.subtree_control").mkdir()  # writing it fails, like EBUSY
    mount = cgroup.Mount(version=2, path=tmp_path, root="/", controllers=frozenset())
    assert cgroup._layout_v2([mount], {"": "/grader"}) == \
        cgroup.Layout(2, memory=tmp_path, pids=None, pids_v2=True)
    # a container's root cgroup with processes: nowhere to go, the watchdog takes over
    assert cgroup._layout_v2([dataclasses.replace(mount, path=tmp_path / "grader")],
                             {"": "/"}) is None


def test_v2_limits_are_written(tmp_path: Path) -> None:
    layout = cgroup.Layout(2, memory=tmp_path, pids=None, pids_v2=True)
    original = cgroup._mkdir

    def mkdir(path: Path) -> Path:
        made = original(path)
        for name in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max",
                     "memory.events", "cgroup.procs"):
            (made / name).write_text("")
        return made

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cgroup, "_mkdir", mkdir)
        made = cgroup.create("agk-x", memory_mb=512, processes=64, layout=layout)
    assert made is not None and made.dirs == (tmp_path / "agk-x",)
    values = {n: (tmp_path / "agk-x" / n).read_text()
              for n in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max")}
    assert values == {"memory.max": str(512 << 20), "memory.swap.max": "0",
                      "memory.oom.group": "1", "pids.max": str(64 + cgroup.PIDS_SLACK)}
    (tmp_path / "agk-x" / "memory.events").write_text("low 0\noom 2\noom_kill 1\n")
    assert made.oom_kills() == 1


def test_mountinfo_and_recorded_paths(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "31 25 0:27 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n"
        "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "33 25 0:29 / /tmp rw - tmpfs tmpfs rw\n")
    found = cgroup.mounts(mountinfo=info)
    assert [(m.version, str(m.path)) for m in found] == [
        (1, "/sys/fs/cgroup/memory"), (1, "/sys/fs/cgroup/my pids"),
        (2, "/sys/fs/cgroup/unified")]
    assert "memory" in found[0].controllers
    fs = cgroup.mounts()
    if fs:  # only paths inside a cgroup file system, named after the private folder
        good = fs[0].path / "x" / "agk-abc"
        text = f"{good}\n/tmp/agk-abc\n{fs[0].path}/agk-other\n{fs[0].path}/../agk-abc\n"
        assert cgroup.recorded_dirs(text, "agk-abc") == [good]


def test_tree_usage_stops_early_and_refuses_deep_trees(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x" * 100_000)
    assert quota.tree_usage(tmp_path).inodes == 3
    assert quota.tree_usage(tmp_path).bytes >= 100_000
    deep = tmp_path / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(quota.MAX_DEPTH + 5):  # deeper than any path could name
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    assert quota.tree_usage(tmp_path, quota.DiskQuota(100, 10_000)).inodes > 10_000


# ---------------------------------------------------------------- a grader killed with -9


@needs_bwrap
@needs_hard
def test_sweep_removes_the_quota_and_cgroup_of_a_killed_grader(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path\n"
            "from autograder.engine.kernel.sandboxed import SandboxedKernel\n"
            f"k = SandboxedKernel(temp_root=Path(sys.argv[1]), slot={slot(2)})\n"
            "k.start(); assert k.run_code(\"open('/tmp/x', 'w').write('x')\").ok\n"
            "print('up', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    (private,) = tmp_path.glob("agk-*")
    dirs = [Path(line) for line in (private / CGROUPS).read_text().split()]
    assert quota.is_mount(private) and dirs and all(d.is_dir() for d in dirs)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while sweep_stale(tmp_path) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not private.exists() and not quota.is_mount(private)
    assert not any(d.exists() for d in dirs)
