"""``autograder release``: nbgrader's preprocessors on the source, checks before, nothing else out.

Three parts: a small assignment built here (what release does to each kind of cell, and
every mistake it refuses, with the cell it names); the course's own assignments (whatever
folders ``assignments/`` holds): the released notebook gives nothing away; and one real
kernel running a released notebook the way Colab would.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader import utils as nbg

from autograder.authoring.release import HEADER_CELL_ID, release
from autograder.authoring.source_check import HIDDEN, SOLUTION
from autograder.cli import main
from autograder.core.config import load_assignment
from autograder.core.errors import ConfigError, NotebookError

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"
COURSE = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "assignment.toml").is_file()) \
    if ASSIGNMENTS.is_dir() else []

MANIFEST = """\
[assignment]
id = "05_n"
title = {{ ja = "テスト課題", en = "Test assignment" }}
lecture = 5
level = "n"
device = "{device}"

[grading]
EPOCHS = 1

[points]
test_double = 2
"""

CHECKS = '''\
import pytest


@pytest.mark.points(2)
def test_double(submission):
    assert submission.function("double")(21) == 42, "double(21) は 42 です"
'''


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False,
              locked: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """Every kind of cell: plain, parameters, solution, test with hidden part, free text."""
    cells = [
        new_markdown_cell("## 説明\n\n関数 `double` を書きます。"),
        new_code_cell("import math\nimport torch", execution_count=3,
                      outputs=[nbformat.v4.new_output("stream", text="imported\n")]),
        new_code_cell("EPOCHS = 5\nLR: float = 0.1", metadata={"tags": ["parameters"]}),
        new_code_cell("def double(x):\n    '''2 倍にする'''\n    ### BEGIN SOLUTION\n"
                      "    secret_answer = x * 2\n    return secret_answer\n"
                      "    ### END SOLUTION", metadata=_nbgrader("sol_double", solution=True)),
        new_code_cell("assert double(1) == 2, \"double(1) は 2 です\"\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-4) == -8\n"
                      "### END HIDDEN TESTS",
                      metadata=_nbgrader("test_double_cell", grade=True, locked=True,
                                         points=1)),
        new_code_cell("HELPER = 'instructor code'",
                      metadata=_nbgrader("given", locked=True)),
        new_markdown_cell("模範解答：とてもよく分かりました。",
                          metadata=_nbgrader("comments", grade=True, solution=True,
                                             points=1)),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {
        "display_name": "Python 3", "language": "python", "name": "python3"}})


def make_assignment(root: Path, nb: nbformat.NotebookNode | None = None, *,
                    manifest: str | None = None, device: str = "cpu") -> Path:
    folder = root / "05_n"
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb if nb is not None else source_notebook(), folder / "05_n.ipynb")
    (folder / "assignment.toml").write_text(manifest or MANIFEST.format(device=device),
                                            encoding="utf-8")
    (folder / "tests" / "test_05_n.py").write_text(CHECKS, encoding="utf-8")
    return folder


def _release(tmp_path: Path, **kwargs: object) -> nbformat.NotebookNode:
    path = release(assignment_id="05_n", out=tmp_path / "out", assignments_root=tmp_path,
                   **kwargs)  # type: ignore[arg-type]
    assert path == tmp_path / "out" / "05_n.ipynb"
    return nbformat.read(path, as_version=4)


# ---------------------------------------------------------------- what release does

def test_release_of_each_kind_of_cell(tmp_path: Path) -> None:
    make_assignment(tmp_path)
    nb = _release(tmp_path)
    header, plain, imports, parameters, sol, test, given, comments = nb.cells
    assert header.id == HEADER_CELL_ID and header.cell_type == "markdown"
    assert header.source.startswith("# テスト課題\n") and "`05_n.ipynb`" in header.source
    assert plain.source == "## 説明\n\n関数 `double` を書きます。"
    assert imports.outputs == [] and imports.execution_count is None
    assert parameters.source == "EPOCHS = 5\nLR: float = 0.1"
    assert parameters.metadata.tags == ["parameters"]
    assert sol.source == ("def double(x):\n    '''2 倍にする'''\n    # YOUR CODE HERE\n"
                          "    raise NotImplementedError()")
    assert test.source == 'assert double(1) == 2, "double(1) は 2 です"'
    assert comments.source == "YOUR ANSWER HERE"
    assert given.source == "HELPER = 'instructor code'"
    # nbgrader's locking: tests and read-only cells cannot be edited or deleted
    assert (test.metadata.editable, test.metadata.deletable) == (False, False)
    assert (given.metadata.editable, given.metadata.deletable) == (False, False)
    assert sol.metadata.deletable is False and "editable" not in sol.metadata
    for cell in (sol, test, given, comments):
        assert cell.metadata.nbgrader.checksum == nbg.compute_checksum(cell)
    assert nb.metadata.kernelspec.name == "python3"
    assert "colab" in nb.metadata and "accelerator" not in nb.metadata
    nbformat.validate(nb)


def test_release_writes_only_the_notebook_and_keeps_the_source(tmp_path: Path) -> None:
    folder = make_assignment(tmp_path)
    before = (folder / "05_n.ipynb").read_bytes()
    _release(tmp_path)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["05_n.ipynb"]
    assert (folder / "05_n.ipynb").read_bytes() == before


def test_release_default_folder_gpu_and_english(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    make_assignment(tmp_path, device="cuda")
    monkeypatch.chdir(tmp_path)
    path = release(assignment_id="05_n", assignments_root=tmp_path, lang="en")
    assert path == tmp_path / "release" / "05_n" / "05_n.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.accelerator == "GPU" and nb.metadata.colab.gpuType == "T4"
    assert nb.cells[0].source.startswith("# Test assignment\n")
    assert "GPU" in nb.cells[0].source and "submit it to Moodle as `05_n.ipynb`" in \
        nb.cells[0].source


def test_release_refuses_to_overwrite_the_source(tmp_path: Path) -> None:
    folder = make_assignment(tmp_path)
    before = (folder / "05_n.ipynb").read_bytes()
    with pytest.raises(ConfigError, match=r"overwrite|元のノートブック"):
        release(assignment_id="05_n", out=folder, assignments_root=tmp_path)
    assert (folder / "05_n.ipynb").read_bytes() == before


# ---------------------------------------------------------------- what release refuses

Mutation = Callable[[nbformat.NotebookNode], None]


def _set(index: int, source: str) -> Mutation:
    def apply(nb: nbformat.NotebookNode) -> None:
        nb.cells[index].source = source
    return apply


def _meta(index: int, **changes: object) -> Mutation:
    def apply(nb: nbformat.NotebookNode) -> None:
        for key, value in changes.items():
            if value is None:
                nb.cells[index].metadata.nbgrader.pop(key, None)
            else:
                nb.cells[index].metadata.nbgrader[key] = value
    return apply


def _append(cell: nbformat.NotebookNode) -> Mutation:
    return lambda nb: nb.cells.append(cell)


def _language(nb: nbformat.NotebookNode) -> None:
    nb.metadata.kernelspec.language = "R"


# (case, mutation, error class, cell named in `where` (None: the notebook), words)
REFUSALS = [
    ("no END SOLUTION", _set(3, "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x"),
     NotebookError, "cell 3 [sol_double]", "BEGIN SOLUTION"),
    ("nested solution", _set(3, "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n"
                                "### END SOLUTION\n### END SOLUTION"),
     NotebookError, "cell 3 [sol_double]", "BEGIN SOLUTION"),
    ("END without BEGIN", _set(3, "x = 1\n### END SOLUTION"),
     NotebookError, "cell 3 [sol_double]", "END SOLUTION"),
    ("solution markers in a plain cell",
     _set(1, "import torch\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
     NotebookError, "cell 1", "BEGIN SOLUTION"),
    ("hidden tests outside a test cell",
     _set(5, "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"),
     NotebookError, "cell 5 [given]", "HIDDEN TESTS"),
    ("hidden tests not closed", _set(4, "assert double(1) == 2\n### BEGIN HIDDEN TESTS\n"),
     NotebookError, "cell 4 [test_double_cell]", "HIDDEN TESTS"),
    ("test cell that is all hidden",
     _set(4, "# check\n### BEGIN HIDDEN TESTS\nassert double(2) == 4\n### END HIDDEN TESTS"),
     NotebookError, "cell 4 [test_double_cell]", "hidden"),
    ("duplicate grade_id", _meta(5, grade_id="sol_double"),
     NotebookError, "cell 5 [sol_double]", "cell 3"),
    ("missing grade_id", _meta(3, grade_id=None), NotebookError, "cell 3", "grade_id"),
    ("test cell without points", _meta(4, points=None),
     NotebookError, "cell 4 [test_double_cell]", "points"),
    ("zero points", _meta(4, points=0), NotebookError, "cell 4 [test_double_cell]",
     "points"),
    ("points not a number", _meta(6, points="1"), NotebookError, "cell 6 [comments]",
     "points"),
    ("flag not a boolean", _meta(4, grade="yes"), NotebookError,
     "cell 4 [test_double_cell]", "grade"),
    ("old nbgrader schema", _meta(4, schema_version=1), NotebookError,
     "cell 4 [test_double_cell]", "schema"),
    ("stub indented wrong",
     _set(3, "def double(x):\n### BEGIN SOLUTION\n    return 2 * x\n### END SOLUTION"),
     NotebookError, "cell 3 [sol_double]", "Python"),
    ("source not Python", _set(1, "import torch\nfor x in"), NotebookError, "cell 1",
     "Python"),
    ("module Colab lacks", _set(1, "import torch\nfrom reference import backprop"),
     NotebookError, "cell 1", "reference"),
    ("shell command", _set(1, "!pip install einops\nimport torch"), NotebookError,
     "cell 1", "!"),
    ("pip magic", _set(1, "%pip install einops\nimport torch"), NotebookError, "cell 1",
     "%pip"),
    ("two parameters cells",
     _append(new_code_cell("EPOCHS = 2", metadata={"tags": ["parameters"]})),
     NotebookError, "cell 7", "parameters"),
    ("kernel not Python", _language, NotebookError, None, "python"),
]


@pytest.mark.parametrize(("case", "mutate", "error", "cell", "words"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_release_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                         mutate: Mutation, error: type[Exception], cell: str | None,
                         words: str) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")  # the words below are the English texts
    nb = copy.deepcopy(source_notebook())
    mutate(nb)
    folder = make_assignment(tmp_path, nb)
    with pytest.raises(error) as info:
        release(assignment_id="05_n", out=tmp_path / "out", assignments_root=tmp_path)
    err = info.value
    notebook = str(folder / "05_n.ipynb")
    assert err.where == (f"{notebook}: {cell}" if cell else notebook), err.render()
    assert words.lower() in err.message.lower(), err.message
    assert err.hint or cell is None
    assert not (tmp_path / "out").exists(), "a refused release writes nothing"


MANIFEST_REFUSALS = [
    ("grading key the notebook lacks", "EPOCHS = 1", "EPOCHS = 1\nBATCH_SIZE = 8",
     "[grading] BATCH_SIZE"),
    ("points for a check that does not exist", "test_double = 2", "test_dubble = 2",
     "[points] test_dubble"),
    ("manifest itself wrong", 'device = "cpu"', 'device = "gpu"', "[assignment] device"),
]


@pytest.mark.parametrize(("case", "old", "new", "key"), MANIFEST_REFUSALS,
                         ids=[r[0] for r in MANIFEST_REFUSALS])
def test_release_checks_the_manifest_against_the_notebook(tmp_path: Path, case: str, old: str,
                                                          new: str, key: str) -> None:
    folder = make_assignment(tmp_path, manifest=MANIFEST.format(device="cpu").replace(old, new))
    with pytest.raises(ConfigError) as info:
        release(assignment_id="05_n", out=tmp_path / "out", assignments_root=tmp_path)
    assert info.value.where == f"{folder / 'assignment.toml'}: {key}"
    assert not (tmp_path / "out").exists()


def test_grading_without_parameters_cell_is_refused(tmp_path: Path) -> None:
    nb = source_notebook()
    del nb.cells[2].metadata["tags"]
    make_assignment(tmp_path, nb)
    with pytest.raises(ConfigError, match="parameters"):
        release(assignment_id="05_n", out=tmp_path / "out", assignments_root=tmp_path)


def test_cli_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_assignment(tmp_path)
    out = tmp_path / "cli-out"
    assert main(["release", "05_n", "--out", str(out), "--root", str(tmp_path)]) == 0
    assert (out / "05_n.ipynb").is_file()
    assert main(["release", "99_n", "--root", str(tmp_path)]) == ConfigError.exit_code
    assert "99_n" in capsys.readouterr().err


# ---------------------------------------------------------------- the course's assignments

def _region_lines(source: str, markers: tuple[str, str]) -> set[str]:
    lines, inside = set(), False
    for line in source.split("\n"):
        if markers[0] in line:
            inside = True
        elif markers[1] in line:
            inside = False
        elif inside and line.strip():
            lines.add(line.strip())
    return lines


def _outside_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Lines of the source that are public anyway (outside every secret region)."""
    public: set[str] = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.split("\n"):
            if SOLUTION[0] in line or HIDDEN[0] in line:
                inside = True
            elif SOLUTION[1] in line or HIDDEN[1] in line:
                inside = False
            elif not inside:
                public.add(line.strip())
    return public


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("course-release")
    return {a: release(assignment_id=a, out=out / a, assignments_root=ASSIGNMENTS)
            for a in COURSE}


@pytest.mark.parametrize("assignment_id", COURSE)
def test_course_release_gives_nothing_away(assignment_id: str,
                                           released: dict[str, Path]) -> None:
    assignment = load_assignment(assignment_id, ASSIGNMENTS)
    source = nbformat.read(assignment.source_notebook, as_version=4)
    path = released[assignment_id]
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{assignment_id}.ipynb"]
    student = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    public = _outside_lines(source)
    secret = set().union(*(_region_lines(c.source, SOLUTION) | _region_lines(c.source, HIDDEN)
                           for c in source.cells)) - public
    assert secret, "the source should have solutions to strip"
    student_lines = {line.strip() for line in text.split("\n")}
    leaked = sorted(secret & student_lines)
    assert not leaked, f"solution or hidden-test lines in the release: {leaked[:5]}"
    for marker in (*SOLUTION, *HIDDEN):
        assert marker not in text
    by_id = {c.metadata.nbgrader.grade_id: c for c in student.cells if "nbgrader" in c.metadata}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        out = by_id[meta["grade_id"]]
        if meta["grade"] and not meta["solution"]:
            assert out.metadata.editable is False and out.metadata.deletable is False
            assert out.metadata.nbgrader.checksum == nbg.compute_checksum(out)
        if meta["solution"] and cell.cell_type == "code":
            assert "raise NotImplementedError()" in out.source
        if meta["solution"] and cell.cell_type == "markdown":
            assert out.source == "YOUR ANSWER HERE"
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert student.cells[0].id == HEADER_CELL_ID
    assert f"`{assignment_id}.ipynb`" in student.cells[0].source


@pytest.mark.parametrize("assignment_id", COURSE)
def test_course_source_is_committed_without_outputs(assignment_id: str) -> None:
    raw = json.loads((ASSIGNMENTS / assignment_id / f"{assignment_id}.ipynb").read_text())
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                "clear the outputs before committing the source notebook"


@pytest.mark.slow
def test_released_notebook_runs_in_a_kernel_like_colab(released: dict[str, Path],
                                                       tmp_path: Path) -> None:
    """Every cell of the untouched 13_n release runs; the only errors are the stubs'."""
    from nbclient import NotebookClient

    if "13_n" not in released:
        pytest.skip("13_n is not in this checkout")
    nb = nbformat.read(released["13_n"], as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o.ename for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors and set(errors) == {"NotImplementedError"}, errors
    imports = next(c for c in nb.cells if c.cell_type == "code")
    assert not [o for o in imports.outputs if o.output_type == "error"]
    assert re.search(r"import torch", imports.source)


def test_refusals_speak_japanese_by_default(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOGRADER_LANG", raising=False)
    nb = source_notebook()
    nb.cells[3].source = "def double(x):\n    ### BEGIN SOLUTION\n    return x * 2"
    make_assignment(tmp_path, nb)
    with pytest.raises(NotebookError) as info:
        release(assignment_id="05_n", out=tmp_path / "out", assignments_root=tmp_path)
    assert "対応する行がありません" in info.value.message
    assert "BEGIN と END" in (info.value.hint or "")
