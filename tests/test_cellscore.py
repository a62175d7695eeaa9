"""Manual cells (completion credit), zero results and the tampering notice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode
from nbgrader.utils import determine_grade

from autograder.core.notebooks import read_notebook
from autograder.engine.cells.scores import (
    answer_hash,
    find_tampering,
    score_manual_cells,
    tampering_notices,
    zero_cells,
)
from autograder.engine.restore import RECORD_KEY, grade_id_of, restore_locked_cells

NB = Path(__file__).parent / "notebooks"


@pytest.fixture(scope="module")
def source() -> NotebookNode:
    return read_notebook(NB / "source_demo.ipynb").nb


def prepared(name: str, source: NotebookNode) -> NotebookNode:
    return restore_locked_cells(read_notebook(NB / name).nb, source).notebook


def record(status: str = "ok", ename: str = "", evalue: str = "") -> dict[str, Any]:
    return {"status": status, "ename": ename, "evalue": evalue, "seconds": 0.01}


def execute(nb: NotebookNode, **records: dict[str, Any]) -> NotebookNode:
    """Write the execution record as the kernel would: ``ok`` unless told otherwise."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata[RECORD_KEY] = records.get(grade_id_of(cell) or "", record())
    return nb


def scores(results: list) -> dict[str, tuple[float, float]]:
    return {r.name: (r.points, r.max_points) for r in results}


def test_correct_submission_manual_cell(source: NotebookNode) -> None:
    nb = execute(prepared("demo_correct.ipynb", source))
    assert scores(score_manual_cells(nb, source, completion=["feedback"])) == {
        "manual:feedback": (1.0, 1.0)}


def test_an_answered_hand_graded_cell_waits_for_review(source: NotebookNode) -> None:
    """Not listed as completion credit: no points, pending, keyed by its text's hash."""
    nb = execute(prepared("demo_correct.ipynb", source))
    (result,) = score_manual_cells(nb, source, lang="en")
    assert (result.points, result.max_points, result.passed) == (0.0, 1.0, False)
    assert result.needs_review and result.review_state == "pending"
    cell = next(c for c in nb.cells if grade_id_of(c) == "feedback")
    assert result.answer_sha256 == answer_hash(cell.source + "  \n")  # trailing space
    assert result.answer_sha256 != answer_hash(cell.source + " more")


@pytest.mark.parametrize("answer", ["YOUR ANSWER HERE", " \n", None])
def test_an_unanswered_hand_graded_cell_scores_zero_without_review(
        source: NotebookNode, answer: str | None) -> None:
    """nbgrader's "No response.": nothing for a person to look at."""
    nb = prepared("released_demo.ipynb", source)
    cell = next(c for c in nb.cells if grade_id_of(c) == "feedback")
    if answer is None:
        nb.cells.remove(cell)
    else:
        cell.source = answer
    (result,) = score_manual_cells(nb, source, lang="ja")
    assert (result.points, result.needs_review, result.answer_sha256) == (0.0, False, "")


def test_showtraceback_cheat_draws_a_tampering_notice(source: NotebookNode) -> None:
    nb = prepared("cheat_showtraceback.ipynb", source)
    xor = next(c for c in nb.cells if grade_id_of(c) == "test_xor")
    assert xor.outputs == []  # the cheat leaves no error output...
    fooled, _ = determine_grade(execute(nb) and xor)  # ...so grading by outputs is fooled
    assert fooled == 2.0
    (notice,) = tampering_notices(nb, source)
    assert notice.code == "tampering"
    assert "showtraceback" in notice.message_ja and "セル 2" in notice.message_ja


@pytest.mark.parametrize(("answer", "credit"), [
    ("YOUR ANSWER HERE", 0.0),
    ("  YOUR ANSWER HERE  \n", 0.0),
    ("", 0.0),
    (" \n\t", 0.0),
    ("特になし", 1.0),
    ("YOUR ANSWER HERE\nCNN の計算が難しかったです", 1.0),
    (None, 0.0),  # the cell is gone
    # invisible answers (red-team pass 4): each renders as nothing
    ("\u200b", 0.0), ("\u2060", 0.0), ("<!-- -->", 0.0), ("&nbsp;", 0.0),
    ("YOUR\u200b ANSWER HERE", 0.0), ("<br>", 0.0), ("**", 0.0),
    ("なし", 1.0), ("👍", 1.0),
])
def test_manual_cell_completion_credit(source: NotebookNode, answer: str | None,
                                       credit: float) -> None:
    nb = prepared("released_demo.ipynb", source)
    cell = next(c for c in nb.cells if grade_id_of(c) == "feedback")
    if answer is None:
        nb.cells.remove(cell)
    else:
        cell.source = answer
    (result,) = score_manual_cells(nb, source, completion=("feedback",), lang="ja")
    assert (result.name, result.points, result.max_points, result.kind) == \
        ("manual:feedback", credit, 1.0, "manual")
    assert result.passed is (credit > 0)
    assert not result.needs_review


def test_zero_cells_lists_every_graded_cell(source: NotebookNode) -> None:
    results = zero_cells(source, reason="invalid notebook")
    assert scores(results) == {"cell:test_and": (0.0, 1.0), "cell:test_xor": (0.0, 2.0),
                               "manual:feedback": (0.0, 1.0)}
    assert {r.message for r in results} == {"invalid notebook"}
    assert [r.kind for r in results] == ["cell", "cell", "manual"]


TAMPERING = [
    ("get_ipython().showtraceback = lambda *a, **k: None", ["get_ipython().showtraceback"]),
    ("ip = get_ipython()\nip._showtraceback = f", ["ip._showtraceback"]),
    ("setattr(get_ipython(), 'showtraceback', f)", ["'showtraceback'"]),
    ("get_ipython().set_custom_exc((Exception,), h)", ["get_ipython().set_custom_exc"]),
    ("import sys\nsys.excepthook = print", ["sys.excepthook"]),
    ("get_ipython().run_cell = lambda *a, **k: None", ["get_ipython().run_cell"]),
    ("from IPython.core.interactiveshell import InteractiveShell as S\n"
     "InteractiveShell.showtraceback = f", ["InteractiveShell.showtraceback"]),
    ("InteractiveShell.run_code = f", ["InteractiveShell.run_code"]),
    ("get_ipython().ast_transformers.append(NoAsserts())",
     ["get_ipython().ast_transformers"]),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", ["builtins.isinstance"]),
    ("np.allclose = lambda *a, **k: True", ["np.allclose"]),
    ("def all(x):\n    return True", ["builtin all"]),
    ("%matplotlib inline\nsys.settrace(tracer)", ["sys.settrace"]),
    ("def broken(:\n    get_ipython().showtraceback = 0", ["showtraceback"]),  # no parse
    ("import ag_requests\nag_requests._OPS['codes'] = f", ["ag_requests"]),
    ("from ag_code import describe", ["ag_code"]),
    ("sys.modules['ag_wire']._json = j", ["'ag_wire'"]),
    ("__import__('ag_bridge').serve = s", ["'ag_bridge'"]),
    ("def broken(:\n    import ag_channel", ["ag_channel"]),  # no parse
]
BENIGN = [
    "import torch\nmodel = torch.nn.Linear(2, 1)\nprint(model)",
    "%matplotlib inline\n!pip list\nsum = 0\nfor i in range(3):\n    sum += i",
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "InteractiveShell.ast_node_interactivity = 'all'",
    "assert np.allclose(a, b)\nmax = 3",
    "def f(:",
    "",
]


@pytest.mark.parametrize(("code", "found"), TAMPERING)
def test_tampering_is_found(code: str, found: list[str]) -> None:
    assert find_tampering(code) == found


@pytest.mark.parametrize("code", BENIGN)
def test_ordinary_code_is_not_tampering(code: str) -> None:
    assert find_tampering(code) == []


def test_honest_submission_has_no_tampering_notice(source: NotebookNode) -> None:
    for name in ("demo_correct.ipynb", "colab_metadata.ipynb", "edited_test_cell.ipynb"):
        assert tampering_notices(prepared(name, source), source) == []


def test_locked_cells_are_not_scanned(source: NotebookNode) -> None:
    import copy

    src = copy.deepcopy(source)
    test_and = next(c for c in src.cells if grade_id_of(c) == "test_and")
    test_and.source += "\nimport sys\nassert sys.excepthook is sys.__excepthook__"
    nb = prepared("demo_correct.ipynb", src)
    assert tampering_notices(nb, src) == []
    assert tampering_notices(nb)  # without the source every cell is the student's
