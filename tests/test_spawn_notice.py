"""A batch that wanted forked kernels and could not fork says why (it is then much
slower); one where a person switched forking off, or a GPU batch, says nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autograder.core.config import load_assignment
from autograder.engine.kernel import zygote
from autograder.grading.batch import _LocalPool

BENCH = Path(__file__).resolve().parent.parent / "bench" / "assignments"


def _pool() -> _LocalPool:
    return _LocalPool(load_assignment("01_n", BENCH), 2, (), None, None)


@pytest.fixture
def python_in_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTOGRADER_FORK", "AUTOGRADER_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(zygote.os, "geteuid", lambda: 0)
    monkeypatch.setattr(zygote, "bwrap_available", lambda: True)
    monkeypatch.setattr(zygote.sys, "prefix", "/tmp/venv")


@pytest.mark.usefixtures("python_in_tmp")
def test_a_machine_that_cannot_fork_is_named() -> None:
    (notice,) = _pool()._spawned()
    assert notice.code == "kernels_spawned"
    assert "/tmp/venv" in notice.message_en and "/tmp/venv" in notice.message_ja
    assert "fork" in notice.message_ja and "slower" in notice.message_en


@pytest.mark.usefixtures("python_in_tmp")
def test_nothing_is_said_where_a_person_switched_forking_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_FORK", "0")
    assert _pool()._spawned() == []


@pytest.mark.usefixtures("python_in_tmp")
def test_nothing_is_said_for_a_gpu_batch() -> None:
    cuda = dataclasses.replace(load_assignment("01_n", BENCH), device="cuda")
    assert _LocalPool(cuda, 2, (0,), None, None)._spawned() == []


def test_nothing_is_said_where_forking_works() -> None:
    if not zygote.available():
        pytest.skip(f"no forked kernels: {zygote.unavailable_reason()}")
    assert _pool()._spawned() == []

