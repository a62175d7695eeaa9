"""Reading untrusted notebooks: sample files and crafted bytes → notebook or clear refusal."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.core.errors import InvalidNotebook, NotebookError
from autograder.core.notebooks import (
    NotebookReadError,
    ReadLimits,
    read_notebook,
    read_notebook_bytes,
)

NB = Path(__file__).parent / "notebooks"


def minimal(cells: list[dict] | None = None, **top: object) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells or [], **top}


def as_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(("name", "cells", "original", "notices"), [
    ("demo_correct.ipynb", 9, (4, 5), []),
    ("released_demo.ipynb", 8, (4, 5), []),
    ("source_demo.ipynb", 8, (4, 5), []),
    ("colab_metadata.ipynb", 9, (4, 0), []),
    ("cheat_showtraceback.ipynb", 10, (4, 5), []),
    ("edited_test_cell.ipynb", 10, (4, 5), []),
    ("deleted_test_cell.ipynb", 7, (4, 5), []),
    ("stripped_metadata.ipynb", 9, (4, 5), []),
    ("zero_cells.ipynb", 0, (4, 5), []),
    ("nbformat3.ipynb", 3, (3, 0), ["converted_nbformat3"]),
])
def test_readable_samples(name: str, cells: int, original: tuple[int, int],
                          notices: list[str]) -> None:
    read = read_notebook(NB / name)
    assert len(read.nb.cells) == cells
    assert read.original_nbformat == original
    assert [n.code for n in read.notices] == notices
    assert (read.nb.nbformat, read.nb.nbformat_minor) == (4, 5)
    nbformat.validate(read.nb)
    ids = [c.id for c in read.nb.cells]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("name", "code", "en_words"), [
    ("empty.ipynb", "empty", "empty"),
    ("png_renamed.ipynb", "binary", "PNG"),
    ("html_renamed.ipynb", "html", "HTML"),
    ("corrupted_json.ipynb", "corrupted_json", "line"),
])
def test_invalid_samples(name: str, code: str, en_words: str) -> None:
    with pytest.raises(NotebookReadError) as info:
        read_notebook(NB / name, lang="en")
    assert info.value.code == code
    assert en_words in info.value.message
    assert info.value.where == str(NB / name)
    assert isinstance(info.value, InvalidNotebook)
    assert info.value.hint


BAD_BYTES = [
    ("latin-1 text", b'{"nbformat": 4, "cells": [], "x": "caf\xe9"}', "not_utf8"),
    ("nul bytes", b"\x00\x01\x02\x03notebook", "binary"),
    ("zip (docx)", b"PK\x03\x04rest-of-zip", "binary"),
    ("only whitespace", b"  \n\t ", "empty"),
    ("python script", b"import torch\nprint(torch.__version__)\n", "not_json"),
    ("json array", b"[1, 2, 3]", "not_notebook"),
    ("json object", b'{"name": "not a notebook"}', "not_notebook"),
    ("version as text", as_bytes(minimal(nbformat="4")), "not_notebook"),
    ("bool version", as_bytes(minimal(nbformat=True)), "not_notebook"),
    ("v4 without cells", b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}}', "not_notebook"),
    ("nbformat 2", as_bytes(minimal(nbformat=2)), "unsupported_version"),
    ("nbformat 5", as_bytes(minimal(nbformat=5)), "unsupported_version"),
    ("unknown cell type", as_bytes(minimal([{"cell_type": "cody", "source": ""}])), "schema"),
    ("cell is a number", as_bytes(minimal([3])), "schema"),
    ("output without name",
     as_bytes(minimal([{"cell_type": "code", "source": "", "outputs": [
         {"output_type": "stream", "text": "x"}]}])), "schema"),
    ("source list of numbers",
     as_bytes(minimal([{"cell_type": "markdown", "source": [1, 2]}])), "schema"),
    ("huge integer literal", b'{"nbformat": 4, "x": ' + b"9" * 5000 + b"}", "corrupted_json"),
    ("nesting beyond the json parser", b'{"nbformat": 4, "cells": ' + b"[" * 100_000,
     "too_complex"),
    ("deep but parseable", as_bytes(minimal(metadata={"a": json.loads("[" * 150 + "]" * 150)})),
     "too_complex"),
]


@pytest.mark.parametrize(("data", "code"), [(d, c) for _, d, c in BAD_BYTES],
                         ids=[name for name, _, _ in BAD_BYTES])
def test_refused_bytes(data: bytes, code: str) -> None:
    with pytest.raises(NotebookReadError) as info:
        read_notebook_bytes(data, name="13_n.ipynb")
    assert info.value.code == code
    assert info.value.where == "13_n.ipynb"


def test_corrupted_json_says_where_it_breaks() -> None:
    data = b'{\n "nbformat": 4,\n "cells": [\n  {"cell_type": "code",,}\n ]\n}'
    with pytest.raises(NotebookReadError) as en:
        read_notebook_bytes(data, name="a.ipynb", lang="en")
    assert "line 4, column 24" in en.value.message
    with pytest.raises(NotebookReadError) as ja:
        read_notebook_bytes(data, name="a.ipynb", lang="ja")
    assert "4 行 24 列目" in ja.value.message
    assert "JSON が壊れています" in ja.value.message


def test_limits_are_configurable() -> None:
    cells = [{"cell_type": "raw", "source": str(i), "metadata": {}} for i in range(50)]
    data = as_bytes(minimal(cells))
    assert len(read_notebook_bytes(data, name="n").nb.cells) == 50
    refusals = [(ReadLimits(max_cells=49), "too_complex"),
                (ReadLimits(max_bytes=len(data) - 1), "too_large"),
                (ReadLimits(max_containers=20), "too_complex"),
                (ReadLimits(max_depth=3), "too_complex")]
    for limits, code in refusals:
        with pytest.raises(NotebookReadError) as info:
            read_notebook_bytes(data, name="n", limits=limits)
        assert info.value.code == code, limits


def test_too_large_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * 5000 + as_bytes(minimal()))
    with pytest.raises(NotebookReadError) as info:
        read_notebook(path, limits=ReadLimits(max_bytes=1000), lang="ja")
    assert info.value.code == "too_large"
    assert "大きすぎます" in info.value.message


def test_colab_notebook_keeps_everything_the_student_saved() -> None:
    raw = json.loads((NB / "colab_metadata.ipynb").read_text(encoding="utf-8"))
    nb = read_notebook(NB / "colab_metadata.ipynb").nb
    assert nb.metadata == raw["metadata"]
    for got, want in zip(nb.cells, raw["cells"], strict=True):
        assert got.source == "".join(want["source"])
        assert got.metadata == want["metadata"]
        if want["cell_type"] == "code":
            assert len(got.outputs) == len(want["outputs"])
    first = next(c for c in nb.cells if c.get("outputs"))
    assert first.outputs[0].metadata["colab"] == {"base_uri": "https://localhost:8080/"}
    assert all(c.metadata["executionInfo"]["status"] == "ok"
               for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize(("ids", "minor"), [
    (["a", "a", "b"], 5),               # duplicates
    ([None, None, None], 5),            # missing in 4.5
    (["bad id!", "x" * 65, "ok"], 5),   # invalid characters / too long
    ([None, None, None], 4),            # 4.4 has no ids at all
    (["x", None, "x"], 2),
])
def test_cell_ids_are_repaired(ids: list[str | None], minor: int) -> None:
    cells = [{"cell_type": "markdown", "source": f"cell {i}", "metadata": {}}
             for i in range(len(ids))]
    for cell, cid in zip(cells, ids, strict=True):
        if cid is not None:
            cell["id"] = cid
    nb = read_notebook_bytes(as_bytes(minimal(cells, nbformat_minor=minor)), name="n").nb
    got = [c.id for c in nb.cells]
    assert len(set(got)) == 3
    assert [c.source for c in nb.cells] == ["cell 0", "cell 1", "cell 2"]
    if "ok" in ids:
        assert got[2] == "ok"
    nbformat.validate(nb)


def test_missing_minor_version_is_read_as_4_0() -> None:
    data = b'{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "raw", "source": "r"}]}'
    read = read_notebook_bytes(data, name="n")
    assert read.original_nbformat == (4, 0) and read.nb.cells[0].source == "r"


def test_future_minor_and_tool_metadata_are_tolerated() -> None:
    future = minimal([{"id": "a", "cell_type": "code", "source": "1", "metadata": {},
                       "outputs": [], "execution_count": None, "newfield": 1}],
                     nbformat_minor=9)
    assert read_notebook_bytes(as_bytes(future), name="n").nb.cells[0].source == "1"
    odd = minimal([{"cell_type": "markdown", "source": "# 見出し", "metadata": {},
                    "outputs": [], "execution_count": 3},
                   {"cell_type": "code", "source": "x = 1"}],
                  metadata={"kernelspec": {"name": "python3"}, "colab": {"provenance": []}})
    nb = read_notebook_bytes(as_bytes(odd), name="n").nb
    assert [c.source for c in nb.cells] == ["# 見出し", "x = 1"]
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert nb.metadata == {"colab": {"provenance": []}}  # the broken kernelspec went
    nbformat.validate(nb)


def test_utf8_bom_and_lone_surrogates() -> None:
    data = b"\xef\xbb\xbf" + as_bytes(minimal([{"cell_type": "markdown", "metadata": {},
                                                "source": "日本語"}]))
    assert read_notebook_bytes(data, name="n").nb.cells[0].source == "日本語"
    text = '{"nbformat": 4, "nbformat_minor": 5, "metadata": {"\\udc80k": 1}, "cells": [' \
           '{"cell_type": "markdown", "metadata": {}, "source": "a\\ud800b \\ud83d\\ude00"}]}'
    nb = read_notebook_bytes(text.encode(), name="n").nb
    assert nb.cells[0].source == "a\ufffdb \U0001f600"
    assert nb.metadata == {"\ufffdk": 1}
    nbformat.writes(nb).encode("utf-8")  # writable again


def test_nbformat3_is_converted_with_its_content() -> None:
    read = read_notebook(NB / "nbformat3.ipynb", lang="ja")
    heading, text, code = read.nb.cells
    assert (heading.cell_type, heading.source) == ("markdown", "# 古い課題")
    assert text.source == "nbformat 3 のノートブック"
    assert (code.source, code.execution_count) == ("x = 1\nprint(x)", 1)
    assert code.outputs[0].name == "stdout" and code.outputs[0].text == "1\n"
    assert read.converted
    assert "nbformat 3" in read.notices[0].text("ja")


def test_messages_are_japanese_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOGRADER_LANG", raising=False)
    with pytest.raises(NotebookReadError) as info:
        read_notebook(NB / "png_renamed.ipynb")
    assert info.value.message == "ノートブックではなく PNG ファイルです"
    assert "Colab" in (info.value.hint or "")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unopenable_path_is_a_notebook_error_not_invalid(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.ipynb"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(NotebookError) as info:
        read_notebook(path)
    assert not isinstance(info.value, InvalidNotebook)
    assert info.value.where == str(path)
