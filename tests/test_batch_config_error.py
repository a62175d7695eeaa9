"""A batch whose assignment is misconfigured stops with the error, even though its
workers start before the checks of the configuration (``batch.grade`` starts them first,
so that their imports run beside the intake): nothing is graded, no worker is left."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
import pytest

from autograder.core.errors import ConfigError
from autograder.grading.batch import grade

HERE = Path(__file__).resolve().parent


def _children() -> set[str]:
    """This process's descendants but multiprocessing's resource tracker (it lives as
    long as the process that first used a pool)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in line:
            found.add(f"{child.pid} {line[:200]}")
    return found


def test_a_bad_completion_id_stops_the_batch_and_its_workers(tmp_path: Path) -> None:
    root = tmp_path / "assignments"
    shutil.copytree(HERE / "assignments" / "02_n", root / "02_n")
    manifest = root / "02_n" / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8")
                        + '\n[hand_grading]\ncompletion = ["no_such_cell"]\n',
                        encoding="utf-8")
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(HERE / "notebooks" / "add_correct.ipynb", subs / "s1.ipynb")
    before = _children()
    with pytest.raises(ConfigError, match="no_such_cell"):
        grade(assignment_id="02_n", submissions=[subs], out=tmp_path / "out",
              gradebook=tmp_path / "gb.sqlite", jobs=2, lang="en", assignments_root=root)
    assert not (tmp_path / "gb.sqlite").exists()
    deadline = time.monotonic() + 30
    while True:
        left = _children() - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left
