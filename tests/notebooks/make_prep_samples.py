"""Generate the sample notebooks for notebook_io / restore / cellscore tests.

Run from the repository root:  .venv/bin/python tests/notebooks/make_prep_samples.py
The outputs are committed; the script is the record of how they were made. Cell ids are
fixed so regenerating gives the same files.

Files written (all in tests/notebooks/):

  source_demo.ipynb        nbgrader source: locked markdown, a `parameters` cell, two
                           solution cells, a visible test, a test with hidden tests, and a
                           manually graded free-text cell (質問・感想)
  released_demo.ipynb      the student version made from it with nbgrader's preprocessors
  demo_correct.ipynb       an honest, correct submission (as saved by Jupyter)
  colab_metadata.ipynb     the same answers as Colab saves them: nbformat 4.0, no cell ids,
                           metadata.colab / accelerator / widgets / gpuClass, outputs with
                           metadata.colab, executionInfo
  stripped_metadata.ipynb  correct answers, every cell's nbgrader metadata lost
  edited_test_cell.ipynb   wrong XOR; test_xor edited to `pass`, test_and's points set to
                           1000, and an extra cell claiming grade_id "bonus" worth 1000
  deleted_test_cell.ipynb  test_and and the locked 質問・感想 heading deleted
  cheat_showtraceback.ipynb  XOR left unanswered; a cell replaces showtraceback so failing
                           test cells show no error (outputs as Colab would have saved them)
  corrupted_json.ipynb     a truncated upload of demo_correct.ipynb
  nbformat3.ipynb          an old nbformat 3 notebook
  empty.ipynb              0 bytes
  zero_cells.ipynb         valid JSON, a notebook with no cells
  png_renamed.ipynb        a PNG image renamed .ipynb
  html_renamed.ipynb       the Colab web page saved instead of the notebook
"""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def nbg(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
        points: float | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                            "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


AND_SOLUTION = """def AND(a, b):
    ### BEGIN SOLUTION
    return int(5 * a + 5 * b - 9 > 0)
    ### END SOLUTION"""

XOR_SOLUTION = """def XOR(a, b):
    ### BEGIN SOLUTION
    nand = int(-5 * a - 5 * b + 9 > 0)
    or_ = int(5 * a + 5 * b - 4 > 0)
    return AND(nand, or_)
    ### END SOLUTION"""

TEST_AND = """assert AND(0, 0) == 0, "AND(0, 0) は 0 になるはずです"
assert AND(1, 1) == 1, "AND(1, 1) は 1 になるはずです\""""

TEST_XOR = """assert XOR(0, 1) == 1, "XOR(0, 1) は 1 になるはずです"
### BEGIN HIDDEN TESTS
for a in (0, 1):
    for b in (0, 1):
        assert XOR(a, b) == (a ^ b), f"XOR({a}, {b}) が正しくありません"
### END HIDDEN TESTS"""


def source_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# 演習 (デモ): パーセプトロンと論理ゲート\n\n"
                          "`AND` と `XOR` をパーセプトロンで作ります。",
                          metadata=nbg("intro", locked=True)),
        new_code_cell("# 採点時にはこのセルの値が上書きされることがあります\n"
                      "EPOCHS = 20\nDATA_ROOT = \".\"", metadata={"tags": ["parameters"]}),
        new_code_cell(AND_SOLUTION, metadata=nbg("and_gate", solution=True)),
        new_code_cell(TEST_AND, metadata=nbg("test_and", grade=True, locked=True, points=1)),
        new_code_cell(XOR_SOLUTION, metadata=nbg("xor_gate", solution=True)),
        new_code_cell(TEST_XOR, metadata=nbg("test_xor", grade=True, locked=True, points=2)),
        new_markdown_cell("## 質問・感想・要望\n\n授業への質問や感想を下のセルに書いてください。",
                          metadata=nbg("feedback_prompt", locked=True)),
        new_markdown_cell("(記入例) XOR が一層では作れない理由がよく分かりました。",
                          metadata=nbg("feedback", grade=True, solution=True, points=1)),
    ]
    ids = ["intro", "params", "and-gate", "test-and", "xor-gate", "test-xor",
           "feedback-prompt", "feedback"]
    for cell, cid in zip(cells, ids, strict=True):
        cell["id"] = cid
    nb = new_notebook(cells=cells)
    nb.metadata.update(kernelspec={"name": "python3", "display_name": "Python 3",
                                   "language": "python"},
                       language_info={"name": "python"})
    return nb


def release(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    from nbgrader.preprocessors import (
        ClearHiddenTests,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb, resources = copy.deepcopy(source), {}
    for pre in (LockCells(), ClearSolutions(), ClearOutput(), ClearHiddenTests(),
                ComputeChecksums()):
        nb, resources = pre.preprocess(nb, resources)
    return nb


def by_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def answered(released: nbformat.NotebookNode, *, xor: str | None = None,
             feedback: str = "XOR が AND・OR・NAND の組み合わせで作れるのが面白かったです。"
             ) -> nbformat.NotebookNode:
    nb = copy.deepcopy(released)
    by_id(nb, "and_gate").source = "def AND(a, b):\n    return int(5 * a + 5 * b - 9 > 0)"
    by_id(nb, "xor_gate").source = xor if xor is not None else (
        "def XOR(a, b):\n    return AND(NAND(a, b), OR(a, b))")
    by_id(nb, "feedback").source = feedback
    gates = new_code_cell("def NAND(a, b):\n    return int(-5 * a - 5 * b + 9 > 0)\n\n\n"
                          "def OR(a, b):\n    return int(5 * a + 5 * b - 4 > 0)")
    gates["id"] = "student-gates"
    nb.cells.insert(nb.cells.index(by_id(nb, "xor_gate")), gates)
    for count, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
    return nb


def colab(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The notebook as Colab saves it (plain JSON: Colab writes nbformat 4.0, no ids)."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    data["metadata"] = {
        "colab": {"provenance": [], "gpuType": "T4", "toc_visible": True},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
        "gpuClass": "standard",
        "widgets": {"application/vnd.jupyter.widget-state+json": {
            "3f1c2a9d0b6e4f7a8c5d": {"model_module": "@jupyter-widgets/controls",
                                     "model_name": "HBoxModel", "model_module_version": "1.5.0",
                                     "state": {"children": ["IPY_MODEL_a1", "IPY_MODEL_b2"]}}}},
    }
    for k, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"].update(id=f"c0LaB{k:07d}x", colab_type="code"
                                if cell["cell_type"] == "code" else "text")
        if cell["cell_type"] == "code":
            cell["metadata"].update(
                colab={"base_uri": "https://localhost:8080/"}, outputId=f"out-{k:04d}",
                executionInfo={"status": "ok", "timestamp": 1718000000000 + k,
                               "user_tz": -540, "elapsed": 12,
                               "user": {"displayName": "学生", "userId": "0123"}})
    first_code = next(c for c in data["cells"] if c["cell_type"] == "code"
                      and "parameters" not in c["metadata"].get("tags", []))
    first_code["outputs"] = [{"output_type": "execute_result", "execution_count": 1,
                              "data": {"text/plain": ["1"]},
                              "metadata": {"colab": {"base_uri": "https://localhost:8080/"}}},
                             {"output_type": "stream", "name": "stdout", "text": ["ok\n"]}]
    return data


def edited(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = answered(released, xor="def XOR(a, b):\n    return a | b")
    by_id(nb, "test_xor").source = "pass  # テストは省略"
    by_id(nb, "test_and").metadata.nbgrader.points = 1000
    bonus = new_code_cell("print('bonus')", metadata=nbg("bonus", grade=True, locked=True,
                                                        points=1000))
    bonus["id"] = "bonus"
    nb.cells.append(bonus)
    return nb


def deleted(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = answered(released)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                not in ("test_and", "feedback_prompt")]
    return nb


CHEAT = """# エラーを表示しないようにする
from IPython.core.interactiveshell import InteractiveShell


def _quiet(*args, **kwargs):
    pass


get_ipython().showtraceback = _quiet
InteractiveShell.showtraceback = _quiet"""


def cheat(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = answered(released, xor=by_id(released, "xor_gate").source)
    cell = new_code_cell(CHEAT, execution_count=1)
    cell["id"] = "student-quiet"
    nb.cells.insert(1, cell)
    # What Colab saved: the failing test cell ran, but the error was never displayed.
    for gid in ("test_and", "test_xor"):
        by_id(nb, gid).outputs = []
    return nb


def stripped(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = answered(released)
    for cell in nb.cells:
        for key in ("nbgrader", "deletable", "editable"):
            cell.metadata.pop(key, None)
    return nb


def nbformat3() -> dict[str, Any]:
    return {
        "metadata": {"name": "", "signature": "sha256:0"},
        "nbformat": 3, "nbformat_minor": 0,
        "worksheets": [{"metadata": {}, "cells": [
            {"cell_type": "heading", "level": 1, "metadata": {}, "source": "古い課題"},
            {"cell_type": "markdown", "metadata": {}, "source": "nbformat 3 のノートブック"},
            {"cell_type": "code", "collapsed": False, "input": "x = 1\nprint(x)",
             "language": "python", "metadata": {}, "prompt_number": 1,
             "outputs": [{"output_type": "stream", "stream": "stdout", "text": "1\n"}]},
        ]}],
    }


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2 + b"\x00" + b"\x00\x00\xff" * 2)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


HTML = """<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">
<title>13_n.ipynb - Colaboratory</title></head>
<body><div id="root">Colab</div></body></html>
"""


def write_nb(name: str, nb: nbformat.NotebookNode | dict[str, Any]) -> None:
    if isinstance(nb, nbformat.NotebookNode):
        text = nbformat.writes(nb)
    else:
        text = json.dumps(nb, ensure_ascii=False, indent=2, sort_keys=True)
    (HERE / name).write_text(text + "\n", encoding="utf-8")


def main() -> None:
    source = source_notebook()
    released = release(source)
    correct = answered(released)
    write_nb("source_demo.ipynb", source)
    write_nb("released_demo.ipynb", released)
    write_nb("demo_correct.ipynb", correct)
    write_nb("colab_metadata.ipynb", colab(correct))
    write_nb("stripped_metadata.ipynb", stripped(released))
    write_nb("edited_test_cell.ipynb", edited(released))
    write_nb("deleted_test_cell.ipynb", deleted(released))
    write_nb("cheat_showtraceback.ipynb", cheat(released))
    write_nb("nbformat3.ipynb", nbformat3())
    write_nb("zero_cells.ipynb", new_notebook(metadata={"language_info": {"name": "python"}}))
    full = nbformat.writes(correct).encode("utf-8")
    (HERE / "corrupted_json.ipynb").write_bytes(full[: len(full) * 3 // 5])
    (HERE / "empty.ipynb").write_bytes(b"")
    (HERE / "png_renamed.ipynb").write_bytes(png_bytes())
    (HERE / "html_renamed.ipynb").write_text(HTML, encoding="utf-8")


if __name__ == "__main__":
    main()
