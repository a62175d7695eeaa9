"""Scoring in-notebook test cells from the execution record, manual cells, tampering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode
from nbgrader.utils import determine_grade

from autograder.cellscore import (
    find_tampering,
    score_manual_cells,
    score_test_cells,
    tampering_notices,
    zero_cells,
)
from autograder.notebook_io import read_notebook
from autograder.restore import RECORD_KEY, grade_id_of, restore_locked_cells

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


def test_correct_submission_gets_full_marks(source: NotebookNode) -> None:
    nb = execute(prepared("demo_correct.ipynb", source))
    results = score_test_cells(nb, source, lang="ja")
    assert scores(results) == {"cell:test_and": (1.0, 1.0), "cell:test_xor": (2.0, 2.0)}
    assert all(r.passed and r.kind == "cell" for r in results)
    assert scores(score_manual_cells(nb, source)) == {"manual:feedback": (1.0, 1.0)}


def test_showtraceback_cheat_scores_zero(source: NotebookNode) -> None:
    nb = prepared("cheat_showtraceback.ipynb", source)
    execute(nb, test_xor=record("error", "NotImplementedError", ""))
    xor = next(c for c in nb.cells if grade_id_of(c) == "test_xor")
    assert xor.outputs == []  # the cheat left no error output at all...
    fooled, _ = determine_grade(xor)  # ...so grading by outputs gives full marks
    assert fooled == 2.0
    results = {r.name: r for r in score_test_cells(nb, source, lang="ja")}
    assert results["cell:test_xor"].points == 0 and not results["cell:test_xor"].passed
    assert results["cell:test_xor"].message == \
        "テストセル test_xor が失敗しました (NotImplementedError)"
    assert results["cell:test_and"].points == 1.0
    (notice,) = tampering_notices(nb, source)
    assert notice.code == "tampering"
    assert "showtraceback" in notice.message_ja and "セル 2" in notice.message_ja


NO_RECORD_JA = "テストセル test_xor の実行記録がありません"
NO_RECORD_EN = "test cell test_xor has no execution record"


@pytest.mark.parametrize(("rec", "ja", "en"), [
    (record("error", "AssertionError", "XOR(1, 1) が正しくありません"),
     "テストセル test_xor が失敗しました (AssertionError): XOR(1, 1) が正しくありません",
     "test cell test_xor failed (AssertionError): XOR(1, 1) が正しくありません"),
    (record("timeout"), "テストセル test_xor が制限時間内に終わりませんでした",
     "test cell test_xor did not finish within the time limit"),
    (record("killed"), "テストセル test_xor の実行中にカーネルが停止しました",
     "test cell test_xor was running when the kernel died"),
    (record("not_run"),
     "テストセル test_xor は実行されませんでした (それより前で実行が止まりました)",
     "test cell test_xor was not run (execution stopped before it)"),
    (None, NO_RECORD_JA, NO_RECORD_EN),
    ({"status": "OK"}, NO_RECORD_JA, NO_RECORD_EN),
    ("ok", NO_RECORD_JA, NO_RECORD_EN),
])
def test_anything_but_ok_fails(source: NotebookNode, rec: Any, ja: str, en: str) -> None:
    nb = execute(prepared("demo_correct.ipynb", source))
    xor = next(c for c in nb.cells if grade_id_of(c) == "test_xor")
    if rec is None:
        del xor.metadata[RECORD_KEY]
    else:
        xor.metadata[RECORD_KEY] = rec
    for lang, want in (("ja", ja), ("en", en)):
        result = {r.name: r for r in score_test_cells(nb, source, lang=lang)}["cell:test_xor"]
        assert (result.points, result.max_points, result.passed) == (0.0, 2.0, False)
        assert result.message == want


def test_failure_message_is_short_clean_and_hides_test_source(source: NotebookNode) -> None:
    nb = prepared("demo_correct.ipynb", source)
    execute(nb, test_xor=record("error", "AssertionError\x1b[31m", "x" * 500 + "\n\x00line2"))
    (_, xor) = score_test_cells(nb, source, lang="en")
    assert xor.message.startswith("test cell test_xor failed (AssertionError [31m): xxx")
    assert len(xor.message) < 260 and xor.message.endswith("…")
    assert "\x1b" not in xor.message and "\x00" not in xor.message
    for secret in ("HIDDEN", "for a in (0, 1)", "a ^ b"):
        assert secret not in xor.message


def test_unrestored_test_cell_is_not_trusted(source: NotebookNode) -> None:
    nb = execute(read_notebook(NB / "edited_test_cell.ipynb").nb)  # restore skipped
    results = scores(score_test_cells(nb, source))
    assert results == {"cell:test_and": (1.0, 1.0), "cell:test_xor": (0.0, 2.0)}


def test_points_come_from_the_source_only(source: NotebookNode) -> None:
    nb = execute(prepared("edited_test_cell.ipynb", source),
                 test_xor=record("error", "AssertionError", ""))
    results = scores(score_test_cells(nb, source))
    assert results == {"cell:test_and": (1.0, 1.0), "cell:test_xor": (0.0, 2.0)}
    unrestored = execute(read_notebook(NB / "edited_test_cell.ipynb").nb)
    assert sum(p for p, _ in scores(score_test_cells(unrestored, source)).values()) <= 3


def test_deleted_test_cell_missing_from_executed_notebook(source: NotebookNode) -> None:
    nb = execute(read_notebook(NB / "deleted_test_cell.ipynb").nb)  # restore skipped
    result = {r.name: r for r in score_test_cells(nb, source, lang="en")}["cell:test_and"]
    assert (result.points, result.message) == (0.0, "test cell test_and is missing from the"
                                                     " notebook")


@pytest.mark.parametrize(("answer", "credit"), [
    ("YOUR ANSWER HERE", 0.0),
    ("  YOUR ANSWER HERE  \n", 0.0),
    ("", 0.0),
    (" \n\t", 0.0),
    ("特になし", 1.0),
    ("YOUR ANSWER HERE\nCNN の計算が難しかったです", 1.0),
    (None, 0.0),  # the cell is gone
])
def test_manual_cell_completion_credit(source: NotebookNode, answer: str | None,
                                       credit: float) -> None:
    nb = prepared("released_demo.ipynb", source)
    cell = next(c for c in nb.cells if grade_id_of(c) == "feedback")
    if answer is None:
        nb.cells.remove(cell)
    else:
        cell.source = answer
    (result,) = score_manual_cells(nb, source, lang="ja")
    assert (result.name, result.points, result.max_points, result.kind) == \
        ("manual:feedback", credit, 1.0, "manual")
    assert result.passed is (credit > 0)


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
