"""Feedback that teaches, through the real engine (sandboxed kernel, restore, checks):

- a notebook whose answer cell has a ``SyntaxError`` gets feedback naming the error and
  the cell (the test assignment 02_n: ``add`` and ``double`` in one answer cell);
- ``autograder validate`` on an assignment whose dataset is not in the cache says which
  dataset and the command that fixes it, besides each failing check's message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.release import release
from autograder.cli import main
from autograder.core.config import load_assignment
from autograder.engine.grade_one import GradeContext, grade_submission
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.engine.labels import item_titles
from autograder.engine.restore import grade_id_of
from autograder.export.feedback import render_feedback
from autograder.export.worksheet_comment import comment_html

TINY = Path(__file__).resolve().parent / "assignments" / "02_n"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

BROKEN = "def add(a, b)\n    return a + b\n\ndef double(x):\n    return x * FACTOR\n"


def _broken_notebook(tmp_path: Path) -> bytes:
    released = release(assignment_id="02_n", out=tmp_path, assignments_root=TINY.parent)
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        if grade_id_of(cell) == "answer":
            cell.source = BROKEN
    return nbformat.writes(nb).encode()


def test_a_syntax_error_is_named_with_its_cell(tmp_path: Path) -> None:
    assignment = load_assignment("02_n", TINY.parent)
    ctx = GradeContext(assignment=assignment, params=dict(assignment.grading), lang="ja")
    result = grade_submission(ctx, participant="1", file="02_n.ipynb",
                              content=_broken_notebook(tmp_path), sha256="x")
    assert result.score == 0
    [notice] = [n for n in result.notices if n.code == "missing_name"]
    assert set(notice.checks) == {"test_add", "test_double", "cell:test_add_cell"}
    # the 4th cell of the released notebook (title, intro, parameters, answer)
    assert notice.message_ja == ("`add`・`double` を定義するセル (上から 4 番目のセル "
                                 "`def add(a, b)`) の実行中にエラーが起きました: "
                                 "SyntaxError: expected ':' (1 行目)")
    assert "(line 1)" in notice.message_en
    # the test cell's own NameError is never quoted; only the student's cell is
    assert "NameError" not in notice.message_ja + notice.message_en
    html = render_feedback(result, assignment_title="足し算", participant="p", lang="ja",
                           titles=item_titles(assignment))
    assert "SyntaxError: expected &#39;:&#39;" in html and "上から 4 番目のセル" in html
    assert "SyntaxError: expected ':'" in comment_html(result, "en", None).replace(
        "&#x27;", "'")


def _needs_mnist(root: Path) -> None:
    folder = root / "02_n"
    shutil.copytree(TINY, folder)
    manifest = folder / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        'device = "cpu"', 'device = "cpu"\ndatasets = ["mnist"]'), encoding="utf-8")
    (folder / "tests" / "test_data.py").write_text(
        '"""A check that reads the grader\'s MNIST, as the course\'s accuracy checks do."""\n'
        "from torchvision import datasets\n\n\n"
        "def test_mnist_is_there(submission):\n"
        '    """MNIST のテストデータ"""\n'
        "    assert len(datasets.MNIST(root=str(submission.data_dir), train=False)) == 10000\n",
        encoding="utf-8")


def test_validate_names_the_missing_dataset_and_its_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")  # main() exports --lang for its workers
    _needs_mnist(tmp_path)
    empty = tmp_path / "cache"
    empty.mkdir()
    code = main(["--lang", "en", "validate", "02_n", "--assignments", str(tmp_path),
                 "--data", str(empty)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1
    assert "dataset mnist is not in the cache" in err
    assert f"autograder data --cache {empty} import mnist.pkl.gz" in err
    assert "test_mnist_is_there: source 0/1" in err
    assert err.index("dataset mnist") < err.index("test_mnist_is_there")
