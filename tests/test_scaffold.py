"""``autograder new``: a scaffold that loads, releases and has a runnable check file."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.release import release
from autograder.authoring.scaffold import new_assignment
from autograder.authoring.source_check import check_names, parameter_names
from autograder.cli import main
from autograder.core.config import load_assignment
from autograder.core.errors import ConfigError


def test_scaffold_is_a_releasable_assignment(tmp_path: Path) -> None:
    folder = new_assignment(assignment_id="07_h", root=tmp_path, title_ja="畳み込み \"応用\"",
                            device="cuda", datasets=["cifar10"])
    assert folder == tmp_path / "07_h"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "07_h.ipynb", "assignment.toml", "tests", "tests/test_example.py"]
    a = load_assignment("07_h", tmp_path)
    assert (a.lecture, a.level, a.device, a.datasets) == (7, "h", "cuda", ("cifar10",))
    assert a.title_ja == '畳み込み "応用"' and a.title_en == "Lecture 7 (hard)"
    assert set(a.points) == check_names(a.tests_dir) == {"test_add"}
    nb = nbformat.read(a.source_notebook, as_version=4)
    nbformat.validate(nb)
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert {"EPOCHS", "DATA_ROOT", "TRAIN_SUBSET", "DEVICE"} <= (
        parameter_names(nb, a.source_notebook) or set())
    kinds = [(c.cell_type, bool(c.metadata.get("nbgrader", {}).get("solution")),
              bool(c.metadata.get("nbgrader", {}).get("grade"))) for c in nb.cells]
    assert ("code", True, False) in kinds      # solution cell
    assert ("code", False, True) in kinds      # public test cell
    assert ("markdown", True, True) in kinds   # free-text cell
    student = nbformat.read(release(assignment_id="07_h", out=tmp_path / "out",
                                    assignments_root=tmp_path), as_version=4)
    assert "raise NotImplementedError()" in "\n".join(c.source for c in student.cells)
    assert student.metadata.accelerator == "GPU"


def test_scaffold_check_file_uses_the_submission_fixture(tmp_path: Path) -> None:
    folder = new_assignment(assignment_id="02_n", root=tmp_path)
    tree = ast.parse((folder / "tests" / "test_example.py").read_text(encoding="utf-8"))
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [t.name for t in tests] == ["test_add"]
    assert [a.arg for a in tests[0].args.args] == ["submission"]
    marks = [ast.unparse(d) for d in tests[0].decorator_list]
    assert marks == ["pytest.mark.points(1)"]
    assert load_assignment("02_n", tmp_path).title_ja == "第2回 ノーマル課題"


@pytest.mark.parametrize(("assignment_id", "lecture", "level", "title_en"), [
    ("16_n", 16, "n", "Lecture 16 (normal)"), ("ps1", None, None, "Assignment ps1"),
    ("week5", None, None, "Assignment week5"), ("hw-2.1", None, None, "Assignment hw-2.1")])
def test_scaffold_takes_any_id(tmp_path: Path, assignment_id: str, lecture: int | None,
                               level: str | None, title_en: str) -> None:
    new_assignment(assignment_id=assignment_id, root=tmp_path)
    a = load_assignment(assignment_id, tmp_path)
    assert (a.lecture, a.level, a.title_en) == (lecture, level, title_en)
    assert a.submission_file == f"{assignment_id}.ipynb"
    assert release(assignment_id=assignment_id, out=tmp_path / "out",
                   assignments_root=tmp_path).name == f"{assignment_id}.ipynb"


@pytest.mark.parametrize("bad_id", ["../13_n", "", ".hidden", "ps 1", "ps/1", "_x", "x" * 65,
                                    "ps1.", "課題1"])
def test_scaffold_refuses_bad_ids(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(ConfigError) as info:
        new_assignment(assignment_id=bad_id, root=tmp_path)
    assert info.value.hint and "14_n" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_scaffold_refuses_an_existing_folder_and_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "13_n").mkdir()
    (tmp_path / "13_n" / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError) as info:
        new_assignment(assignment_id="13_n", root=tmp_path)
    assert info.value.where == str(tmp_path / "13_n")
    assert [p.name for p in (tmp_path / "13_n").iterdir()] == ["mine.txt"]


def test_scaffold_refuses_unknown_device(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cuda"):
        new_assignment(assignment_id="13_n", root=tmp_path, device="tpu")
    assert list(tmp_path.iterdir()) == []


def test_broken_template_leaves_nothing_behind(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "assignment.toml.j2").write_text('[assignment]\nid = "{{ id }}"\n'
                                                  "lecture = {{ no_such_variable }}\n")
    root = tmp_path / "assignments"
    with pytest.raises(ConfigError, match="no_such_variable") as info:
        new_assignment(assignment_id="13_n", root=root, templates=templates)
    assert info.value.where == str(templates / "assignment.toml.j2")
    assert list(root.iterdir()) == [], "no half-written folder, no staging folder"


def test_cli_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "03_h", "--root", str(tmp_path), "--title-en", "CNN",
                 "--dataset", "mnist"]) == 0
    a = load_assignment("03_h", tmp_path)
    assert a.title_en == "CNN" and a.datasets == ("mnist",)
    assert main(["new", "03_h", "--root", str(tmp_path)]) == ConfigError.exit_code
    assert "03_h" in capsys.readouterr().err
