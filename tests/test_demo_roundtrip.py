"""The Moodle round trip end to end (``autograder demo``): zips in, worksheet and feedback
zip out, both passing Moodle's own upload rules."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest

from autograder.cli.demo import GROUP, SAMPLES, demo
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.moodle import moodle_feedback_match
from autograder.store.gradebook import Gradebook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

EXPECTED_STATUS = {"correct": "graded", "partial": "graded", "broken": "graded",
                   "hostile": "killed", "py": "graded"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    result = demo(out=out, jobs=2, lang="ja")
    return {"out": out, "result": result}


def _rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff"), "Moodle's worksheet keeps its BOM"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_every_participant_accounted_for_once(run: dict[str, Any]) -> None:
    with Gradebook(run["out"] / "gradebook.sqlite") as gb:
        stored = gb.latest_submissions("13_n")
        results = {s.participant: gb.result(s.id) for s in stored}
    submitted = {str(s.participant_id) for s in SAMPLES if s.kind != "missing"}
    assert set(results) == submitted | {f"group-{GROUP[1]}"}
    for sample in SAMPLES:
        if sample.kind == "missing":
            continue
        res = results[str(sample.participant_id)]
        assert res is not None and res.status.value == EXPECTED_STATUS[sample.kind]
    by_id = {s.participant_id: results[str(s.participant_id)] for s in SAMPLES
             if s.kind != "missing"}
    assert by_id[1001].score == by_id[1001].max_score          # correct
    assert 0 < by_id[1002].score < by_id[1002].max_score       # partially correct
    assert {n.code for n in by_id[1005].notices} >= {"misnamed"}
    assert {n.code for n in by_id[1006].notices} >= {"converted_py"}


def test_worksheet_passes_moodles_upload_and_only_grade_and_feedback_change(
        run: dict[str, Any]) -> None:
    original = _rows(next((run["out"] / "moodle").glob("Grades-*.csv")).read_bytes())
    filled = _rows((run["out"] / "worksheet.csv").read_bytes())
    header = filled[0]
    assert header == original[0]
    assert all(len(r) == len(header) for r in filled), "same field count on every row"
    for required in ("Identifier", "Grade", "Last modified (grade)"):
        assert required in header
    grade, feedback = header.index("Grade"), header.index("Feedback comments")
    maximum = header.index("Maximum Grade")
    assert len(filled) == len(original)
    for before, after in zip(original[1:], filled[1:], strict=True):
        assert after[0].startswith("Participant ") and after[0][12:].isdigit()
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            if i not in (grade, feedback):
                assert a == b, f"column {header[i]} changed"
        if after[grade]:
            assert 0 <= float(after[grade]) <= float(after[maximum])
    grades = {row[0]: row[grade] for row in filled[1:]}
    assert grades["Participant 1001"] == "100.00"
    assert grades["Participant 1007"] == ""  # no submission: left empty
    for pid, _, _ in GROUP[2]:  # a group's grade reaches every member's row
        assert grades[f"Participant {pid}"] == "100.00"


def test_feedback_zip_paths_match_moodles_rule(run: dict[str, Any]) -> None:
    with zipfile.ZipFile(run["out"] / "feedback.zip") as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert all(i.flag_bits & 0x800 for i in infos), "UTF-8 flag on every name"
        submitted = {s.participant_id for s in SAMPLES if s.kind != "missing"}
        matched = set()
        for name in names:
            match = moodle_feedback_match(name)
            assert match is not None, name
            assert match[1] == "assignsubmission_file"
            matched.add(str(match[0]))
            assert match[2] in ("13_n.html", "13_n_graded.ipynb")
        assert matched == {str(p) for p in submitted} | {str(GROUP[1])}
        html = zf.read("佐藤 花子_1002_assignsubmission_file_13_n.html").decode()
    assert "採点結果" in html and "佐藤 花子" in html


def test_class_report_lists_what_needs_a_look(run: dict[str, Any]) -> None:
    html = (run["out"] / "report.html").read_text(encoding="utf-8")
    assert "クラスレポート" in html and "要確認" in html
    assert "Emily Brown" in html        # the hostile notebook was killed
    assert "13_n (1).ipynb" in html     # the misnamed file
    assert html.count("data:image/png;base64,") >= 3
