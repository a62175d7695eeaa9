"""What a kernel template preloads for an assignment, worked out without importing it:
the grader decides before its workers start, and importing matplotlib to find
``matplotlib.pyplot`` cost the batch 0.2 s of its serial start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.engine.kernel.zygote import BASE_PRELOAD, preload_for

ROOT = Path(__file__).resolve().parent.parent


def _source(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(text) for text in cells]
    return nb


def test_13_n_preloads_its_imports_without_importing_them() -> None:
    code = ("import json, sys, nbformat\n"
            "from autograder.engine.kernel.zygote import preload_for\n"
            "nb = nbformat.read('assignments/13_n/13_n.ipynb', as_version=4)\n"
            "found = preload_for(nb)\n"
            "print(json.dumps([list(found), [m for m in ('matplotlib', 'torch', 'numpy')"
            " if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    found, imported = json.loads(done.stdout)
    assert found == ["numpy", "torch", "matplotlib.pyplot"]
    assert imported == []


@pytest.mark.parametrize(("cell", "expected"), [
    ("import matplotlib.pyplot as plt\nfrom torch import nn", ["matplotlib.pyplot"]),
    ("import torch.nn.functional as F", ["torch.nn.functional"]),
    ("from json import decoder\nimport xml.etree.ElementTree", ["json", "xml.etree.ElementTree"]),
    ("import not_a_module_here\nimport matplotlib.not_here\nimport json.not_here", []),
    ("from . import x\nfrom __future__ import annotations", []),
    ("import os.path", ["os.path"]),          # imported already: found as find_spec finds it
    ("def f(:\n  import json", []),           # a cell that does not parse adds nothing
])
def test_installed_modules_only(cell: str, expected: list[str]) -> None:
    assert list(preload_for(_source(cell))) == [*BASE_PRELOAD, *expected]
