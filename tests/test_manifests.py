"""Assignment manifests: the course's all load; each kind of mistake gets one clear message.

The error table runs ``autograder.core.config.load_manifest`` on small TOML files written into
folders named like assignments, so the message's file and key can be checked exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.authoring.source_check import check_names
from autograder.core.config import load_assignment, load_manifest
from autograder.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"
COURSE = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "assignment.toml").is_file()) \
    if ASSIGNMENTS.is_dir() else []


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words checked below are the English texts (Japanese: its own test)."""
    monkeypatch.setenv("AUTOGRADER_LANG", "en")


@pytest.mark.parametrize("assignment_id", COURSE)
def test_course_manifest_loads(assignment_id: str) -> None:
    a = load_assignment(assignment_id, ASSIGNMENTS)
    assert a.id == assignment_id
    assert a.lecture == int(assignment_id[:2]) and a.level == assignment_id[-1]
    assert a.source_notebook.is_file(), f"{a.source_notebook} is missing"
    assert a.points, "the manifest should give the hidden checks their points"
    # every [points] key names a check that exists (a typo would silently score nothing)
    assert set(a.points) <= check_names(a.tests_dir)
    assert all(0.0 <= t <= 1.0 for t in a.thresholds.values())


def test_course_has_the_six_assignments_it_ships() -> None:
    # the ones this checkout has must be among the six of docs/course.md
    assert set(COURSE) <= {"13_n", "13_h", "03_n", "03_h", "14_n", "14_h"}
    assert {"13_n", "13_h", "14_n"} <= set(COURSE)


VALID = """\
[assignment]
id = "14_n"
title = { ja = "畳み込み", en = "Convolution" }
lecture = 14
level = "n"
device = "cpu"
datasets = ["cifar10"]

[limits]
memory_mb = 4096

[grading]
EPOCHS = 1

[thresholds]
accuracy = 0.55

[points]
test_conv = 2
"""


def _write(tmp_path: Path, text: str, folder: str = "14_n") -> Path:
    path = tmp_path / folder / "assignment.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_cell_requires_loads_as_a_frozen_mapping(tmp_path: Path) -> None:
    text = VALID + '\n[cell_requires]\n"cell:test_model" = ["test_conv", "test_acc"]\n'
    a = load_manifest(_write(tmp_path, text))
    assert dict(a.cell_requires) == {"cell:test_model": ("test_conv", "test_acc")}
    with pytest.raises(TypeError):
        a.cell_requires["cell:x"] = ()  # type: ignore[index]
    assert dict(load_manifest(_write(tmp_path, VALID)).cell_requires) == {}


def test_valid_manifest_loads(tmp_path: Path) -> None:
    a = load_manifest(_write(tmp_path, VALID))
    assert (a.id, a.lecture, a.level, a.device) == ("14_n", 14, "n", "cpu")
    assert a.title("en") == "Convolution" and a.title() == "畳み込み"
    assert dict(a.grading) == {"EPOCHS": 1} and dict(a.thresholds) == {"accuracy": 0.55}
    assert dict(a.points) == {"test_conv": 2.0} and a.limits.memory_mb == 4096


# (case, old text, new text, key the message must name, words it must contain)
MISTAKES = [
    ("missing key", 'id = "14_n"\n', "", "[assignment] id", "required"),
    ("missing table", VALID[: VALID.index("[limits]")], "", "[manifest] assignment",
     "required"),
    ("wrong type", "lecture = 14", 'lecture = "14"', "[assignment] lecture", "integer"),
    ("boolean for number", "lecture = 14", "lecture = true", "[assignment] lecture",
     "boolean"),
    ("lecture out of range", "lecture = 14", "lecture = 100", "[assignment] lecture", "99"),
    ("file not a notebook", 'device = "cpu"', 'file = "14_n.py"\ndevice = "cpu"',
     "[assignment] file", "<name>.ipynb"),
    ("file with a folder", 'device = "cpu"', 'file = "x/14_n.ipynb"\ndevice = "cpu"',
     "[assignment] file", "<name>.ipynb"),
    ("unknown validate rule", "[points]", '[validate]\nrelease = "some"\n\n[points]',
     "[validate] release", "not_full"),
    ("validate list not strings", "[points]", "[validate]\nrelease_may_pass = [1]\n\n[points]",
     "[validate] release_may_pass", "strings"),
    ("unknown device", 'device = "cpu"', 'device = "tpu"', "[assignment] device", "cuda"),
    ("unknown level", 'level = "n"', 'level = "x"', "[assignment] level", "'x'"),
    ("threshold above 1", "accuracy = 0.55", "accuracy = 1.5", "[thresholds] accuracy",
     "[0, 1]"),
    ("threshold below 0", "accuracy = 0.55", "accuracy = -0.1", "[thresholds] accuracy",
     "[0, 1]"),
    ("threshold not a number", "accuracy = 0.55", 'accuracy = "high"',
     "[thresholds] accuracy", "number"),
    ("unknown key", 'device = "cpu"', 'device = "cpu"\ncolour = "red"',
     "[assignment] colour", "not a known key"),
    ("unknown table", "[points]", "[extras]\nx = 1\n\n[points]", "[manifest] extras",
     "not a known key"),
    ("unknown limit", "memory_mb = 4096", "memory_gb = 4", "[limits] memory_gb",
     "not a known key"),
    ("negative limit", "memory_mb = 4096", "memory_mb = -1", "[limits] memory_mb",
     "positive"),
    ("id and folder differ", 'id = "14_n"', 'id = "14_h"', "[assignment] id", "folder"),
    ("title without en", 'title = { ja = "畳み込み", en = "Convolution" }',
     'title = { ja = "畳み込み" }', "[assignment.title] en", "required"),
    ("points not a number", "test_conv = 2", 'test_conv = "two"', "[points] test_conv",
     "number"),
    ("negative points", "test_conv = 2", "test_conv = -2", "[points] test_conv", "negative"),
    ("grading value a table", "EPOCHS = 1", "EPOCHS = { a = 1 }", "[grading] EPOCHS",
     "number, string or boolean"),
    ("datasets not strings", 'datasets = ["cifar10"]', "datasets = [1]",
     "[assignment] datasets", "strings"),
    ("cell_requires key not a cell", "[points]",
     '[cell_requires]\ntest_model = ["test_conv"]\n\n[points]',
     "[cell_requires] test_model", "cell:<grade_id>"),
    ("cell_requires empty list", "[points]",
     '[cell_requires]\n"cell:test_model" = []\n\n[points]',
     "[cell_requires] cell:test_model", "non-empty"),
    ("cell_requires names a cell", "[points]",
     '[cell_requires]\n"cell:test_model" = ["cell:test_net"]\n\n[points]',
     "[cell_requires] cell:test_model", "pytest check names"),
    ("cell_requires not strings", "[points]",
     '[cell_requires]\n"cell:test_model" = [1]\n\n[points]',
     "[cell_requires] cell:test_model", "strings"),
]


@pytest.mark.parametrize(("case", "old", "new", "key", "words"), MISTAKES,
                         ids=[m[0] for m in MISTAKES])
def test_manifest_mistake_names_file_and_key(tmp_path: Path, case: str, old: str, new: str,
                                             key: str, words: str) -> None:
    assert old in VALID, case
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    err = info.value
    assert err.where == f"{path}: {key}", err.render()
    assert words in err.message, err.message
    assert err.hint, "every manifest error says what to do"
    # one message: one line, naming the file once
    assert "\n" not in err.render() and err.render().count(str(path)) == 1


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("lecture = 14", "lecture = "))
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert info.value.where == str(path)
    assert "not valid TOML" in info.value.message
    assert re.search(r"line \d+", info.value.message), info.value.message


def test_missing_manifest_and_unknown_assignment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_manifest(tmp_path / "14_n" / "assignment.toml")
    assert "not found" in info.value.message and "autograder new" in (info.value.hint or "")
    _write(tmp_path, VALID)
    with pytest.raises(ConfigError) as info:
        load_assignment("14_h", tmp_path)
    assert "14_n" in (info.value.hint or ""), "the error lists the assignments that exist"


def test_manifest_mistakes_speak_japanese_by_default(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")
    path = _write(tmp_path, VALID.replace('device = "cpu"', 'device = "tpu"'))
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert "cpu, cuda のどれか" in info.value.message and "マニフェスト" in (info.value.hint or "")
    with pytest.raises(ConfigError) as info:
        load_assignment("5_n", tmp_path)
    assert "課題 '5_n' がありません" in info.value.message


OTHER_ID = """\
[assignment]
id = "ps1"
title = { ja = "課題 1", en = "Problem set 1" }
file = "PS1-answers.ipynb"

[validate]
release = "not_full"
release_may_pass = ["test_imports", "cell:given"]
"""


def test_any_id_with_its_own_file_name_and_validate_options(tmp_path: Path) -> None:
    a = load_manifest(_write(tmp_path, OTHER_ID, folder="ps1"))
    assert (a.id, a.lecture, a.level) == ("ps1", None, None)
    assert a.submission_file == "PS1-answers.ipynb"
    assert a.validation.release == "not_full"
    assert a.validation.release_may_pass == ("test_imports", "cell:given")
    default = load_manifest(_write(tmp_path, VALID.replace("lecture = 14\nlevel = \"n\"\n", "")))
    assert (default.lecture, default.level, default.submission_file) == (14, "n", "14_n.ipynb")
    assert default.validation.release == "zero" and not default.validation.release_may_pass


def test_an_id_that_is_a_path_is_no_assignment(tmp_path: Path) -> None:
    _write(tmp_path, VALID)
    with pytest.raises(ConfigError, match="no assignment"):
        load_assignment("../" + tmp_path.name + "/14_n", tmp_path)
