"""A wheel that works: built from this checkout, installed into a fresh venv outside it,
then ``autograder new``, ``release``, ``grade`` (real sandbox) and ``export`` run from a
folder outside the checkout, with nothing of the checkout on ``sys.path``.

The fresh venv. A user's ``pip install dl_autograder-*.whl`` puts the dependencies (torch,
Jupyter: about 6 GB) into the venv's own prefix, and the sandbox relies on that: it mounts
``sys.prefix`` and ``sys.base_prefix`` read-only and nothing else of the host. The ways
to reuse the project venv's dependencies compare like this:

- ``python -m venv --system-site-packages``: exposes the *base* interpreter's packages;
  the project venv is itself a venv, so torch would be missing.
- a ``.pth`` file naming the project venv's site-packages: the grader would import fine,
  but the kernel in bubblewrap would not find ipykernel or torch. Teaching the sandbox to
  mount whatever a ``.pth`` names is no answer either: an editable install's ``.pth`` can
  name the project folder, hidden tests included.
- a copy: 6 GB written per run.

So the fresh venv's site-packages is a tree of *hard links* to the project venv's files
(same inodes: no bytes copied, a second or two), without the project's own editable
install (its ``.pth``, finder and dist-info); pip then installs the wheel into it with
``--no-deps --no-index``. The result is self-contained like a user's install, and the
sandbox sees all of it. Hard links need one file system: when the temporary folder is on
another one than the project venv, the test is skipped and says so.

The wheel is built (``pip wheel --no-deps --no-build-isolation --no-index``) from a copy
of what it is made of, so no ``build/`` or ``*.egg-info`` lands in the checkout.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

from autograder.engine.kernel.sandbox import bwrap_available

REPO = Path(__file__).resolve().parent.parent
WHEEL_SOURCES = ("pyproject.toml", "README.md", "autograder", "autograder_reference", "templates")
SITE = Path(sysconfig.get_paths()["purelib"])
OWN_INSTALL = ("__editable__", "dl_autograder-", "__pycache__")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert out.returncode == 0, f"{argv}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in WHEEL_SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", str(src), "-w", str(tmp / "dist")], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("dl_autograder-*.whl")
    return wheel


def _fresh_venv(tmp: Path) -> Path:
    """A venv whose site-packages hard-links the project venv's (see the docstring)."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    site = Path(_run([str(venv / "bin" / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp).stdout.strip())
    if os.stat(site).st_dev != os.stat(SITE).st_dev:
        pytest.skip(f"{tmp} and {SITE} are on different file systems: no hard links")
    for entry in SITE.iterdir():
        if entry.name.startswith(OWN_INSTALL):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, site / entry.name, symlinks=True, copy_function=os.link)
        else:
            os.link(entry, site / entry.name, follow_symlinks=False)
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("wheel")
    before = _build_outputs()  # an editable install (make test's venv) has its egg-info
    wheel = _build_wheel(tmp)
    venv = _fresh_venv(tmp)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index",
          "-q", str(wheel)], cwd=tmp)
    return {"tmp": tmp, "wheel": wheel, "venv": venv, "before": before}


def _build_outputs() -> Any:
    """What a build in the checkout itself would leave there, with its modification time."""
    return {p.name: p.stat().st_mtime_ns for p in [REPO / "build", *REPO.glob("*.egg-info")]
            if p.exists()}


def test_the_wheel_holds_templates_and_a_named_reference(installed: dict[str, Any]) -> None:
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "autograder/templates/feedback.html.j2" in names
    assert "autograder/templates/new_assignment/assignment.toml.j2" in names
    for part in ("ag_bridge", "ag_requests", "ag_wire", "ag_code", "ag_channel", "ag_startup"):
        assert f"autograder/engine/kernel/sandbox_files/{part}.py" in names
    assert "autograder_reference/perceptron.py" in names
    assert not any(n.startswith(("reference/", "templates/", "tests/")) for n in names)


def test_new_release_grade_export_from_outside_the_checkout(installed: dict[str, Any]) -> None:
    venv, work = installed["venv"], installed["tmp"] / "work"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(installed["tmp"] / "home"),
           "AUTOGRADER_DATA": str(installed["tmp"] / "data"), "AUTOGRADER_LANG": "en",
           "LANG": "C.UTF-8"}
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import autograder, autograder_reference, sys;"
                  "print(autograder.__file__); print(autograder_reference.__file__)"],
                 cwd=work, env=env).stdout.split()
    assert all(p.startswith(str(venv)) for p in where), where
    autograder = str(venv / "bin" / "autograder")
    _run([autograder, "new", "ps9"], cwd=work, env=env)
    _run([autograder, "release", "ps9", "--out", "release"], cwd=work, env=env)
    subs = work / "subs"
    subs.mkdir()
    shutil.copy(work / "assignments" / "ps9" / "ps9.ipynb", subs / "alice.ipynb")
    shutil.copy(work / "release" / "ps9.ipynb", subs / "bob.ipynb")
    _run([autograder, "grade", "ps9", "subs", "--out", "out"], cwd=work, env=env)
    with (work / "out" / "results.csv").open(encoding="utf-8") as fh:
        rows = {r["participant"]: r for r in csv.DictReader(fh)}
    assert (rows["alice"]["status"], rows["alice"]["score"]) == ("graded", rows["alice"]
                                                                ["max_score"])
    assert rows["bob"]["status"] == "graded" and float(rows["bob"]["score"]) == 0
    _run([autograder, "export", "ps9", "--out", "export"], cwd=work, env=env)
    # folders of notebooks have no Moodle ids: grades.csv and feedback/, no zip to upload
    for name in ("grades.csv", "report.html", "feedback/alice/ps9.html"):
        assert (work / "export" / name).stat().st_size > 0, name
    assert _build_outputs() == installed["before"], "the wheel was built from a copy"
