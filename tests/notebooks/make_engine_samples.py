"""Generate the engine's end-to-end samples for the tiny 02_n assignment.

Each is the released 02_n notebook filled in a particular way (correct, wrong, cheating).
Run: python tests/notebooks/make_engine_samples.py
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "assignments" / "02_n" / "02_n.ipynb"

CORRECT = "def add(a, b):\n    return a + b\n\ndef double(x):\n    return x * FACTOR\n"
WRONG = "def add(a, b):\n    return a - b\n\ndef double(x):\n    return x * FACTOR\n"
EQ_ALWAYS_TRUE = (
    "class Anything:\n    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n\n"
    "class Sly(int):\n    def __eq__(self, other):\n        return True\n\n"
    "def add(a, b):\n    return Anything()\n\ndef double(x):\n    return Sly(0)\n")
SEED_TAMPERING = (
    "import torch\n"
    "torch.manual_seed = lambda *a, **k: None\n"
    "torch.randn = lambda *s, **k: torch.zeros(*s)\n"
    "torch.arange = lambda *a, **k: torch.zeros(6)\n" + CORRECT)
SHOWTRACEBACK = (
    "from IPython import get_ipython\n"
    "get_ipython().showtraceback = lambda *a, **k: None\n"
    "get_ipython()._showtraceback = lambda *a, **k: None\n" + WRONG)


def _answer_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(c for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "answer")


def _variant(source: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(source)
    _answer_cell(nb).source = code
    return nb


def build() -> dict[str, nbformat.NotebookNode]:
    source = nbformat.read(SOURCE, as_version=4)
    out = {
        "add_correct": _variant(source, CORRECT),
        "add_wrong": _variant(source, WRONG),
        "add_eq_always_true": _variant(source, EQ_ALWAYS_TRUE),
        "add_seed_tampering": _variant(source, SEED_TAMPERING),
        "add_cheat_showtraceback": _variant(source, SHOWTRACEBACK),
    }
    edited = _variant(source, WRONG)
    test_cell = next(c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade"))
    test_cell.source = "pass  # the student emptied the test"
    out["add_edited_test_cell"] = edited
    deleted = _variant(source, WRONG)
    deleted.cells = [c for c in deleted.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    out["add_deleted_test_cell"] = deleted
    return out


def main() -> int:
    for name, nb in build().items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
