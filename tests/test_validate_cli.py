"""``autograder validate ID | --all`` from the command line: a table per assignment, the
problems named, exit status 0 only when every assignment is sound."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.core.errors import ConfigError
from autograder.engine.kernel.sandbox import bwrap_available

TINY = Path(__file__).resolve().parent / "assignments" / "02_n"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


@pytest.fixture(autouse=True)
def default_language(monkeypatch: pytest.MonkeyPatch) -> None:
    # main() exports --lang for the workers it spawns: undo it after each test
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """02_n as it is, and 12_n: the same with a wrong reference solution."""
    shutil.copytree(TINY, tmp_path / "02_n")
    broken = tmp_path / "12_n"
    shutil.copytree(TINY, broken)
    (broken / "02_n.ipynb").rename(broken / "12_n.ipynb")
    text = (broken / "12_n.ipynb").read_text(encoding="utf-8")
    (broken / "12_n.ipynb").write_text(text.replace("return a + b", "return a - b"),
                                       encoding="utf-8")
    manifest = broken / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"02_n"', '"12_n"'),
                        encoding="utf-8")
    return tmp_path


def test_all_reports_each_assignment_and_fails_on_the_unsound_one(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "validate", "--all", "--assignments", str(root)]) == 1
    out = capsys.readouterr()
    assert "validation of 02_n" in out.out and "validation of 12_n" in out.out
    assert "NG" in out.out and "unsound: 12_n" in out.out
    assert "12_n:" in out.err and "02_n:" not in out.err


def test_one_sound_assignment_exits_zero(root: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "02_n", "--assignments", str(root)]) == 0
    assert "すべて健全です" in capsys.readouterr().out


def test_an_id_and_all_together_is_refused(root: Path) -> None:
    assert main(["validate", "02_n", "--all", "--assignments", str(root)]) == \
        ConfigError.exit_code
