"""Feedback that teaches (issue 9, item 5), on fake results: titles from the manifest or
the checks' docstrings, rows grouped by question, partial credit shown as partial, the
cause of a missing name beside its question, per-check messages in the worksheet
comment, per-check columns in grades.csv, the class report in both languages."""

from __future__ import annotations

import dataclasses
import html as htmllib
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from autograder import checks
from autograder.checks.budget import ChecksBudget
from autograder.core.config import Assignment, Question, Wording, load_assignment, load_manifest
from autograder.core.errors import ConfigError
from autograder.core.results import CheckResult, Notice, Status, SubmissionResult
from autograder.engine.explain import missing_name_notices
from autograder.engine.grade_one import _dead_message
from autograder.engine.labels import ItemTitles, check_named_cells, item_titles
from autograder.export.class_report import Row, render_class_report, summarise
from autograder.export.feedback import graded_notebook, render_feedback
from autograder.export.item_states import NOT_RUN_MARKERS, ItemState, state_of
from autograder.export.rows import feedback_view
from autograder.export.worksheet_comment import MAX_CHARS, comment_html
from autograder.moodle import GradeRecord, write_grades_table

REPO = Path(__file__).resolve().parent.parent
COURSE = ["13_n", "13_h", "03_n", "03_h", "14_n", "14_h"]

TITLES = ItemTitles(
    labels={"test_and": Wording("AND の真理値表", "AND truth table"),
            "cell:test_xor": Wording("テストセル：XOR", "Test cell: XOR")},
    docs={"test_xor": "XOR は NAND・OR・AND から"},
    questions=(Question(Wording("問 3：ゲート", "Q3: gates"), ("test_and", "test_nand")),
               Question(Wording("問 4：XOR", "Q4: XOR"), ("test_xor", "cell:test_xor"))))
EXPLANATION = Notice(
    "missing_name",
    "`XOR` を定義するセル (上から 12 番目のセル `def XOR(a, b)`) の実行中にエラーが起きました:"
    " SyntaxError: expected ':'",
    "The cell that defines `XOR` (cell 12 from the top `def XOR(a, b)`) failed:"
    " SyntaxError: expected ':'", checks=("test_xor", "cell:test_xor"))


def _result(status: Status = Status.GRADED) -> SubmissionResult:
    return SubmissionResult(
        participant="1001", file="13_n.ipynb", sha256="h", status=status,
        checks=[CheckResult("test_and", 1.0, 1.0, True),
                CheckResult("test_nand", 1.0, 2.0, False, "半分だけ <b>正しい</b>"),
                CheckResult("test_xor", 0.0, 2.0, False, "`XOR` が定義されていません"),
                CheckResult("cell:test_xor", 0.0, 1.0, False,
                            "テストセル test_xor: `XOR` が定義されていません", "cell"),
                CheckResult("manual:comments", 1.0, 1.0, True, "回答がありました", "manual")],
        notices=[Notice("misnamed", "ファイル名が違います", "misnamed file"), EXPLANATION])


# ---------------------------------------------------------------- titles and questions

def test_title_from_label_then_docstring_then_name() -> None:
    assert TITLES.title("test_and", "ja") == "AND の真理値表"
    assert TITLES.title("test_and", "en") == "AND truth table"
    assert TITLES.title("test_xor", "en") == "XOR は NAND・OR・AND から"  # the docstring
    assert TITLES.title("manual:comments", "ja") == "manual:comments"


def test_groups_follow_the_questions_and_the_rest_comes_last() -> None:
    groups = TITLES.groups(_result().checks)
    assert [g.title("ja") for g in groups] == ["問 3：ゲート", "問 4：XOR", "その他"]
    assert [c.name for c in groups[0].items] == ["test_and", "test_nand"]
    assert [c.name for c in groups[2].items] == ["manual:comments"]
    assert len(ItemTitles().groups(_result().checks)) == 1  # no questions: one flat list


def test_describe_checks_collects_the_docstrings(tmp_path: Path) -> None:
    root = tmp_path / "02_h"
    (root / "tests").mkdir(parents=True)
    (root / "assignment.toml").write_text(
        '[assignment]\nid = "02_h"\ntitle = { ja = "t", en = "t" }\nlecture = 2\n'
        'level = "h"\n', encoding="utf-8")
    (root / "tests" / "test_a.py").write_text(
        'import pytest\n\ndef test_doc(submission):\n    """\n    足し算の結果\n\n'
        '    More.\n    """\n\ndef test_plain(submission):\n    pass\n\n'
        '@pytest.mark.parametrize("n", [1, 2])\ndef test_many(submission, n):\n'
        '    """n 個"""\n', encoding="utf-8")
    found = {c.name: c.doc for c in checks.describe_checks(
        assignment=load_manifest(root / "assignment.toml"))}
    assert found == {"test_doc": "足し算の結果", "test_plain": "",
                     "test_many[1]": "n 個 [1]", "test_many[2]": "n 個 [2]"}


def test_a_label_for_no_check_is_an_error_with_a_hint() -> None:
    base = load_assignment("13_n", REPO / "assignments")
    typo = dataclasses.replace(base, labels={"test_xor_truth_tabel": Wording("x", "x")})
    with pytest.raises(ConfigError) as info:
        checks.collect_checks(assignment=typo)
    assert "test_xor_truth_tabel" in info.value.message
    assert "test_xor_truth_table" in (info.value.hint or "")   # did you mean
    question = dataclasses.replace(base, labels={}, questions=(
        Question(Wording("q", "q"), ("test_nope",)),))
    with pytest.raises(ConfigError, match="questions"):
        checks.collect_checks(assignment=question)


def test_a_cell_label_must_name_a_graded_cell() -> None:
    base = load_assignment("13_n", REPO / "assignments")
    source = nbformat.read(base.source_notebook, as_version=4)
    check_named_cells(base, source)  # the course's names are all right
    for name in ("cell:test_stepp", "manual:sol_step", "cell:comments"):
        typo = dataclasses.replace(base, labels={name: Wording("x", "x")})
        with pytest.raises(ConfigError, match=name):
            check_named_cells(typo, source)


@pytest.mark.parametrize("assignment_id", COURSE)
def test_every_item_of_the_course_has_titles_and_a_question(assignment_id: str) -> None:
    from autograder.engine.zero_catalog import collect_catalog

    assignment = load_assignment(assignment_id, REPO / "assignments")
    names = [c.name for c in collect_catalog(assignment).items]
    assert names and all(n in assignment.labels for n in names), \
        [n for n in names if n not in assignment.labels]
    for label in assignment.labels.values():
        assert label.ja != label.en and label.ja and label.en
    listed = [n for q in assignment.questions for n in q.checks]
    assert sorted(listed) == sorted(names)


MANIFEST = """\
[assignment]
id = "14_n"
title = { ja = "畳み込み", en = "Convolution" }
lecture = 14
level = "n"
"""


@pytest.mark.parametrize(("tail", "words"), [
    ('[labels]\ntest_a = "A"\n', "[labels] test_a"),
    ("[labels]\ntest_a = { }\n", "needs ja or en"),
    ('[labels]\ntest_a = { ja = "a", fr = "b" }\n', "not a known key"),
    ('[labels]\ntest_a = { ja = "a\\nb" }\n', "one line"),
    ('[[questions]]\ntitle = { ja = "q" }\nchecks = []\n', "non-empty"),
    ('[[questions]]\ntitle = { ja = "q" }\nchecks = ["a"]\n'
     '[[questions]]\ntitle = { ja = "r" }\nchecks = ["a"]\n', "already in question #1"),
    ('[questions]\nq = 1\n', "[[questions]]"),
])
def test_manifest_labels_and_questions_are_validated(tmp_path: Path, tail: str, words: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")  # the words below are the English ones
    path = tmp_path / "14_n" / "assignment.toml"
    path.parent.mkdir()
    path.write_text(MANIFEST + tail, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert words in info.value.render() and info.value.hint


def test_a_label_in_one_language_shows_in_both(tmp_path: Path) -> None:
    path = tmp_path / "14_n" / "assignment.toml"
    path.parent.mkdir()
    path.write_text(MANIFEST + '[labels]\ntest_a = { ja = "あ" }\n', encoding="utf-8")
    assert load_manifest(path).labels["test_a"] == Wording("あ", "あ")


# ---------------------------------------------------------------- states

def test_partial_credit_is_partial_never_failed() -> None:
    assert state_of(CheckResult("a", 1.0, 2.0, False)) is ItemState.PARTIAL
    assert state_of(CheckResult("a", 2.0, 2.0, True)) is ItemState.PASSED
    assert state_of(CheckResult("a", 0.0, 2.0, False, "wrong")) is ItemState.FAILED
    assert state_of(CheckResult("a", 0.0, 0.0, True)) is ItemState.PASSED


def test_not_run_comes_from_the_status_or_the_graders_own_words() -> None:
    zero = CheckResult("a", 0.0, 1.0, False, "no file")
    assert state_of(zero, Status.MISSING) is ItemState.NOT_RUN
    assert state_of(zero, Status.GRADED) is ItemState.FAILED
    for lang in ("ja", "en"):
        for text in (ChecksBudget(30).message(lang), _dead_message(lang),
                     checks.runner.tr(lang, ja="実行されませんでした",
                                      en="the check did not run")):
            assert any(m in text for m in NOT_RUN_MARKERS), text
            assert state_of(dataclasses.replace(zero, message=text)) is ItemState.NOT_RUN


@dataclasses.dataclass(frozen=True)
class _Pending(CheckResult):
    needs_review: bool = True


def test_a_manual_cell_waiting_for_a_person_needs_review() -> None:
    pending = _Pending("manual:essay", 0.0, 3.0, False, "", "manual")
    assert state_of(pending) is ItemState.NEEDS_REVIEW
    result = _result()
    result.checks.append(pending)
    html = render_feedback(result, assignment_title="t", participant="p", lang="ja",
                           titles=TITLES)
    assert "採点待ち" in html
    assert "needs review" in comment_html(result, "en", TITLES)


# ---------------------------------------------------------------- the reports

def test_feedback_html_groups_titles_partial_and_the_cause_ja() -> None:
    html = render_feedback(_result(), assignment_title="論理ゲート", participant="山田",
                           lang="ja", titles=TITLES)
    assert html.index("問 3：ゲート") < html.index("問 4：XOR") < html.index("その他")
    assert "AND の真理値表" in html and "テストセル：XOR" in html
    row = html[html.index("test_nand") - 400: html.index("test_nand") + 400]
    assert "部分点" in row and "不合格" not in row                # 1/2 is partial
    assert "1 / 2" in row and "&lt;b&gt;正しい&lt;/b&gt;" in row   # escaped message
    assert "<code>XOR</code> が定義されていません" in html
    cause = html.index("SyntaxError: expected &#39;:&#39;")
    assert html.index("問 4：XOR") < cause < html.index("その他")  # beside its question
    assert html.count("SyntaxError") == 1                          # once, not also on top
    assert "ファイル名が違います" in html


def test_feedback_html_in_english() -> None:
    html = render_feedback(_result(), assignment_title="Gates", participant="p", lang="en",
                           titles=TITLES)
    for words in ("Q3: gates", "AND truth table", "partial", "passed", "failed", "Why",
                  "Other"):
        assert htmllib.escape(words) in html, words
    assert "The cell that defines <code>XOR</code>" in html  # `names` shown as code


def test_graded_notebook_summary_is_grouped_with_states() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("assert XOR(0, 1) == 1")
    cell.metadata["nbgrader"] = {"grade_id": "test_xor", "grade": True, "solution": False}
    nb.cells = [cell]
    result = _result()
    result.executed_notebook = nbformat.writes(nb)
    out = nbformat.reads(graded_notebook(result, assignment_title="t", lang="ja",
                                         titles=TITLES), as_version=4)
    summary = out.cells[0].source
    assert "### 問 3：ゲート (2/3)" in summary and "△ 部分点" in summary
    assert "> **原因**: `XOR` を定義するセル" in summary
    assert "&lt;b&gt;" in summary
    assert out.cells[2].source.startswith("× 不合格 **テストセル：XOR**")


def test_worksheet_comment_has_titles_states_and_messages() -> None:
    text = comment_html(_result(), "ja", TITLES)
    assert text.startswith("<p>自動採点: <strong>3 / 7</strong>")
    assert "<p><strong>問 3：ゲート</strong> 2/3</p>" in text
    assert "○ AND の真理値表 1/1" in text
    assert "△ test_nand 1/2 (部分点) — 半分だけ &lt;b&gt;" in text
    assert "<em>原因</em>: `XOR` を定義するセル" in text
    assert "✔" not in text and "✘" not in text
    assert "<b>" not in text and "<script" not in text


def test_worksheet_comment_stays_within_its_limit() -> None:
    many = [CheckResult(f"test_{i}", 0.0, 1.0, False, "とても長い説明です。" * 40)
            for i in range(300)]
    result = SubmissionResult("1", "f", "h", Status.GRADED, checks=many,
                              notices=[Notice("x", "注意" * 500, "note" * 500)])
    text = comment_html(result, "ja", None)
    assert len(text) <= MAX_CHARS and text.startswith("<p>自動採点")
    short = comment_html(_result(), "en", TITLES)
    assert "AND truth table 1/1" in short  # a short comment keeps every row


def test_grades_csv_has_a_column_per_check(tmp_path: Path) -> None:
    records = [GradeRecord("1", "A", 3.0, 7.0, "graded",
                           items=(("test_and", 1.0), ("test_nand", 0.5))),
               GradeRecord("2", "B", None, 7.0, "missing")]
    table = pd.read_csv(write_grades_table(records, tmp_path / "grades.csv"),
                        encoding="utf-8-sig")
    assert list(table.columns)[-2:] == ["test_and", "test_nand"]
    assert table["test_nand"].tolist()[0] == 0.5 and pd.isna(table["test_nand"][1])


def _assignment() -> Assignment:
    return dataclasses.replace(load_assignment("13_n", REPO / "assignments"),
                               labels=TITLES.labels, questions=TITLES.questions)


@pytest.mark.parametrize(("lang", "words"), [
    ("ja", ["項目ごとの合格率", "部分点", "平均得点率", "問 3：ゲート", "AND の真理値表"]),
    ("en", ["Pass rate per item", "partial", "mean share of points", "Q3: gates",
            "AND truth table"]),
])
def test_class_report_by_question_in_both_languages(lang: str, words: list[str]) -> None:
    rows = [Row("1", "A", _result()), Row("2", "B", _result(Status.MISSING))]
    html = render_class_report(summarise(rows), assignment=_assignment(),
                               lang=lang, titles=TITLES)  # type: ignore[arg-type]
    for word in words:
        assert word in html, word


def test_item_titles_for_the_course_use_the_notebook_too() -> None:
    titles = item_titles(load_assignment("13_n", REPO / "assignments"),
                         check_docs={})
    assert titles.title("cell:test_step", "en") == "Test cell: step"
    no_labels = dataclasses.replace(load_assignment("13_n", REPO / "assignments"), labels={})
    bare = item_titles(no_labels, check_docs={})
    assert bare.title("cell:test_step", "ja") == "テスト：step"          # its first comment
    assert bare.title("manual:comments", "ja") == "6. 質問・感想・要望"   # the heading above


# ---------------------------------------------------------------- the cause of a missing name

def _cell(kind: str, text: str, gid: str | None = None, *, grade: bool = False,
          solution: bool = False, record: dict[str, str] | None = None) -> nbformat.NotebookNode:
    cell = (nbformat.v4.new_code_cell(text) if kind == "code"
            else nbformat.v4.new_markdown_cell(text))
    if gid is not None:
        cell.metadata["nbgrader"] = {"grade_id": gid, "grade": grade, "solution": solution,
                                     "locked": not solution, "schema_version": 3,
                                     **({"points": 1} if grade else {})}
    if record is not None:
        cell.metadata["autograder"] = record
    return cell


def _source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("markdown", "## 1. ゲート"),
        _cell("code", "import torch"),
        _cell("code", "def XOR(a, b):\n    ### BEGIN SOLUTION\n    return a ^ b\n"
                      "    ### END SOLUTION", "sol_xor", solution=True),
        _cell("code", "assert XOR(0, 1) == 1\n### BEGIN HIDDEN TESTS\nassert XOR(1, 1) == 0\n"
                      "### END HIDDEN TESTS", "test_xor", grade=True)]
    return nb


OK = {"status": "ok", "ename": "", "evalue": ""}


def _executed(xor: str, xor_record: dict[str, str], *, before: dict[str, str] | None = None
              ) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("markdown", "## 1. ゲート"),
        _cell("code", "import torch\nhelper = torch.ones(", record=before or OK),
        _cell("code", xor, "sol_xor", solution=True, record=xor_record),
        _cell("code", "assert XOR(0, 1) == 1", "test_xor", grade=True,
              record={"status": "error", "ename": "NameError",
                      "evalue": "secret test text name 'XOR' is not defined"})]
    return nb


FAILED = [CheckResult("test_xor", 0.0, 2.0, False, "`XOR` が定義されていません"),
          CheckResult("test_and", 1.0, 1.0, True)]


def test_a_syntax_error_in_the_defining_cell_is_named() -> None:
    nb = _executed("def XOR(a, b)\n    return a ^ b",
                   {"status": "error", "ename": "SyntaxError", "evalue": "expected ':'"})
    [notice] = missing_name_notices(nb, _source(), ["XOR"], FAILED)
    assert notice.code == "missing_name" and notice.checks == ("test_xor",)
    assert notice.message_ja == ("`XOR` を定義するセル (上から 3 番目のセル `def XOR(a, b)`)"
                                 " の実行中にエラーが起きました: SyntaxError: expected ':'")
    assert "cell 3 from the top" in notice.message_en
    assert "secret" not in notice.message_ja + notice.message_en  # never a test cell's


def test_an_earlier_error_is_named_too() -> None:
    nb = _executed("def XOR(a, b):\n    return helper", {"status": "ok"},
                   before={"status": "error", "ename": "SyntaxError",
                           "evalue": "'(' was never closed\x1b[2J"})
    [notice] = missing_name_notices(nb, _source(), ["XOR"], FAILED)
    assert "エラーなく実行されましたが" in notice.message_ja
    assert "上から 2 番目のセル `import torch` です: SyntaxError: '(' was never closed" \
        in notice.message_ja
    assert "\x1b" not in notice.message_ja


def test_a_deleted_cell_and_a_name_no_check_missed() -> None:
    nb = _executed("x = 1", OK)
    nb.cells[2].metadata = {}  # the student pasted over the solution cell
    [notice] = missing_name_notices(nb, _source(), ["XOR", "AND"], FAILED)
    assert notice.message_en.startswith("No cell of the notebook defines `XOR`.")
    assert missing_name_notices(nb, _source(), ["AND"], FAILED) == []  # AND passed


def test_the_notice_survives_the_gradebook(tmp_path: Path) -> None:
    from autograder.store.gradebook import Gradebook

    with Gradebook(tmp_path / "gb.sqlite") as gb:
        sid = gb.add_submission(assignment="13_n", participant="1", file="f", sha256="h",
                                content=b"{}")
        gb.save_result(sid, _result())
        back = gb.result(sid)
    assert back is not None and EXPLANATION in back.notices
    assert feedback_view(back, TITLES, "ja").groups[1].explanations


# ---------------------------------------------------------------- missing datasets

def test_a_missing_dataset_gets_the_command_that_fixes_it(tmp_path: Path) -> None:
    from autograder.datasets.advice import fix_hint, missing_datasets, offline_param

    assert [d.name for d in missing_datasets(["cifar10"], cache=tmp_path)] == ["cifar10"]
    source = nbformat.read(REPO / "assignments" / "14_n" / "14_n.ipynb", as_version=4)
    offline = offline_param(source)
    assert offline == ("DATASET", "synthetic")
    info = missing_datasets(["cifar10"], cache=tmp_path)[0]
    text = fix_hint(info, cache=tmp_path, offline_param=offline, lang="en")
    assert f"autograder data --cache {tmp_path} import cifar-10-python.tar.gz" in text
    assert "--param DATASET=synthetic" in text
    mnist = nbformat.read(REPO / "assignments" / "03_n" / "03_n.ipynb", as_version=4)
    assert offline_param(mnist) is None


def test_code_spans_are_escaped_before_they_become_code() -> None:
    from autograder.export.feedback import code_spans

    assert str(code_spans("`<img src=x onerror=1>` と `a`")) == \
        "<code>&lt;img src=x onerror=1&gt;</code> と <code>a</code>"
    assert str(code_spans("`</code><script>`")) == "<code>&lt;/code&gt;&lt;script&gt;</code>"


def test_odd_metadata_explains_what_it_can_and_never_raises() -> None:
    nb = _executed("def XOR(a, b)\n    return a ^ b",
                   {"status": "error", "ename": "SyntaxError", "evalue": "expected ':'"})
    nb.cells[1].metadata = {"nbgrader": ["not", "a", "dict"], "autograder": "forged"}
    nb.cells[1].source = ["not", "text"]
    [notice] = missing_name_notices(nb, _source(), ["XOR"], FAILED)
    assert "SyntaxError" in notice.message_en
    assert missing_name_notices(None, _source(), ["XOR"], FAILED) == []  # logged, not raised


def test_export_titles_fall_back_to_the_manifest(tmp_path: Path) -> None:
    from autograder.engine.labels import titles_for_export

    base = load_assignment("13_n", REPO / "assignments")
    broken = dataclasses.replace(base, labels={"test_gone": Wording("消えた", "gone"),
                                               "test_and": Wording("AND", "AND")})
    titles, notices = titles_for_export(broken)
    assert titles.title("test_and", "en") == "AND" and "test_gone" in notices[0].message_en
    assert titles_for_export(base)[1] == []


def test_a_submission_that_never_ran_says_why_once() -> None:
    result = SubmissionResult("1", "14_n.ipynb", "h", Status.INVALID, reason="JSON ではありません",
                              checks=[CheckResult(f"test_{i}", 0.0, 1.0, False,
                                                  "JSON ではありません") for i in range(20)])
    text = comment_html(result, "ja", None)
    assert text.count("JSON ではありません") == 1 and "test_3" not in text
    html = render_feedback(result, assignment_title="t", participant="p", lang="ja")
    assert html.count("JSON ではありません") == 1 and html.count("未実行") == 20


@pytest.mark.parametrize(("lang", "review", "header"), [
    ("ja", "手で採点する解答が採点待ちです (得点は暫定)", "(1 件は採点待ちの解答があり暫定)"),
    ("en", "an answer waits for a person (the score is provisional)",
     "(1 with answers waiting for a person: provisional)"),
])
def test_the_class_report_says_which_scores_are_provisional(lang: str, review: str,
                                                             header: str) -> None:
    waiting = _result()
    waiting.checks.append(_Pending("manual:essay", 0.0, 3.0, False, "", "manual"))
    assert waiting.provisional
    rows = [Row("1", "A", waiting), Row("2", "B", _result())]
    summary = summarise(rows)
    said = summary.review(lang)  # type: ignore[arg-type]
    assert ("A (1)", review) in said and ("B (2)", review) not in said
    html = render_class_report(summary, assignment=_assignment(), lang=lang,  # type: ignore[arg-type]
                               titles=TITLES)
    assert header in html and review in html
    assert "暫定" not in render_class_report(summarise(rows[1:]), assignment=_assignment(),
                                           lang="ja", titles=TITLES).split("<h2>")[0]
