"""The sandbox command line, checked by running real processes under real bubblewrap.

One probe process per mode reports what it sees (uid, env, rlimits, mounts, network) as
JSON; the tests below each check one fact of that report. The same probe also runs in a
kernel forked from a kernel template (``zygote.py``): every fact must hold there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from forking import template

from autograder.core.config import Limits
from autograder.core.errors import SandboxError
from autograder.engine.kernel import proctree, sandbox
from autograder.engine.kernel.sandbox import SandboxSpec, wrap_command

REPO = Path(__file__).resolve().parent.parent
LIMITS = Limits(memory_mb=1024, processes=64, file_size_mb=32)
IS_ROOT = os.geteuid() == 0

needs_bwrap = pytest.mark.skipif(not sandbox.bwrap_available(),
                                 reason="bubblewrap cannot create namespaces here")

PROBE = r"""
import json, os, resource, socket, sys
port = int(sys.argv[1])
r = {}
r["uid"], r["gid"], r["groups"] = os.getuid(), os.getgid(), os.getgroups()
r["cwd"] = os.getcwd()
r["env"] = dict(os.environ)
r["rlimits"] = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
                for n in ("NPROC", "FSIZE", "CORE", "NOFILE", "AS")}
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
r["cap_eff"] = status["CapEff"].strip()
r["no_new_privs"] = status["NoNewPrivs"].strip()
r["root_entries"] = sorted(os.listdir("/"))
def outcome(fn):
    try:
        return repr(fn())
    except BaseException as exc:
        return type(exc).__name__
r["project"] = outcome(lambda: sorted(os.listdir(sys.argv[2])))
r["project_file"] = outcome(lambda: open(sys.argv[3], "rb").read(10))
r["connect"] = outcome(lambda: socket.create_connection(("127.0.0.1", port), timeout=3))
r["write_usr"] = outcome(lambda: open("/usr/ag_probe", "w"))
r["write_tmp"] = outcome(lambda: open("/tmp/ag_probe", "w").write("x"))
r["write_cwd"] = outcome(lambda: open("ag_probe", "w").write("x"))
for where in ("MNIST/raw/x", "data/MNIST/raw/x", "/content/data/MNIST/raw/x"):
    r["read " + where] = outcome(lambda: open(where, "rb").read())
r["write dataset"] = outcome(lambda: open("data/MNIST/raw/evil", "w"))
r["shadow"] = outcome(lambda: open("/etc/shadow", "rb").read(1))
print(json.dumps(r))
"""


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A socket listening on the host's loopback; nothing in the sandbox may reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> SandboxSpec:
    root = tmp_path_factory.mktemp("sandbox")
    cache = root / "cache" / "MNIST" / "raw"
    cache.mkdir(parents=True)
    (cache / "x").write_bytes(b"idx")
    spec = SandboxSpec(workdir=root / "content", exchange=root / "exchange", home=root / "home",
                       datasets=(("MNIST", root / "cache" / "MNIST"),), limits=LIMITS,
                       cpu_threads=2, uid=sandbox.slot_uid(40))
    return spec


def _probe(spec: SandboxSpec, mode: sandbox.Mode, port: int) -> dict[str, Any]:
    sandbox.prepare_dirs(spec, mode=mode)
    argv = [sys.executable, "-c", PROBE, str(port), str(REPO), str(REPO / "pyproject.toml")]
    done = subprocess.run(wrap_command(argv, spec, mode=mode), capture_output=True, text=True,
                          timeout=60, check=False,
                          env={"PATH": os.environ["PATH"], "AG_GRADER_SECRET": "s3cret"})
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout), "host_workdir": spec.workdir, "host_uid": spec.uid}


@contextlib.contextmanager
def _forked_probe(spec: SandboxSpec, port: int) -> Iterator[dict[str, Any]]:
    """The probe run in a forked kernel made for the same limits, threads and datasets
    (the kernel stays open, its folders too, while the tests read the report)."""
    from autograder.engine.kernel.forked import ForkLauncher
    from autograder.engine.kernel.sandboxed import SandboxedKernel

    argv = ["probe", str(port), str(REPO), str(REPO / "pyproject.toml")]
    with template(spec.datasets) as made, \
            SandboxedKernel(limits=spec.limits, datasets=spec.datasets, slot=42,
                            cpu_threads=spec.cpu_threads, launcher=ForkLauncher(made)) as kernel:
        done = kernel.run_code(f"import sys\nsys.argv = {argv!r}\nexec({PROBE!r})", timeout=60)
        assert done.ok, (done, kernel.log_tail())
        yield {**json.loads(done.stdout), "host_workdir": kernel.workdir,
               "host_uid": kernel._uid}


@pytest.fixture(scope="module", params=["spawn", "fork"])
def seen(request: pytest.FixtureRequest, spec: SandboxSpec, listener: socket.socket
         ) -> Iterator[dict[str, Any]]:
    if not sandbox.bwrap_available():
        pytest.skip("bubblewrap cannot create namespaces here")
    if request.param == "spawn":
        yield _probe(spec, "bwrap", listener.getsockname()[1])
        return
    with _forked_probe(spec, listener.getsockname()[1]) as report:
        yield report


@pytest.fixture(scope="module")
def seen_fallback(tmp_path_factory: pytest.TempPathFactory, spec: SandboxSpec,
                  listener: socket.socket) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fallback")
    fallback = SandboxSpec(workdir=root / "content", exchange=root / "exchange",
                           home=root / "home", datasets=spec.datasets, limits=LIMITS,
                           uid=sandbox.slot_uid(41))
    return _probe(fallback, "none", listener.getsockname()[1])


# ----------------------------------------------------------------------------- bwrap


@needs_bwrap
def test_kernel_user_is_not_root(seen: dict[str, Any]) -> None:
    assert seen["uid"] != 0
    if IS_ROOT:
        uid = seen["host_uid"]
        assert (seen["uid"], seen["gid"], seen["groups"]) == (uid, uid, [])


@needs_bwrap
def test_no_capabilities_and_no_new_privileges(seen: dict[str, Any]) -> None:
    assert int(seen["cap_eff"], 16) == 0
    assert seen["no_new_privs"] == "1"


@needs_bwrap
def test_environment_is_only_what_the_kernel_needs(seen: dict[str, Any]) -> None:
    env = seen["env"]
    assert "AG_GRADER_SECRET" not in env
    assert env["HOME"] == sandbox.HOME
    assert env["AG_EXCHANGE"] == sandbox.EXCHANGE
    assert env["PYTHONPATH"] == sandbox.OPT
    assert env["IPYTHONDIR"] == f"{sandbox.HOME}/.ipython"
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["LANG"] == "C.UTF-8"
    assert "MPLBACKEND" in env


@needs_bwrap
@pytest.mark.parametrize(("name", "expected"), [
    ("NPROC", LIMITS.processes),
    ("FSIZE", LIMITS.file_size_mb << 20),
    ("CORE", 0),
    ("NOFILE", sandbox.NOFILE),
    ("AS", (LIMITS.memory_mb + sandbox.AS_HEADROOM_MB) << 20),
])
def test_rlimits(seen: dict[str, Any], name: str, expected: int) -> None:
    assert seen["rlimits"][name] == expected


@needs_bwrap
def test_only_system_python_and_private_dirs_are_visible(seen: dict[str, Any]) -> None:
    assert seen["cwd"] == sandbox.CONTENT
    allowed = {"bin", "content", "dev", "etc", "exchange", "home", "lib", "lib32", "lib64",
               "libx32", "opt", "proc", "root", "run", "sbin", "tmp", "usr"}
    # the venv's own top folder (/work here, /check on CI) is bound for the interpreter
    allowed |= {Path(p).resolve().parts[1] for p in (sys.prefix, sys.base_prefix)}
    assert set(seen["root_entries"]) <= allowed
    # The project folder holds the assignments' hidden tests and the gradebook: only
    # the venv inside it is bound, nothing else of it exists in the sandbox.
    venv = Path(sys.prefix)
    if REPO in venv.parents:
        assert seen["project"] == repr(sorted([venv.relative_to(REPO).parts[0]]))
    else:
        assert seen["project"] == "FileNotFoundError"
    assert seen["project_file"] == "FileNotFoundError"
    assert seen["shadow"] in ("FileNotFoundError", "PermissionError")


@needs_bwrap
def test_no_network_to_the_host(seen: dict[str, Any], listener: socket.socket) -> None:
    assert seen["connect"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
    with pytest.raises(BlockingIOError):
        listener.accept()


@needs_bwrap
@pytest.mark.parametrize(("key", "expected"), [
    ("write_usr", "OSError"),
    ("write_tmp", "1"),
    ("write_cwd", "1"),
    ("read MNIST/raw/x", repr(b"idx")),
    ("read data/MNIST/raw/x", repr(b"idx")),
    ("read /content/data/MNIST/raw/x", repr(b"idx")),
    ("write dataset", "OSError"),
])
def test_writable_only_where_meant(seen: dict[str, Any], key: str, expected: str) -> None:
    assert seen[key] == expected


@needs_bwrap
def test_work_files_land_in_the_host_workdir(seen: dict[str, Any]) -> None:
    workdir = Path(seen["host_workdir"])
    assert (workdir / "ag_probe").read_text() == "x"
    assert not Path("/usr/ag_probe").exists()
    if IS_ROOT:
        assert (workdir / "ag_probe").stat().st_uid == seen["host_uid"]


# ----------------------------------------------------------------------------- fallback


@pytest.mark.skipif(not IS_ROOT, reason="the uid drop needs a root grader")
def test_fallback_still_drops_root_and_sets_limits(seen_fallback: dict[str, Any]) -> None:
    assert seen_fallback["uid"] == sandbox.slot_uid(41)
    assert seen_fallback["groups"] == []
    assert seen_fallback["rlimits"]["NPROC"] == LIMITS.processes
    assert "AG_GRADER_SECRET" not in seen_fallback["env"]
    assert seen_fallback["write_usr"] in ("PermissionError", "OSError")
    assert seen_fallback["read data/MNIST/raw/x"] == repr(b"idx")


def test_fallback_warns_once_loudly(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "none")
    monkeypatch.setitem(sandbox._WARNED, "no_sandbox", False)
    assert sandbox.sandbox_mode(lang="ja") == "none"
    assert "サンドボックスなし" in capsys.readouterr().err
    assert sandbox.sandbox_mode(lang="ja") == "none"
    assert capsys.readouterr().err == ""


def test_fallback_warning_in_english(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sandbox._WARNED, "no_sandbox", False)
    assert sandbox.warn_no_sandbox(lang="en", requested=True)
    assert "WITHOUT a sandbox" in capsys.readouterr().err


def test_unknown_sandbox_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "docker")
    with pytest.raises(SandboxError, match="AUTOGRADER_SANDBOX"):
        sandbox.sandbox_mode()


# ----------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("flag", ["--unshare-net", "--unshare-pid", "--die-with-parent",
                                  "--new-session", "--clearenv"])
def test_command_line_has_the_isolation_flags(spec: SandboxSpec, flag: str) -> None:
    cmd = wrap_command(["python"], spec, mode="bwrap")
    assert flag in cmd or (flag.startswith("--unshare") and "--unshare-all" in cmd)
    assert cmd[cmd.index("--cap-drop") + 1] == "ALL"


def test_no_bind_exposes_the_project(spec: SandboxSpec) -> None:
    cmd = wrap_command(["python"], spec, mode="bwrap")
    sources = [Path(cmd[i + 1]) for i, arg in enumerate(cmd)
               if arg in ("--bind", "--ro-bind", "--ro-bind-try", "--dev-bind")]
    venv = Path(sys.prefix).resolve()
    for src in sources:
        assert not (src == REPO or REPO in src.parents) or src == venv \
            or src == sandbox.SANDBOX_FILES, src


def test_gpu_kernels_have_no_address_space_limit(spec: SandboxSpec) -> None:
    from dataclasses import replace

    assert not any(a.startswith("--as=") for a in sandbox.limit_prefix(replace(spec, gpu=0)))
    assert any(a.startswith("--as=") for a in sandbox.limit_prefix(spec))


def test_nvidia_minor_follows_pci_order(tmp_path: Path) -> None:
    for bus, minor in (("0000:af:00.0", 0), ("0000:3b:00.0", 1)):
        (tmp_path / bus).mkdir()
        (tmp_path / bus / "information").write_text(f"Model: X\nDevice Minor: {minor}\n")
    assert sandbox.nvidia_minor(0, proc=tmp_path) == 1
    assert sandbox.nvidia_minor(1, proc=tmp_path) == 0
    with pytest.raises(SandboxError):
        sandbox.nvidia_minor(2, proc=tmp_path)
    assert sandbox.nvidia_minor(3, proc=tmp_path / "missing") == 3


@pytest.mark.parametrize("name", ["", ".", "..", "data", "a/b"])
def test_dataset_entry_names_are_plain(spec: SandboxSpec, name: str) -> None:
    from dataclasses import replace

    with pytest.raises(SandboxError):
        wrap_command(["python"], replace(spec, datasets=((name, Path("/tmp")),)), mode="bwrap")


def test_slots_get_distinct_uids() -> None:
    assert len({sandbox.slot_uid(s) for s in range(16)}) == 16
    with pytest.raises(ValueError):
        sandbox.slot_uid(-1)


def test_uid_leases_are_exclusive(tmp_path: Path) -> None:
    first = sandbox.lease_uid(sandbox.slot_uid(3), lock_dir=tmp_path)
    second = sandbox.lease_uid(sandbox.slot_uid(3), lock_dir=tmp_path)
    assert first.uid == sandbox.slot_uid(3)
    assert second.uid != first.uid
    first.release()
    third = sandbox.lease_uid(sandbox.slot_uid(3), lock_dir=tmp_path)
    assert third.uid == sandbox.slot_uid(3)
    second.release()
    third.release()


@pytest.mark.skipif(os.geteuid() != 0, reason="running a process as another uid needs root")
def test_uid_lease_skips_a_uid_another_grader_runs(tmp_path: Path) -> None:
    """A grader that locks elsewhere (another TMPDIR, an older version) still never gets
    a uid whose processes are alive: closing a kernel kills every process of its uid."""
    uid = sandbox.slot_uid(7)
    squatter = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    try:
        deadline = time.monotonic() + 5
        while not proctree.uid_in_use(uid) and time.monotonic() < deadline:
            time.sleep(0.01)
        lease = sandbox.lease_uid(uid, lock_dir=tmp_path)
        assert lease.uid != uid
        lease.release()
    finally:
        squatter.kill()
        squatter.wait()
    lease = sandbox.lease_uid(uid, lock_dir=tmp_path)
    assert lease.uid == uid
    lease.release()


def test_uid_leases_are_machine_wide_whatever_tmpdir_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # two graders on one machine, one with TMPDIR elsewhere (bench/gpu_check.sh): the
    # second must not get the uid the first holds, or closing one kernel kills the other
    uid = sandbox.slot_uid(977)  # a slot no real grader here uses
    first = sandbox.lease_uid(uid)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        second = sandbox.lease_uid(uid)
        assert second.uid != first.uid
        second.release()
        assert not (tmp_path / "autograder-uids").exists()
    finally:
        first.release()


def test_missing_dataset_is_a_clear_error(spec: SandboxSpec, tmp_path: Path) -> None:
    from dataclasses import replace

    broken = replace(spec, datasets=(("MNIST", tmp_path / "nowhere"),))
    with pytest.raises(SandboxError, match="does not exist"):
        wrap_command(["python"], broken, mode="bwrap")


def test_the_font_cache_is_found_without_importing_matplotlib(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The newest ``fontlist-*.json`` of matplotlib's cache folder (an older matplotlib's
    cache beside it is not the one to seed), found before matplotlib is imported."""
    folder = tmp_path / "mpl"
    folder.mkdir()
    old, new = folder / "fontlist-v390.json", folder / "fontlist-v3.11.0.json"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1_000_000, 1_000_000))
    monkeypatch.setenv("MPLCONFIGDIR", str(folder))
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    assert sandbox._matplotlib_font_cache() == new
    assert "matplotlib" not in sys.modules
