"""Definitions read from the notebook's text: IPython's syntax, and what it may cost.

IPython's transformer rewrites one escape line per pass over the whole cell, so a cell of
hundreds of ``!`` lines among thousands of others kept the grader's own process busy for
minutes (found: 400 shell lines in a 20,000-line cell, two minutes, twice per
submission). These tests count calls of the transformer instead of timing it.
"""

from __future__ import annotations

from typing import Any

import pytest

from autograder.engine.bridge import notebook_source
from autograder.engine.bridge.notebook_source import (
    TRANSFORM_WORK,
    NotebookSource,
    TransformBudget,
    ipython_transform,
    parse_cell,
    transform_work,
)
from autograder.engine.cells.scores import find_tampering, tampering_notices

HEAVY = "!echo hi\n" * 400 + "x = 1\n" * 20_000   # far over TRANSFORM_WORK
F_TEXT = "def f(x):\n    return x + 1"


class CountingTransformer:
    """Stands in for IPython's ``TransformerManager``; each call advances the clock."""

    def __init__(self, clock: list[float], seconds_per_call: float = 0.0):
        from IPython.core.inputtransformer2 import TransformerManager

        self.real = TransformerManager()
        self.calls = 0
        self.clock, self.seconds = clock, seconds_per_call

    def transform_cell(self, code: str) -> str:
        self.calls += 1
        self.clock[0] += self.seconds
        return str(self.real.transform_cell(code))


@pytest.fixture
def transformer(monkeypatch: pytest.MonkeyPatch) -> CountingTransformer:
    clock = [0.0]
    fake = CountingTransformer(clock)
    monkeypatch.setattr(notebook_source, "_transformer", lambda: fake)
    monkeypatch.setattr(notebook_source.time, "monotonic", lambda: clock[0])
    return fake


@pytest.mark.parametrize(("code", "passes"), [
    ("x = 1\ny = 2", 1),
    ("%matplotlib inline\n!pip install -q einops\nimport torch", 2),
    ("files = !ls\nwho = %who_ls\nresult = x", 2),
    ("torch.tensor?\n  ??len\n# why?\nprint('?')", 3),   # a comment ending in ? counts
    ("!a\n" * 800, 500),                                  # IPython stops after 500 passes
])
def test_transform_work_counts_lines_times_passes(code: str, passes: int) -> None:
    assert transform_work(code) == (code.count("\n") + 1) * passes


@pytest.mark.parametrize(("cell", "transforms"), [
    ("%matplotlib inline\n!pip install -q einops\n" + F_TEXT, 1),
    ("files = !ls\n" + F_TEXT, 1),
    ("len?\n" + F_TEXT, 1),
    # the body of %%time and %%capture runs in the user's namespace: it defines names
    ("%%time\n" + F_TEXT, 0),
    ("\n%%capture out\n%%time\n" + F_TEXT, 0),
    ("%%time\n!nvidia-smi\n" + F_TEXT, 1),
])
def test_colab_syntax_still_defines_names(transformer: CountingTransformer, cell: str,
                                          transforms: int) -> None:
    assert NotebookSource([cell]).definition("f") == F_TEXT
    assert transformer.calls == transforms


@pytest.mark.parametrize("cell", [
    "%%bash\n" + F_TEXT,            # not Python: the kernel defines nothing either
    "%%timeit\n" + F_TEXT,          # timeit runs the body inside a function of its own
    "%%writefile f.py\n" + F_TEXT,
    'text = """\n%%time\n' + F_TEXT + '\n"""',
])
def test_other_cell_magics_define_nothing(cell: str) -> None:
    assert NotebookSource([cell]).definition("f") is None


def test_tampering_under_a_cell_magic_is_found() -> None:
    cell = "%%capture\nget_ipython().showtraceback = lambda *a, **k: None"
    assert find_tampering(cell) == ["get_ipython().showtraceback"]


def test_plain_python_never_reaches_the_transformer(transformer: CountingTransformer) -> None:
    assert NotebookSource([F_TEXT, "import torch\ny = f(2)"]).definition("f") == F_TEXT
    assert find_tampering("import sys\nsys.excepthook = print") == ["sys.excepthook"]
    assert transformer.calls == 0


def test_a_cell_too_costly_to_transform_defines_nothing(
        transformer: CountingTransformer) -> None:
    assert transform_work(HEAVY + F_TEXT) > TRANSFORM_WORK
    source = NotebookSource([HEAVY + F_TEXT, "def g():\n    return 2"])
    assert source.definition("f") is None          # as if the cell did not parse
    assert source.definition("g") == "def g():\n    return 2"
    assert parse_cell(HEAVY) is None
    assert transformer.calls == 0


def test_tampering_in_a_costly_cell_is_found_by_its_words(
        transformer: CountingTransformer) -> None:
    cell = HEAVY + "get_ipython().showtraceback = lambda *a, **k: None\n"
    assert find_tampering(cell) == ["showtraceback"]
    assert transformer.calls == 0


def test_a_spent_budget_stops_transforming(transformer: CountingTransformer) -> None:
    budget = TransformBudget(seconds=0.0)
    assert ipython_transform("!ls\nx = 1", budget) is None
    assert ipython_transform("!ls\nx = 1") == "get_ipython().system('ls')\nx = 1\n"
    assert transformer.calls == 1


def _notebook(cells: list[str]) -> Any:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def test_one_notebook_spends_at_most_its_budget(transformer: CountingTransformer) -> None:
    # 200 cells, each cheap alone (under TRANSFORM_WORK), each taking "a second"
    transformer.seconds = 1.0
    cells = ["!echo hi\n" * 50 + "x = (\n"] * 199 + ["!pip list\n" + F_TEXT]
    assert all(transform_work(c) <= TRANSFORM_WORK for c in cells)
    source = NotebookSource(cells)
    spent = transformer.calls
    assert spent == notebook_source.NOTEBOOK_TRANSFORM_SECONDS   # then no more
    assert source.definition("f") is None          # its cell came after the budget
    tampering_notices(_notebook(cells))
    assert transformer.calls == 2 * spent          # the scan has a budget of its own
