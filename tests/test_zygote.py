"""Forked kernels: what a child can reach, and the template it was forked from.

A child is a kernel of one submission; its template (``zygote.py``) has imported torch
and ipykernel once and forks one child per submission. Here children attack what a
spawned kernel could not reach either: the template, a sibling alive at the same time,
the sibling's files and sockets, the template's memory. The sandbox facts every kernel
must show (uid, capabilities, mounts, network, limits) are checked on both paths by
test_sandbox.py, test_kernel.py and test_limits.py.
"""

from __future__ import annotations

import ast
import ctypes
import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from forking import needs_fork, template
from slots import worker_slot

from autograder.core.config import Limits
from autograder.core.errors import SandboxError
from autograder.engine.kernel import template as worker_template
from autograder.engine.kernel import zygote
from autograder.engine.kernel.forked import ForkLauncher
from autograder.engine.kernel.sandbox import SANDBOX_FILES, SandboxSpec, bwrap_available
from autograder.engine.kernel.sandboxed import SandboxedKernel
from autograder.engine.kernel.zygote import Template, TemplateSpec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIMITS = Limits(cell_timeout_s=30, notebook_timeout_s=120, memory_mb=2048)

pytestmark = [pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap"),
              needs_fork]


def slot(n: int) -> int:
    return worker_slot(900, n)


@pytest.fixture(scope="module")
def made() -> Iterator[Template]:
    with template() as started:
        yield started


def child(made: Template, n: int) -> SandboxedKernel:
    kernel = SandboxedKernel(limits=LIMITS, slot=slot(n), lang="en",
                             launcher=ForkLauncher(made))
    kernel.start()
    return kernel


def value(kernel: SandboxedKernel, expr: str) -> Any:
    result = kernel.run_code(f"print(repr({expr}))", timeout=60)
    assert result.ok, (result, kernel.log_tail())
    return ast.literal_eval(result.stdout.strip())


def rollup(pid: int) -> dict[str, int]:
    """The template's memory figures (kB) from ``/proc/<pid>/smaps_rollup``."""
    found = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                found[key] = int(rest.split()[0])
    return found


# ---------------------------------------------------------------- processes


def test_a_child_sees_and_signals_nothing_but_its_own_processes(made: Template) -> None:
    with ExitStack() as stack:
        a = stack.enter_context(child(made, 0))
        b = stack.enter_context(child(made, 1))
        assert a._uid != b._uid
        assert value(a, "sorted(int(p) for p in __import__('os').listdir('/proc') "
                        "if p.isdigit())") == [1, 2]
        others = [made.host_pid, b._launched.process.pid, b._find_kernel_pid(), os.getpid()]
        probe = (f"import os\nfound = []\nfor pid in {others!r}:\n"
                 "    try:\n        os.kill(pid, 0)\n        found.append(pid)\n"
                 "    except OSError:\n        pass\n"
                 "try:\n    os.kill(-1, 9)  # everything it may signal: nothing\n"
                 "except ProcessLookupError:\n    found.append('none to signal')\n"
                 "os.kill(1, 9)  # its own reaper ignores it\nprint(found)")
        result = a.run_code(probe, timeout=60)
        assert result.ok and result.stdout.strip() == "['none to signal']", result
        # kill(-1) and a SIGKILL at its own pid 1 reached nothing outside: all alive
        assert a.alive and b.alive and made.alive
        assert value(b, "1 + 1") == 2 and value(a, "2 + 2") == 4


def test_a_child_cannot_reach_a_siblings_files_or_sockets(made: Template) -> None:
    with ExitStack() as stack:
        a = stack.enter_context(child(made, 0))
        b = stack.enter_context(child(made, 1))
        places = ["/content", "/tmp", "/dev/shm", "/exchange", "/home/student", "/run/agk"]
        planted = ("import os, socket\n"
                   f"for d in {places!r}:\n"
                   "    open(os.path.join(d, 'sibling-secret'), 'w').write('s')\n"
                   "srv = socket.socket(socket.AF_UNIX)\nsrv.bind('\\0ag-sibling')\n"
                   "srv.listen(1)\n")
        assert b.run_code(planted).ok
        search = ("import os, socket\nhits = []\n"
                  "for top in ['/content', '/tmp', '/dev', '/exchange', '/home', '/run', '/opt']:\n"
                  "    for root, dirs, files in os.walk(top):\n"
                  "        hits += [os.path.join(root, f) for f in files if 'sibling' in f]\n"
                  "try:\n    socket.socket(socket.AF_UNIX).connect('\\0ag-sibling')\n"
                  "    hits.append('socket')\nexcept OSError:\n    pass\n"
                  "print(hits)")
        result = a.run_code(search, timeout=60)
        assert result.ok and result.stdout.strip() == "[]", result
        assert (b.workdir / "sibling-secret").exists()


def test_another_grader_with_its_own_tmpdir_never_kills_a_child(
        made: Template, tmp_path: Path) -> None:
    # Another grader on the machine, TMPDIR elsewhere (bench/gpu_check.sh does that),
    # opens and closes a kernel of the same slot. Closing a kernel kills every process of
    # its uid: when uid leases lived below TMPDIR it got this child's uid and killed it
    # ("The kernel crashed (signal SIGKILL)", seen in the hostile corpus's settrace row).
    with child(made, 2) as a:
        other = ("from autograder.engine.kernel.sandboxed import SandboxedKernel\n"
                 f"with SandboxedKernel(slot={slot(2)}) as k:\n"
                 "    assert k.run_code('1').ok\n    print(k._uid)\n")
        env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", other], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert a.alive, a.death_reason()
        assert int(done.stdout.split()[-1]) != a._uid
        assert value(a, "1 + 1") == 2


# ---------------------------------------------------------------- the template


def test_the_template_is_untouched_by_what_a_child_does(made: Template) -> None:
    vandal = ("import sys, json, numpy, torch, ag_bridge, ctypes\n"
              "torch.nn.Module.__call__ = None\nnumpy.pi = 3.0\njson.dumps = None\n"
              "ag_bridge.serve = None\nsys.modules.pop('torch')\n"
              "open('/tmp/vandal', 'w').write('x')\n"
              "ctypes.memset(id(ag_bridge._HANDLES), 0, 8)  # its own copy-on-write page\n")
    with child(made, 0) as first:
        first.run_code(vandal)
    with child(made, 1) as second:
        assert value(second, "__import__('torch').nn.Module.__call__ is not None") is True
        assert value(second, "round(__import__('numpy').pi, 5)") == 3.14159
        assert value(second, "__import__('json').dumps([1])") == "[1]"
        assert value(second, "callable(__import__('ag_bridge').serve)") is True
        assert value(second, "__import__('os').path.exists('/tmp/vandal')") is False
        assert value(second, "'torch' in __import__('sys').modules") is True
    assert made.alive


def test_a_child_collects_garbage_as_a_fresh_interpreter(made: Template) -> None:
    # the template imports with the collector off and freezes what it imported: its
    # children get the collector back, and a cycle they drop is freed
    with child(made, 0) as kernel:
        assert value(kernel, "__import__('gc').isenabled()") is True
        assert value(kernel, "__import__('gc').get_threshold()") == (700, 10, 10)
        code = ("import gc, weakref\nclass Node: pass\na = Node(); a.me = a\n"
                "ref = weakref.ref(a)\ndel a\ngc.collect()\nprint(ref() is None)")
        result = kernel.run_code(code, timeout=60)
        assert result.ok and result.stdout.strip() == "True", result


def compacted(made: Template, timeout: float = 60.0) -> None:
    """Ask the template to move its memory into huge pages; wait until it has."""
    deadline = time.monotonic() + timeout
    while made.compact() > 0:
        assert time.monotonic() < deadline, "the template did not finish compacting"
        time.sleep(0.05)


def huge_pages_usable() -> bool:
    try:
        enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False
    release = tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit())
    return "[never]" not in enabled and release >= (6, 1)   # MADV_COLLAPSE: Linux 6.1


def test_compaction_keeps_every_child_on_its_own_pages(made: Template) -> None:
    # after the template's memory is in huge pages, a child that writes into one still
    # writes only its own copy: the next child sees the template as it was
    compacted(made)
    pid = made.host_pid
    assert pid is not None
    if huge_pages_usable():
        assert rollup(pid)["AnonHugePages"] >= 64 << 10, rollup(pid)
    vandal = ("import ctypes, torch, numpy\n"
              "ctypes.memset(id(torch.nn.Module), 0xAB, 64)\n"     # in a shared huge page
              "ctypes.memset(numpy.zeros(1).ctypes.data - 4096, 0, 64)\n")
    with child(made, 0) as first:
        first.run_code(vandal)
    with child(made, 1) as second:
        assert value(second, "__import__('torch').nn.Module.__name__") == "Module"
        assert value(second, "int(__import__('numpy').ones(3).sum())") == 3
    assert made.alive
    assert made.compact() == 0   # asked again: nothing more to do


@pytest.mark.slow
def test_the_templates_memory_does_not_change_across_50_children(made: Template) -> None:
    pid = made.host_pid
    assert pid is not None
    for n in range(3):  # the template's first requests settle its own allocations
        with child(made, n % 2):
            pass
    compacted(made)   # as it does after its first forks (zygote.COMPACT_AFTER)
    before = rollup(pid)
    for n in range(50):
        with child(made, n % 2) as kernel:
            assert kernel.run_code("x = bytearray(20 << 20)\nimport torch\n"
                                   "torch.nn.Module.__call__ = None").ok
    after = rollup(pid)
    grown = {k: after[k] - before[k] for k in ("Rss", "Private_Dirty", "Anonymous")}
    print(f"\ntemplate memory across 50 children (kB): {grown}")
    assert all(kb <= 64 for kb in grown.values()), grown
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        assert "Threads:\t1\n" in fh.read()


def kernel_side_zygote() -> Any:
    sys.path.insert(0, str(SANDBOX_FILES))
    try:
        import ag_zygote
    finally:
        sys.path.remove(str(SANDBOX_FILES))
    return ag_zygote


MAPS = """\
55d5c0000000-55d5c0a00000 rw-p 00000000 00:00 0                          [heap]
7f0000100000-7f0000a00000 rw-p 00000000 00:00 0
7f0001000000-7f0001100000 rw-p 00000000 00:00 0
7f0002000000-7f0002600000 rw-p 00001000 08:01 1234                       /usr/lib/libx.so
7f0003000000-7f0003600000 r--p 00000000 00:00 0
7f0004000000-7f0004600000 rw-s 00000000 00:01 99                         /dev/zero (deleted)
7ffc00000000-7ffc00600000 rw-p 00000000 00:00 0                          [stack]
"""
# the heap (10 MiB: 4 + 4 + 2), the aligned 8 MiB of 0x7f0000100000-0x7f0000a00000;
# not the 1 MiB mapping, a file, read-only, shared memory or the stack
CHUNKS = [(0x55d5c0000000, 4 << 20), (0x55d5c0400000, 4 << 20), (0x55d5c0800000, 2 << 20),
          (0x7f0000200000, 4 << 20), (0x7f0000600000, 4 << 20)]


@pytest.fixture
def maps(tmp_path: Path) -> str:
    path = tmp_path / "maps"
    path.write_text(MAPS)
    return str(path)


def test_compaction_takes_aligned_private_anonymous_memory_in_steps(maps: str) -> None:
    assert kernel_side_zygote().Compaction(maps).chunks == CHUNKS


@pytest.mark.parametrize("code", [0, errno.EAGAIN, errno.EINVAL],
                         ids=["collapsed", "busy-page", "refused"])
def test_a_compaction_step_takes_one_piece_whatever_the_kernel_says(
        maps: str, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    ag_zygote = kernel_side_zygote()
    work = ag_zygote.Compaction(maps)
    calls: list[tuple[int, int, int]] = []

    def madvise(start: int, size: int, advice: int) -> int:
        calls.append((start, size, advice))
        ctypes.set_errno(code)
        return -1 if code else 0

    monkeypatch.setattr(ag_zygote, "_madvise", madvise)
    while work.left():
        work.step()
    assert calls == [(start, size, ag_zygote.MADV_COLLAPSE) for start, size in CHUNKS]


def test_a_template_with_a_thread_does_not_fork() -> None:
    ag_zygote = kernel_side_zygote()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert "threads" in ag_zygote._fork_safe()
    finally:
        stop.set()
        thread.join()


# ---------------------------------------------------------------- falling back


def test_no_template_where_forking_is_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_FORK", "0")
    assert not zygote.available()
    assert worker_template.start(TemplateSpec()) is None
    assert worker_template.with_launcher(SandboxedKernel, {"slot": 1}) == {"slot": 1}


@pytest.mark.parametrize(("env", "prefix", "said"), [
    ({"AUTOGRADER_FORK": "0"}, None, "AUTOGRADER_FORK=0"),
    ({"AUTOGRADER_FORK": "off"}, None, "AUTOGRADER_FORK=off"),
    ({"AUTOGRADER_SANDBOX": "none"}, None, "AUTOGRADER_SANDBOX=none"),
    ({}, "/tmp/venv", "/tmp"),
    ({}, "/dev/shm/x/venv", "/tmp or /dev/shm"),
], ids=["fork-0", "fork-off", "no-sandbox", "python-in-tmp", "python-in-shm"])
def test_why_kernels_are_not_forked_is_said(monkeypatch: pytest.MonkeyPatch,
                                            env: dict[str, str], prefix: str | None,
                                            said: str) -> None:
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    if prefix is not None:
        monkeypatch.setattr(zygote.os, "geteuid", lambda: 0)
        monkeypatch.setattr(zygote, "bwrap_available", lambda: True)
        monkeypatch.setattr(zygote.sys, "prefix", prefix)
    assert said in zygote.unavailable_reason()
    assert not zygote.available()


def test_a_misspelt_fork_switch_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_FORK", "maybe")
    with pytest.raises(SandboxError, match="AUTOGRADER_FORK"):
        zygote.unavailable_reason()


def test_a_broken_template_means_spawned_kernels(tmp_path: Path) -> None:
    broken = Template(TemplateSpec(preload=("numpy",)))
    broken.start()
    broken.close()  # gone before its first fork
    launcher = ForkLauncher(broken)
    with SandboxedKernel(limits=LIMITS, slot=slot(2), launcher=launcher) as kernel:
        assert value(kernel, "1 + 2") == 3
        assert kernel._launched is not None and kernel._launched.manager is not None
    assert launcher.failed is not None


def test_gpu_kernels_and_other_datasets_are_spawned(tmp_path: Path) -> None:
    spec = SandboxSpec(workdir=tmp_path, exchange=tmp_path, home=tmp_path,
                       runtime=tmp_path / "run")
    made = TemplateSpec(datasets=(("MNIST", tmp_path / "MNIST"),))
    assert made.serves(spec)
    assert not made.serves(dataclasses.replace(spec, gpu=0))
    other = (("CIFAR10", tmp_path / "CIFAR10"),)
    assert not made.serves(dataclasses.replace(spec, datasets=other))


# ---------------------------------------------------------------- the same results


VARIANTS = ["13_n_alt", "13_n_bug_softmax_unstable", "13_n_bug_step_at_zero",
            "13_n_alt_recursive_softmax"]


def _graded(tmp: Path, *, fork: bool) -> list[dict[str, Any]]:
    from autograder.grading.batch import grade

    subs = tmp / "subs"
    if not subs.exists():
        subs.mkdir()
        for name in VARIANTS:
            shutil.copy(HERE / "variants" / f"{name}.ipynb", subs / f"{name}.ipynb")
    out = tmp / ("out-fork" if fork else "out-spawn")
    summary = grade(assignment_id="13_n", submissions=[subs], out=out,
                    gradebook=out / "gb.sqlite", jobs=2, lang="en", fork=fork,
                    assignments_root=ROOT / "assignments")
    records = json.loads(Path(summary.results_json or "").read_text(encoding="utf-8"))
    return sorted(records, key=lambda r: r["participant"])


@pytest.mark.slow
def test_forked_and_spawned_kernels_grade_alike(tmp_path: Path) -> None:
    spawned, forked = _graded(tmp_path, fork=False), _graded(tmp_path, fork=True)
    assert [r["participant"] for r in forked] == sorted(VARIANTS)
    for a, b in zip(spawned, forked, strict=True):
        assert (a["status"], a["score"], a["max_score"]) == (b["status"], b["score"],
                                                             b["max_score"])
        assert [(c["name"], c["points"], c["passed"], c["message"]) for c in a["checks"]] \
            == [(c["name"], c["points"], c["passed"], c["message"]) for c in b["checks"]]
    scores = {r["participant"]: r["score"] for r in forked}
    assert scores["13_n_alt"] == scores["13_n_alt_recursive_softmax"] == forked[0]["max_score"]
    assert scores["13_n_bug_step_at_zero"] < scores["13_n_alt"]


def test_a_killed_grader_takes_its_template_along(tmp_path: Path) -> None:
    """The template and its children die with the worker (bubblewrap's
    --die-with-parent, the children's parent-death signal); the sweep removes its folder."""
    import subprocess
    import time

    import psutil

    from autograder.engine.kernel.private_dirs import sweep_stale

    code = ("import sys, time\nfrom pathlib import Path\n"
            "from autograder.engine.kernel.zygote import Template, TemplateSpec\n"
            "t = Template(TemplateSpec(preload=('numpy',)), temp_root=Path(sys.argv[1]))\n"
            "t.start()\nt.wait_ready()\nprint(t.host_pid, flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert psutil.pid_exists(pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid)
    assert sweep_stale(tmp_path) == 1 and not list(tmp_path.glob("agk-*"))


# ---------------------------------------------------------------- validate's kernels


def test_validate_forks_its_kernels_and_closes_the_template_it_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``autograder validate`` grades on the path ``grade`` takes: both notebooks in
    kernels forked from the assignment's template, which is gone after; a template already
    running for the assignment is used and left running."""
    from autograder.authoring.validate import validate
    from autograder.core.config import load_assignment
    from autograder.engine.grade_one import template_spec

    forked_by: list[Template] = []
    fork = Template.fork

    def counted(self: Template, request: dict[str, Any], fds: Any) -> tuple[int, int]:
        forked_by.append(self)
        return fork(self, request, fds)

    monkeypatch.setattr(Template, "fork", counted)
    assert worker_template.current() is None
    assert validate(assignment_id="13_n", assignments_root=ROOT / "assignments",
                    cpu_threads=1).ok
    assert len(forked_by) == 2 and forked_by[0] is forked_by[1]
    assert not forked_by[0].alive and worker_template.current() is None

    running = worker_template.start(template_spec(load_assignment("13_n", ROOT / "assignments"),
                                               None))
    try:
        assert validate(assignment_id="13_n", assignments_root=ROOT / "assignments",
                        cpu_threads=1).ok
        assert forked_by[2:] == [running, running] and running is not None and running.alive
        assert worker_template.current() is running
    finally:
        worker_template.stop()
