"""nbgrader semantics on submissions: restoring locked cells, injecting parameters."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from autograder.core.errors import ConfigError, NotebookError
from autograder.core.notebooks import read_notebook
from autograder.engine.parameters import inject_parameters
from autograder.engine.restore import (
    INJECTED_TAG,
    RECORD_KEY,
    grade_id_of,
    index_source,
    restore_locked_cells,
)

NB = Path(__file__).parent / "notebooks"
LOCKED = ("intro", "test_and", "test_xor", "feedback_prompt")
ALL_IDS = ("intro", "and_gate", "test_and", "xor_gate", "test_xor", "feedback_prompt",
           "feedback")


@pytest.fixture(scope="module")
def source() -> NotebookNode:
    return read_notebook(NB / "source_demo.ipynb").nb


def load(name: str) -> NotebookNode:
    return read_notebook(NB / name).nb


def by_id(nb: NotebookNode, grade_id: str) -> NotebookNode:
    matches = [c for c in nb.cells if grade_id_of(c) == grade_id]
    assert len(matches) == 1, (grade_id, len(matches))
    return matches[0]


def ids_in_order(nb: NotebookNode) -> list[str]:
    return [gid for gid in map(grade_id_of, nb.cells) if gid is not None]


# name → (restored, reinserted, adopted, missing, unknown)
CASES = {
    "released_demo.ipynb": ((), (), (), (), ()),
    "demo_correct.ipynb": ((), (), (), (), ()),
    "colab_metadata.ipynb": ((), (), (), (), ()),
    "cheat_showtraceback.ipynb": ((), (), (), (), ()),
    "edited_test_cell.ipynb": (("test_xor",), (), (), (), ("bonus",)),
    "deleted_test_cell.ipynb": ((), ("test_and", "feedback_prompt"), (), (), ()),
    "stripped_metadata.ipynb": ((), (), ("intro", "test_and", "test_xor", "feedback_prompt",
                                         "and_gate", "xor_gate", "feedback"), (), ()),
    "zero_cells.ipynb": ((), LOCKED, (), ("and_gate", "xor_gate", "feedback"), ()),
    "nbformat3.ipynb": ((), LOCKED, (), ("and_gate", "xor_gate", "feedback"), ()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_restore_table(name: str, source: NotebookNode) -> None:
    submission = load(name)
    before = json.dumps(submission, sort_keys=True)
    report = restore_locked_cells(submission, source)
    restored, reinserted, adopted, missing, unknown = CASES[name]
    assert report.restored == restored
    assert report.reinserted == reinserted
    assert report.adopted == adopted
    assert report.missing == missing
    assert report.unknown == unknown
    assert json.dumps(submission, sort_keys=True) == before, "the input was mutated"
    nb = report.notebook
    nbformat.validate(nb)
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    present = [g for g in ALL_IDS if g not in missing]
    assert ids_in_order(nb) == present
    for sc in index_source(source):
        if sc.locked:  # the released text (never hidden tests) and the source's metadata
            cell = by_id(nb, sc.grade_id)
            assert (cell.cell_type, cell.source) == (sc.cell.cell_type, sc.released)
            assert "HIDDEN" not in cell.source
            meta = dict(cell.metadata["nbgrader"])
            assert meta.pop("checksum")
            assert meta == dict(sc.cell.metadata["nbgrader"])
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False


@pytest.mark.parametrize("name", ["demo_correct.ipynb", "edited_test_cell.ipynb",
                                  "colab_metadata.ipynb", "stripped_metadata.ipynb"])
def test_student_cells_are_kept_as_written(name: str, source: NotebookNode) -> None:
    submission = load(name)
    nb = restore_locked_cells(submission, source).notebook
    answers = {gid: c.source for c in submission.cells
               if (gid := grade_id_of(c)) in ("and_gate", "xor_gate", "feedback")}
    for gid, text in answers.items():
        assert by_id(nb, gid).source == text
    extra = [c.source for c in nb.cells if c.source.startswith("def NAND")]
    assert len(extra) == 1, "the student's own cell must survive"
    assert by_id(nb, "and_gate").source.startswith("def AND(a, b):\n    return")


def test_hidden_tests_never_reach_the_kernel(source: NotebookNode) -> None:
    released = load("released_demo.ipynb")
    assert "HIDDEN" not in by_id(released, "test_xor").source
    nb = restore_locked_cells(released, source).notebook
    # the grader runs the hidden part itself (cell_checks); the kernel gets the released text
    assert by_id(nb, "test_xor").source == by_id(released, "test_xor").source


def test_edited_test_cell_and_inflated_points(source: NotebookNode) -> None:
    report = restore_locked_cells(load("edited_test_cell.ipynb"), source)
    nb = report.notebook
    assert by_id(nb, "test_xor").source == by_id(load("released_demo.ipynb"), "test_xor").source
    assert by_id(nb, "test_and").metadata.nbgrader.points == 1  # student wrote 1000
    assert "test_and" in report.repaired
    bonus = next(c for c in nb.cells if c.source == "print('bonus')")
    assert "nbgrader" not in bonus.metadata, "a grade_id the source lacks is unmarked"
    (notice,) = report.notices("ja")
    assert notice.code == "restored_cells"
    assert notice.message_ja == "テストセルが変更されていたため元に戻しました: test_xor"
    assert notice.message_en == "test cells had been changed and were restored: test_xor"


def test_deleted_cells_return_to_their_place(source: NotebookNode) -> None:
    report = restore_locked_cells(load("deleted_test_cell.ipynb"), source)
    texts = [c.source.split("\n")[0] for c in report.notebook.cells]
    order = [grade_id_of(c) or c.source.split("\n")[0][:12] for c in report.notebook.cells]
    assert order.index("test_and") == order.index("and_gate") + 1
    assert order.index("feedback_prompt") == order.index("test_xor") + 1
    assert order.index("feedback") == order.index("feedback_prompt") + 1
    assert len(texts) == 9
    codes = {n.code: n.message_ja for n in report.notices()}
    assert codes == {"reinserted_cells": "テストセルが削除されていたため元に戻しました: test_and。"
                                         "編集できないセルが削除されていたため元に戻しました: "
                                         "feedback_prompt"}


def test_first_cell_deleted_goes_before_the_next_present_one(source: NotebookNode) -> None:
    nb = load("demo_correct.ipynb")
    nb.cells = [c for c in nb.cells if grade_id_of(c) != "intro"]
    restored = restore_locked_cells(nb, source).notebook
    order = [grade_id_of(c) for c in restored.cells]
    assert order.index("intro") == order.index("and_gate") - 1


def test_duplicated_test_cell_keeps_the_genuine_one(source: NotebookNode) -> None:
    nb = load("demo_correct.ipynb")
    fake = copy.deepcopy(by_id(nb, "test_xor"))
    fake.source, fake.id = "pass", "fake-copy"
    nb.cells.insert(1, fake)
    report = restore_locked_cells(nb, source)
    assert report.duplicates == ("test_xor",)
    assert report.restored == ()
    out = report.notebook
    assert [c.source for c in out.cells].count("pass") == 1  # kept, as a plain cell
    assert "nbgrader" not in next(c for c in out.cells if c.source == "pass").metadata
    assert ids_in_order(out) == list(ALL_IDS)


def test_duplicated_answer_cell_keeps_the_answered_one(source: NotebookNode) -> None:
    nb = load("released_demo.ipynb")
    copy_cell = copy.deepcopy(by_id(nb, "feedback"))
    copy_cell.source, copy_cell.id = "面白かったです", "copy"
    nb.cells.append(copy_cell)
    report = restore_locked_cells(nb, source)
    assert report.duplicates == ("feedback",)
    assert by_id(report.notebook, "feedback").source == "面白かったです"


def test_solution_cell_type_is_the_sources(source: NotebookNode) -> None:
    nb = load("demo_correct.ipynb")
    cell = by_id(nb, "feedback")
    index = nb.cells.index(cell)
    nb.cells[index] = nbformat.v4.new_code_cell(cell.source, metadata=cell.metadata)
    report = restore_locked_cells(nb, source)
    fixed = by_id(report.notebook, "feedback")
    assert (fixed.cell_type, fixed.source) == ("markdown", cell.source)
    assert "feedback" in report.repaired
    nbformat.validate(report.notebook)


def test_prefilled_execution_records_are_removed(source: NotebookNode) -> None:
    nb = load("released_demo.ipynb")
    for cell in nb.cells:
        cell.metadata[RECORD_KEY] = {"status": "ok", "ename": "", "evalue": "", "seconds": 0}
    out = restore_locked_cells(nb, source).notebook
    assert not any(RECORD_KEY in c.metadata for c in out.cells)


def test_garbage_nbgrader_metadata_is_not_trusted(source: NotebookNode) -> None:
    nb = load("demo_correct.ipynb")
    nb.cells[1].metadata["nbgrader"] = "grade everything"
    nb.cells[2].metadata["nbgrader"] = {"grade": True, "points": 1e9}  # no grade_id
    out = restore_locked_cells(nb, source).notebook
    assert ids_in_order(out) == list(ALL_IDS)
    assert "nbgrader" not in out.cells[1].metadata


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda nb: nb.cells[3].metadata.nbgrader.update(grade_id="and_gate"), "duplicate"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(points="many"), "points"),
    (lambda nb: setattr(nb.cells[2], "source", "### BEGIN SOLUTION\nx = 1"), "solution"),
])
def test_inconsistent_source_is_refused(source: NotebookNode, edit, problem: str) -> None:
    broken = copy.deepcopy(source)
    edit(broken)
    with pytest.raises(NotebookError) as info:
        restore_locked_cells(load("released_demo.ipynb"), broken)
    assert problem in info.value.message
    assert info.value.hint


# --- parameters --------------------------------------------------------------------------

def injected(nb: NotebookNode) -> list[tuple[int, NotebookNode]]:
    return [(i, c) for i, c in enumerate(nb.cells) if INJECTED_TAG in c.metadata.get("tags", [])]


def run_cell(cell: NotebookNode) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(cell.source, namespace)  # our own generated assignments, not student code
    namespace.pop("__builtins__")
    return namespace


def test_parameters_go_after_the_parameters_cell() -> None:
    nb = load("demo_correct.ipynb")
    params_at = next(i for i, c in enumerate(nb.cells)
                     if "parameters" in c.metadata.get("tags", []))
    out = inject_parameters(nb, {"EPOCHS": 1, "DATA_ROOT": "/content/data"})
    ((at, cell),) = injected(out)
    assert at == params_at + 1
    assert run_cell(cell) == {"EPOCHS": 1, "DATA_ROOT": "/content/data"}
    assert len(out.cells) == len(nb.cells) + 1 and not injected(nb)
    nbformat.validate(out)


def test_parameters_without_a_parameters_cell_go_to_the_top() -> None:
    nb = load("nbformat3.ipynb")
    ((at, _),) = injected(inject_parameters(nb, {"EPOCHS": 2}))
    assert at == 0


def test_injection_is_idempotent() -> None:
    nb = load("demo_correct.ipynb")
    once = inject_parameters(nb, {"EPOCHS": 1})
    twice = inject_parameters(once, {"EPOCHS": 3, "LR": 0.5})
    ((at1, _),) = injected(once)
    ((at2, cell),) = injected(twice)
    assert at1 == at2 and len(twice.cells) == len(once.cells)
    assert run_cell(cell) == {"EPOCHS": 3, "LR": 0.5}
    assert not injected(inject_parameters(twice, {}))


def test_parameter_values_round_trip() -> None:
    params = {"FLAG": True, "N": -3, "LR": 1e-3, "NAME": "it's \"q\"\n日本語",
              "BIG": float("inf"), "NAN": float("nan")}
    ((_, cell),) = injected(inject_parameters(load("zero_cells.ipynb"), params))
    values = run_cell(cell)
    assert values["FLAG"] is True and values["N"] == -3 and values["LR"] == 1e-3
    assert values["NAME"] == params["NAME"] and values["BIG"] == float("inf")
    assert math.isnan(values["NAN"])  # type: ignore[arg-type]


@pytest.mark.parametrize("params", [{"1abc": 1}, {"class": 1}, {"a-b": 1}, {"x; import os": 1},
                                    {"X": [1, 2]}, {"X": None}])
def test_bad_parameters_are_refused(params: dict) -> None:
    with pytest.raises(ConfigError) as info:
        inject_parameters(load("zero_cells.ipynb"), params)
    assert "[grading]" in (info.value.where or "")
