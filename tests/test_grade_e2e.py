"""The whole engine on named hostile notebooks: real kernels, real bubblewrap, real SQLite.

One batch grades every sample against the tiny 02_n assignment (4 points: pytest checks
``test_add`` 2 and ``test_double`` 1, in-notebook test cell 1). Each sample must end in a
clear status, nobody's score may be inflated, and the batch must go on past every one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.engine.kernel.sandbox import bwrap_available
from autograder.grading.batch import grade

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE / "notebooks"
ASSIGNMENTS = HERE / "assignments"
HIDDEN_TEST = ASSIGNMENTS / "02_n" / "tests" / "test_02_n.py"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

# name -> (status, score, checks that must have failed, notice codes that must appear)
EXPECTED: dict[str, tuple[str, float, set[str], set[str]]] = {
    "add_correct": ("graded", 4, set(), set()),
    "add_wrong": ("graded", 1, {"test_add", "cell:test_add_cell"}, set()),
    # A rigged __eq__ fools neither the hidden checks nor the in-notebook cell: both
    # compare in the grader's process, where the student's object is only a handle.
    "add_eq_always_true": ("graded", 0, {"test_add", "test_double", "cell:test_add_cell"},
                           set()),
    "add_seed_tampering": ("graded", 4, set(), set()),
    "add_cheat_showtraceback": ("graded", 1, {"test_add", "cell:test_add_cell"},
                                {"tampering"}),
    "add_edited_test_cell": ("graded", 1, {"cell:test_add_cell"}, {"restored_cells"}),
    "add_deleted_test_cell": ("graded", 1, {"cell:test_add_cell"}, {"reinserted_cells"}),
    "hello": ("graded", 3, {"test_double"}, set()),
    "infinite_loop": ("timeout", 0, {"test_add"}, {"timeout"}),
    "sleep_forever": ("timeout", 0, {"test_add"}, {"timeout"}),
    "memory_hog": ("killed", 0, {"test_add"}, {"killed"}),
    "fork_bomb": ("graded", 0, {"test_add"}, set()),
    "print_100mb": ("graded", 0, {"test_add"}, set()),
    "sys_exit": ("graded", 0, {"test_add"}, set()),
    "os_exit": ("killed", 0, {"test_add"}, {"killed"}),
    "segfault": ("killed", 0, {"test_add"}, {"killed"}),
    "read_tests_folder": ("graded", 0, {"test_add"}, set()),
    "read_gradebook": ("graded", 0, {"test_add"}, set()),
    "read_other_submission": ("graded", 0, {"test_add"}, set()),
    "read_root": ("graded", 0, {"test_add"}, set()),
    "connect_host_port": ("graded", 0, {"test_add"}, set()),
    "write_outside": ("graded", 0, {"test_add"}, set()),
    "corrupted_json": ("invalid", 0, {"test_add"}, set()),
    "nbformat3": ("graded", 0, {"test_add"}, {"converted_nbformat3"}),
    "empty": ("invalid", 0, {"test_add"}, set()),
    "zero_cells": ("graded", 0, {"test_add"}, {"reinserted_cells"}),
    "png_renamed": ("invalid", 0, {"test_add"}, set()),
}


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[int, list[Any]]]:
    """A port on the host's loopback that the sandboxed notebook must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    accepted: list[Any] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def _set_param(path: Path, name: str, value: object) -> None:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = re.sub(rf"^{name} = .*$", f"{name} = {value!r}", cell.source, flags=re.M)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory,
          listener: tuple[int, list[Any]]) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("e2e")
    subs, gradebook = tmp / "subs", tmp / "gb.sqlite"
    subs.mkdir()
    for name in EXPECTED:
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", subs / f"{name}.ipynb")
    secret = Path("/root/.ag_e2e_secret") if os.geteuid() == 0 else tmp / "secret"
    secret.write_text("instructor only")
    targets = {"read_tests_folder": str(HIDDEN_TEST), "read_gradebook": str(gradebook),
               "read_other_submission": str(subs / "add_correct.ipynb"),
               "read_root": str(secret)}
    for name, target in targets.items():
        _set_param(subs / f"{name}.ipynb", "TARGET", target)
    _set_param(subs / "connect_host_port.ipynb", "PORT", listener[0])
    try:
        summary = grade(assignment_id="02_n", submissions=[subs], out=tmp / "out",
                        gradebook=gradebook, jobs=2, assignments_root=ASSIGNMENTS)
    finally:
        secret.unlink()
    records = json.loads((tmp / "out" / "results.json").read_text())
    return {"summary": summary, "by_name": {r["participant"]: r for r in records},
            "gradebook": gradebook, "tmp": tmp}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_gets_a_clear_status(batch: dict[str, Any], name: str) -> None:
    status, score, failed, notices = EXPECTED[name]
    record = batch["by_name"][name]
    assert record["status"] == status, record["reason"]
    assert record["score"] == score
    assert record["max_score"] == 4
    by_check = {c["name"]: c for c in record["checks"]}
    for check in failed:
        assert not by_check[check]["passed"], check
        assert by_check[check]["message"], "a failed check tells the student why"
    assert notices <= {n["code"] for n in record["notices"]}
    if status != "graded":
        assert record["reason"]


def test_batch_went_on_and_recorded_everyone(batch: dict[str, Any]) -> None:
    assert set(batch["by_name"]) == set(EXPECTED)
    assert len(batch["summary"].graded_now) == len(EXPECTED)


def test_nothing_reached_the_host(batch: dict[str, Any], listener: tuple[int, list[Any]]
                                  ) -> None:
    assert listener[1] == []
    assert not Path("/usr/ag_probe").exists() and not Path("/work/ag_probe").exists()


def test_messages_do_not_leak_hidden_tests(batch: dict[str, Any]) -> None:
    # the check's own message may be shown; its code and its inputs never
    code = [line.strip() for line in HIDDEN_TEST.read_text().splitlines()
            if "=" in line and "fail" not in line and len(line.strip()) > 12]
    for record in batch["by_name"].values():
        for check in record["checks"]:
            assert not [line for line in code if line in check["message"]]
            assert "rng." not in check["message"] and "1234" not in check["message"]


def test_rerun_grades_nothing_twice(batch: dict[str, Any]) -> None:
    tmp = batch["tmp"]
    again = grade(assignment_id="02_n", submissions=[tmp / "subs"], out=tmp / "out2",
                  gradebook=batch["gradebook"], jobs=2, assignments_root=ASSIGNMENTS)
    assert again.graded_now == [] and again.skipped == len(EXPECTED)
