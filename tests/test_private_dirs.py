"""Kernels' private folders: removed on close, and swept up after a grader killed with -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from slots import worker_slot

from autograder.engine.kernel import zygote
from autograder.engine.kernel.private_dirs import OWNER, PrivateDir, sweep_stale
from autograder.engine.kernel.sandbox import bwrap_available

HERE = Path(__file__).resolve().parent


def _made_by_a_killed_process(tmp: Path) -> Path:
    code = ("import os, signal, sys; from pathlib import Path\n"
            "from autograder.engine.kernel.private_dirs import PrivateDir\n"
            "d = PrivateDir(Path(sys.argv[1])); (d.path / 'content').mkdir()\n"
            "(d.path / 'content' / 'answer.py').write_text('student work')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    before = set(tmp.glob("agk-*"))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp)], check=False)
    assert proc.returncode == -signal.SIGKILL
    (left,) = set(tmp.glob("agk-*")) - before
    return left


def test_a_live_folder_is_kept_and_a_dead_processs_folder_is_swept(tmp_path: Path) -> None:
    mine = PrivateDir(tmp_path)
    dead = _made_by_a_killed_process(tmp_path)
    assert sweep_stale(tmp_path) == 1
    assert mine.path.is_dir() and not dead.exists()
    mine.remove()
    assert not list(tmp_path.iterdir())
    assert sweep_stale(tmp_path) == 0


def test_what_is_not_an_abandoned_private_folder_is_left_alone(tmp_path: Path) -> None:
    dead = _made_by_a_killed_process(tmp_path)
    being_made = tmp_path / "agk-new"
    being_made.mkdir()                                  # its owner lock is not there yet
    (tmp_path / "agk-link").symlink_to(dead)            # only real directories count
    other = tmp_path / "agk-file"
    other.write_text("not a folder")
    assert sweep_stale(tmp_path) == 1
    assert being_made.is_dir() and other.is_file() and (tmp_path / "agk-link").is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder of another user")
def test_another_users_folder_is_left_alone(tmp_path: Path) -> None:
    dead = _made_by_a_killed_process(tmp_path)
    os.chown(dead, 65534, 65534)
    assert sweep_stale(tmp_path) == 0 and (dead / OWNER).exists()


@pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")
def test_a_sandboxed_kernel_of_a_killed_grader_leaves_nothing_after_a_sweep(tmp_path: Path
                                                                             ) -> None:
    code = ("import sys, time; from pathlib import Path\n"
            "from autograder.engine.kernel.sandboxed import SandboxedKernel\n"
            f"k = SandboxedKernel(temp_root=Path(sys.argv[1]), slot={worker_slot(400)})\n"
            "k.start(); assert k.run_code(\"open('work.txt', 'w').write('x')\").ok\n"
            "print('up', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    (private,) = tmp_path.glob("agk-*")
    assert (private / "content" / "work.txt").exists()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30  # bubblewrap's --die-with-parent takes its kernel
    while sweep_stale(tmp_path) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not private.exists()


def test_grade_sweeps_first_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.grading.batch import grade

    temp = tmp_path / "t"
    temp.mkdir()
    dead = _made_by_a_killed_process(temp)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # this process's temp dir only
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(HERE / "notebooks" / "png_renamed.ipynb", subs / "a.ipynb")
    summary = grade(assignment_id="02_n", submissions=[subs], out=tmp_path / "out",
                    gradebook=tmp_path / "gb.sqlite", assignments_root=HERE / "assignments",
                    kernel_factory="autograder.engine.kernel.sandboxed:SandboxedKernel")
    assert not dead.exists()
    codes = [m.code for m in summary.messages]
    if not zygote.available():  # where kernels cannot be forked, the batch says that too
        codes.remove("kernels_spawned")
    assert codes == ["swept_private_dirs"]
    swept = next(m for m in summary.messages if m.code == "swept_private_dirs")
    assert "1 件" in swept.message_ja
