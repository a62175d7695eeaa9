"""A notebook's cells over the bridge channel (``execution.py``, ``sandbox_files/ag_cells``)
run exactly as Jupyter ``execute_request``s would, on both kernel paths, and a kernel
that breaks or steals the channel harms only its own notebook.

``ipython_features.ipynb`` holds what a cell may do in IPython: results, both streams,
top-level ``await``, display updates, ``clear_output``, ``input()``, errors before and
during execution, a thread's print, cell and line magics, ``In``/``Out``, ``sys.exit``,
a payload, an inline figure, non-ASCII text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from forking import launcher_fixture
from slots import worker_slot

from autograder.core.config import Limits
from autograder.engine.kernel import execution
from autograder.engine.kernel.sandboxed import SandboxedKernel

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
launcher = launcher_fixture()
LIMITS = Limits(cell_timeout_s=20, notebook_timeout_s=60, output_kb=256)
STEAL = """import gc, threading
channel = next(o for o in gc.get_objects() if type(o).__name__ == "_Channel")
def steal():
    while channel._read() is not None:
        pass
threading.Thread(target=steal, daemon=True).start()"""
BREAK = """import gc
channel = next(o for o in gc.get_objects() if type(o).__name__ == "_Channel")
channel.sock.sendall(b"\\xff" * 8)"""


def run(nb: nbformat.NotebookNode, launcher: Any, n: int, limits: Limits = LIMITS
        ) -> tuple[execution.ExecutionReport, list[tuple[Any, ...]]]:
    with SandboxedKernel(limits=limits, slot=worker_slot(110, n), lang="en",
                         launcher=launcher) as kernel:
        report = kernel.execute_notebook(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            record = dict(cell.metadata["autograder"], seconds=None)
            outputs = [json.dumps(o, sort_keys=True, ensure_ascii=False) for o in cell.outputs]
            cells.append((cell.execution_count, record, outputs))
    return report, cells


def notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_cells_run_as_execute_requests_would(launcher: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    original = execution.NotebookExecution._send_cell

    def spy(self: execution.NotebookExecution, code: str, deadline: float) -> Any:
        sent.append(code)
        return original(self, code, deadline)

    monkeypatch.setattr(execution.NotebookExecution, "_send_cell", spy)
    source = nbformat.read(NOTEBOOKS / "ipython_features.ipynb", as_version=4)
    on_channel, cells = run(source, launcher, 0)
    assert len(sent) == on_channel.cells_run == 19      # one cell is empty: never sent
    monkeypatch.setattr(execution.NotebookExecution, "_send_cell",
                        lambda self, code, deadline: None)
    as_requests, expected = run(
        nbformat.read(NOTEBOOKS / "ipython_features.ipynb", as_version=4), launcher, 1)
    assert (on_channel.status, on_channel.reason) == (as_requests.status, as_requests.reason)
    assert [c[1]["status"] for c in cells] == [
        "ok", "ok", "ok", "ok", "ok", "ok", "error", "error", "ok", "ok", "ok", "error",
        "ok", "error", "ok", "error", "ok", "ok", "ok", "error"]
    for number, (got, want) in enumerate(zip(cells, expected, strict=True), start=1):
        got[1].pop("line", None)   # the channel's reply also says where an error arose
        assert got == want, f"code cell {number}"


def test_an_error_reply_says_on_which_line_of_the_cell_it_arose(launcher: Any) -> None:
    nb = notebook("import torch\nimport japanize_matplotlib_not_here\nx = 1",
                  "def f():\n    raise ValueError('x')\n\nprint(1)\nf()",
                  "%%time\ny = 1\nz = 1 / 0",
                  "1 +", "import sys\nsys.last_traceback = None\nraise KeyError")
    _, cells = run(nb, launcher, 2)
    assert [c[1]["status"] for c in cells] == ["error"] * 5
    # the failing import, the call of f (not f's own line), the body under %%time; a
    # syntax error ran nothing; IPython sets the traceback again for each error
    assert [c[1].get("line") for c in cells] == [2, 5, 2, None, 3]


TRANSFORMERS = (
    """calls = []
def loud(lines):
    calls.append(1)
    return [line.replace("quiet", "LOUD") for line in lines]
get_ipython().input_transformers_post.append(loud)""",
    'word = "quiet"\nprint(word)',
    "n = len(calls)",
    "print(len(calls) - n)",
    """ip, code = get_ipython(), "x = '" + "qu" + "iet'"   # not rewritten in this cell
print("transform_cell" in vars(ip), "should_run_async" in vars(ip))
print(len(ip.events.callbacks["pre_execute"]), ip.transform_cell(code))
ip.input_transformers_post.remove(loud)
print(ip.transform_cell(code), ip.should_run_async("await f()", transformed_cell="await f()"))""",
    "import asyncio\nawait asyncio.sleep(0)\nprint('awaited', word)",
)


def test_the_input_transformers_run_once_per_cell_and_as_ipython_has_them(
        launcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ipykernel asks IPython's input transformers twice for each cell; over the channel
    the second answer is the first (``ag_cells._IPythonOnce``). A cell's code sees the
    shell as IPython made it and gets IPython's answers, as it does as a request."""
    report, cells = run(notebook(*TRANSFORMERS), launcher, 4)
    monkeypatch.setattr(execution.NotebookExecution, "_send_cell",
                        lambda self, code, deadline: None)
    as_requests, expected = run(notebook(*TRANSFORMERS), launcher, 5)
    assert report.status == as_requests.status == "ok"
    assert '"text": "LOUD\\n"' in cells[1][2][0]
    assert '"text": "1\\n"' in cells[3][2][0]          # once, not twice
    assert '"text": "2\\n"' in expected[3][2][0]      # ipykernel's own double asking
    assert '"text": "False False\\n' in cells[4][2][0]
    for number in (0, 1, 2, 4, 5):
        assert cells[number] == expected[number], f"code cell {number + 1}"


def test_a_cell_that_breaks_the_channel_fails_and_the_rest_run(launcher: Any) -> None:
    nb = notebook("x = 1", BREAK, "print(x + 1)")
    report, cells = run(nb, launcher, 2)
    assert [c[1]["status"] for c in cells] == ["ok", "error", "ok"]
    assert cells[1][1]["ename"] == "KernelChannelBroken"
    assert cells[1][1]["evalue"] == "The kernel broke its channel to the grader."
    assert report.status == "error" and report.cells_run == 3
    assert '"text": "2\\n"' in cells[2][2][0]        # as an execute_request, same kernel


def test_a_stolen_cell_times_out(launcher: Any) -> None:
    # The thread and the kernel's event loop race for each request: the first one the
    # thread takes is never run, and the notebook stops there.
    nb = notebook(STEAL, *[f"print({n})" for n in range(6)])
    report, cells = run(nb, launcher, 3, Limits(cell_timeout_s=2, notebook_timeout_s=30))
    statuses = [c[1]["status"] for c in cells]
    assert report.status == "timeout" and statuses.count("timeout") == 1
    stolen = statuses.index("timeout")
    assert statuses == ["ok"] * stolen + ["timeout"] + ["not_run"] * (6 - stolen)
    assert cells[stolen][2] == []


def test_a_cell_too_large_for_the_channel_goes_as_a_request(
        launcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # (the kernel's end reads frames of up to 64 MiB: a 50 MB notebook of Japanese text
    # can hold a cell larger than that once JSON-escaped)
    from autograder.engine.kernel import channel

    monkeypatch.setattr(channel, "MAX_REQUEST", 4096)
    replies: list[str] = []
    original = execution.NotebookExecution._channel_reply

    def spy(self: execution.NotebookExecution, ch: Any, rid: str) -> Any:
        reply = original(self, ch, rid)
        if reply is not None:
            replies.append(rid)
        return reply

    monkeypatch.setattr(execution.NotebookExecution, "_channel_reply", spy)
    nb = notebook("s = '" + "あ" * 1000 + "'\nlen(s)", "print(len(s))")
    report, cells = run(nb, launcher, 4)
    assert report.status == "ok" and len(replies) == 1   # the small cell only
    assert '"text/plain": "1000"' in cells[0][2][0] and '"text": "1000\\n"' in cells[1][2][0]


def test_a_bridge_request_too_large_for_the_channel_is_left_to_a_cell(
        launcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.engine.kernel import channel

    monkeypatch.setattr(channel, "MAX_REQUEST", 4096)
    with SandboxedKernel(limits=LIMITS, slot=worker_slot(110, 5), lang="en",
                         launcher=launcher) as kernel:
        assert kernel.serve_bridge({"rid": "r1", "op": "probe", "name": "x" * 5000}) is None
        assert kernel.serve_bridge({"rid": "r2", "op": "probe", "name": "x"}) is not None
