"""What the wheel is made of, checked without building it (tests/test_wheel.py builds it):
every package folder listed, the templates mapped, and ``reference`` still importable by
assignment checks after the solutions became ``autograder_reference``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import tomllib

from autograder.checks import collect_checks
from autograder.core.config import Assignment
from autograder.core.paths import templates_dir

REPO = Path(__file__).resolve().parent.parent


def _setuptools() -> dict[str, object]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, object] = data["tool"]["setuptools"]
    return table


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject lists packages by hand (to map templates/); a new folder must be added."""
    listed = set(_setuptools()["packages"])  # type: ignore[call-overload]
    for top in ("autograder", "autograder_reference"):
        for folder in [REPO / top, *(REPO / top).rglob("*")]:
            if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
                name = ".".join(folder.relative_to(REPO).parts)
                assert name in listed, f"{name} is missing from [tool.setuptools] packages"


def test_templates_are_mapped_from_the_top_level_folder() -> None:
    table = _setuptools()
    assert table["package-dir"] == {"autograder.templates": "templates"}
    assert table["package-data"]["autograder.templates"] == ["**/*"]  # type: ignore[index]
    assert not (REPO / "autograder" / "templates").exists(), "one copy: templates/"
    assert templates_dir() == REPO / "templates"  # a checkout: the top-level folder
    assert (templates_dir() / "feedback.html.j2").is_file()


ALIAS_PROBE = """
import sys
from autograder.checks import reference_alias
reference_alias.install()
import autograder_reference.perceptron as real
from reference import perceptron
import reference.convolution
from reference.device import resolve_device
assert perceptron is real, "one module under both names"
assert reference.convolution is sys.modules["autograder_reference.convolution"]
assert resolve_device is sys.modules["autograder_reference.device"].resolve_device
# the real package is still found as itself (the engine's fingerprint hashes its files)
import importlib.util
spec = importlib.util.find_spec("autograder_reference")
assert spec.name == "autograder_reference" and spec.origin.endswith("__init__.py"), spec
print("ok")
"""


def test_reference_is_an_alias_of_autograder_reference(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", ALIAS_PROBE], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                         timeout=120, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_real_reference_package_wins(tmp_path: Path) -> None:
    own = tmp_path / "course" / "reference"
    own.mkdir(parents=True)
    (own / "__init__.py").write_text("OWN = True\n")
    probe = ("from autograder.checks import reference_alias\nreference_alias.install()\n"
             "import reference\nprint(getattr(reference, 'OWN', False))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False,
                         env={"PYTHONPATH": f"{REPO}:{own.parent}", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_assignment_checks_written_against_reference_still_load(tmp_path: Path) -> None:
    tests = tmp_path / "ref_n" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_ref.py").write_text(textwrap.dedent("""
        import pytest
        from reference import perceptron as ref

        @pytest.mark.points(3)
        def test_and(submission):
            assert ref.AND(1, 1) == 1
    """), encoding="utf-8")
    assignment = Assignment(id="ref_n", root=tmp_path / "ref_n", title_ja="t", title_en="t")
    assert collect_checks(assignment=assignment) == [("test_and", 3.0)]
