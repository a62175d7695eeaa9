"""Generate two test assignments written the way nbgrader users write them
(run: python tests/assignments/make_nbsources.py).

- ``ps1``: an id that is no lecture/level, a source notebook in nbformat **4.0** (no cell
  ids; nbgrader's own fixtures are 4.0), ``[assignment] file = "ps1.ipynb"``, a code answer
  cell **without** ``### BEGIN SOLUTION`` (the whole cell becomes the stub), and a test
  cell of given code that passes on the blank release by design, listed in
  ``[validate] release_may_pass``.
- ``week5``: another such id, nbformat **4.1**, one answer cell with markers and one
  without, and nbgrader's ``validate --invert`` rule (``[validate] release = "not_full"``)
  for its import check, which passes on the blank release too.

The notebooks are written as plain JSON, cell by cell, so their format is exactly the old
one (nbformat's own writers would add 4.5 cell ids).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
          points: float | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _code(source: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": metadata or {},
            "outputs": [], "source": source}


def _markdown(source: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": metadata or {}, "source": source}


def _notebook(cells: list[dict[str, Any]], minor: int) -> str:
    nb = {"cells": cells, "metadata": {"kernelspec": KERNELSPEC},
          "nbformat": 4, "nbformat_minor": minor}
    return json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def ps1() -> str:
    return _notebook([
        _markdown("# Problem set 1\n\n`cube(x)` を書きます。", _meta("intro", locked=True)),
        _code("def square(x):\n    return x * x", _meta("given", locked=True)),
        # no markers: nbgrader releases the whole cell as the stub
        _code("def cube(x):\n    return x ** 3", _meta("cube", solution=True)),
        _code("assert square(3) == 9, 'square は与えられています'",
              _meta("test_given", grade=True, locked=True, points=1)),
        _code("assert cube(2) == 8, 'cube(2) は 8 です'",
              _meta("test_cube_cell", grade=True, locked=True, points=1)),
    ], minor=0)


PS1_MANIFEST = """\
# nbgrader-style test assignment (tests/assignments/make_nbsources.py)
[assignment]
id = "ps1"
title = { ja = "問題セット 1 (テスト用)", en = "Problem set 1 (engine tests)" }
file = "ps1.ipynb"

[limits]
cell_timeout_s = 8
notebook_timeout_s = 30
memory_mb = 1024
processes = 64
output_kb = 256

[points]
test_cube = 2

[validate]
release_may_pass = ["cell:test_given"]
"""

PS1_CHECKS = '''\
"""Hidden checks of ps1 (grader side)."""

from __future__ import annotations

import pytest

from autograder import checks


@pytest.mark.points(2)
def test_cube(submission):  # type: ignore[no-untyped-def]
    cube = submission.function("cube")
    if [cube(x) for x in (-2, 0, 5)] != [-8, 0, 125]:
        checks.fail(ja="cube が 3 乗を返していません", en="cube does not return the cube")
'''


def week5() -> str:
    params = _code("SCALE = 2")
    params["metadata"]["tags"] = ["parameters"]
    return _notebook([
        _markdown("# Week 5", _meta("intro", locked=True)),
        params,
        _code("def scale(x):\n    ### BEGIN SOLUTION\n    return x * SCALE\n"
              "    ### END SOLUTION", _meta("scale", solution=True)),
        _code("def shift(x):\n    return x + 1", _meta("shift", solution=True)),
        _code("import math\n\nassert math.pi > 3", _meta("test_import", grade=True, locked=True,
                                                      points=1)),
        _code("assert scale(1) == SCALE, 'scale(1) は SCALE です'",
              _meta("test_scale_cell", grade=True, locked=True, points=1)),
    ], minor=1)


WEEK5_MANIFEST = """\
# nbgrader-style test assignment (tests/assignments/make_nbsources.py)
[assignment]
id = "week5"
title = { ja = "第 5 週 (テスト用)", en = "Week 5 (engine tests)" }

[limits]
cell_timeout_s = 8
notebook_timeout_s = 30
memory_mb = 1024
processes = 64
output_kb = 256

[grading]
SCALE = 3

[validate]
release = "not_full"
"""

WEEK5_CHECKS = '''\
"""Hidden checks of week5 (grader side)."""

from __future__ import annotations

import pytest

from autograder import checks


@pytest.mark.points(1)
def test_shift(submission):  # type: ignore[no-untyped-def]
    shift = submission.function("shift")
    if shift(41) != 42:
        checks.fail(ja="shift(x) は x + 1 です", en="shift(x) is x + 1")
'''


def write(folder: Path, notebook: str, manifest: str, checks: str) -> None:
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / f"{folder.name}.ipynb").write_text(notebook, encoding="utf-8")
    (folder / "assignment.toml").write_text(manifest, encoding="utf-8")
    (folder / "tests" / f"test_{folder.name}.py").write_text(checks, encoding="utf-8")


if __name__ == "__main__":
    write(HERE / "ps1", ps1(), PS1_MANIFEST, PS1_CHECKS)
    write(HERE / "week5", week5(), WEEK5_MANIFEST, WEEK5_CHECKS)
