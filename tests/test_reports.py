"""Feedback and class reports: self-contained, escaped, Japanese by default."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import nbformat
import pytest

from autograder.core.config import parse_manifest
from autograder.core.results import CheckResult, Notice, Status, SubmissionResult
from autograder.export.class_report import Row, render_class_report, summarise
from autograder.export.feedback import graded_notebook, notebook_figures, render_feedback
from autograder.export.similarity import similar_pairs


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _executed(code: str = "x = 1") -> str:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": _png()}),
        nbformat.v4.new_output("display_data", data={
            "text/html": "<script>alert('x')</script>",
            "image/png": base64.b64encode(b"<svg onload=alert(1)>").decode()}),
    ]
    nb.cells = [cell]
    return str(nbformat.writes(nb))


def _result(score: float = 2.0, code: str = "x = 1", status: Status = Status.GRADED,
            participant: str = "1234567") -> SubmissionResult:
    return SubmissionResult(
        participant=participant, file="14_n.ipynb", sha256="h", status=status,
        checks=[CheckResult("test_conv2d", score, 2.0, score == 2.0,
                            "<b>411</b> になるはずです"),
                CheckResult("test_accuracy", 1.0, 1.0, True, "ok", metric=0.91)],
        notices=[Notice("misnamed", "ファイル名が違います", "misnamed file")],
        exec_seconds=12.5, executed_notebook=_executed(code))


def test_feedback_is_self_contained_escaped_and_japanese() -> None:
    html = render_feedback(_result(), assignment_title="畳み込み", participant="山田 太郎",
                           lang="ja")
    assert "採点結果" in html and "山田 太郎" in html and "ファイル名が違います" in html
    assert "&lt;b&gt;411&lt;/b&gt;" in html            # messages are escaped
    assert "<script>" not in html and "onload" not in html  # only verified PNGs embedded
    assert html.count("data:image/png;base64,") == 1
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert 'name="viewport"' in html


UNSAFE = ["\u202e", "\u2066", "\u200b", "\ufeff", "\x1b", "\x00"]


def test_feedback_strips_bidi_invisible_and_control_characters() -> None:
    res = _result()
    res.checks[0] = CheckResult("test_conv2d", 0.0, 2.0, False,
                                "出力 \u202egnp.exe\u202c \x1b[2J \u200bゼロ幅\ufeff")
    res.notices.append(Notice("x", "名前\u2066逆\u2069 \x00", "name"))
    html = render_feedback(res, assignment_title="畳み込み",
                           participant="山田\u202e 太郎\ufeff\x1b[31m", lang="ja")
    notebook = graded_notebook(res, assignment_title="畳み込み", lang="ja")
    for text in (html, notebook):
        assert not [c for c in UNSAFE if c in text]
    assert "山田 太郎" in html and "ゼロ幅" in html


def test_graded_notebook_puts_each_test_cells_result_after_it() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("assert True\n### BEGIN HIDDEN TESTS\nassert 1\n"
                                     "### END HIDDEN TESTS")
    cell.metadata["nbgrader"] = {"grade_id": "test_a", "grade": True, "solution": False}
    nb.cells = [cell]
    res = _result()
    res.executed_notebook = nbformat.writes(nb)
    res.checks.append(CheckResult("cell:test_a", 1.0, 1.0, True, "合格", "cell"))
    out = nbformat.reads(graded_notebook(res, assignment_title="t", lang="ja"), as_version=4)
    assert [c.cell_type for c in out.cells] == ["markdown", "code", "markdown"]
    assert "test_a" in out.cells[2].source and "HIDDEN" not in out.cells[1].source


def test_feedback_in_english() -> None:
    html = render_feedback(_result(), assignment_title="Conv", participant="p", lang="en")
    assert "Grading feedback" in html and "passed" in html


def test_figures_only_real_png() -> None:
    figs = notebook_figures(_executed())
    assert len(figs) == 1
    assert notebook_figures("{not json") == []


def test_graded_notebook_differs_and_has_summary() -> None:
    res = _result()
    out = graded_notebook(res, assignment_title="畳み込み", lang="ja")
    nb = nbformat.reads(out, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "採点結果" in nb.cells[0].source
    assert out != res.executed_notebook


_COPY_A = """
def conv2d(x, k, stride=1, padding=0):
    H, W = x.shape
    kh, kw = k.shape
    out = torch.zeros((H - kh) // stride + 1, (W - kw) // stride + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i*stride:i*stride+kh, j*stride:j*stride+kw] * k).sum()
    return out
"""
_COPY_B = _COPY_A.replace("out", "result").replace("H", "rows").replace("W", "cols")
_OTHER = """
def conv2d(x, k, stride=1, padding=0):
    patches = torch.nn.functional.unfold(x[None, None], k.shape, stride=stride)
    return (k.flatten() @ patches[0]).reshape(-1, 3)
"""


@pytest.mark.parametrize(("a", "b", "flagged"), [
    (_COPY_A, _COPY_B, True),     # renamed variables do not hide a copy
    (_COPY_A, _OTHER, False),     # a different solution is not flagged
])
def test_similarity(a: str, b: str, flagged: bool) -> None:
    pairs = similar_pairs({"s1": a, "s2": b})
    assert bool(pairs) is flagged


def test_template_code_is_not_similarity(tmp_path: Path) -> None:
    assert similar_pairs({"s1": _COPY_A, "s2": _COPY_A}, template=_COPY_A) == []


def test_class_report(tmp_path: Path) -> None:
    manifest = tmp_path / "14_n" / "assignment.toml"
    manifest.parent.mkdir()
    data = {"assignment": {"id": "14_n", "title": {"ja": "畳み込み", "en": "Conv"},
                           "lecture": 14, "level": "n"}, "thresholds": {"accuracy": 0.5}}
    assignment = parse_manifest(manifest, data)
    rows = [Row("1", "山田 太郎", _result(2.0, _COPY_A, participant="1")),
            Row("2", "佐藤 花子", _result(0.0, _COPY_B, participant="2")),
            Row("3", "", _result(0.0, "", Status.TIMEOUT, participant="3"))]
    html = render_class_report(summarise(rows), assignment=assignment, lang="ja")
    assert "クラスレポート" in html and "要確認" in html
    assert "山田 太郎 (1) ↔ 佐藤 花子 (2)" in html  # near-identical pair listed
    assert "時間切れ" in html                         # the time-out needs a look
    assert html.count("data:image/png;base64,") >= 4
    json.dumps(html)  # plain text, embeddable
