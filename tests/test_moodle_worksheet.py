"""The grading worksheet (English and Japanese sites), and the gradebook import CSV.

Realistic worksheets are written here the way Moodle writes them (PHP's fputcsv quoting,
UTF-8 BOM); the output is checked the way Moodle's uploader reads it (``moodle_upload``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from autograder.core.errors import ExportError
from autograder.moodle import (
    GradeEntry,
    GradeRecord,
    Submitter,
    assign_rows,
    fill_worksheet,
    gradebook_import,
    parse_worksheet,
    read_roster,
    read_worksheet,
    write_gradebook_csv,
    write_grades_table,
    write_worksheet,
)
from autograder.moodle.worksheet import sanitise_feedback, upload_instructions

EN_HEADER = ["Identifier", "Full name", "Email address", "Status", "Group", "Grade",
             "Maximum Grade", "Grade can be changed", "Last modified (submission)",
             "Last modified (grade)", "Feedback comments"]
JA_HEADER = ["ID", "フルネーム", "メールアドレス", "ステータス", "グループ", "評点", "最大評点",
             "評点変更可", "最終更新日時 (提出)", "最終更新日時 (評定)", "フィードバックコメント"]
EN_DATE, EN_DATE2 = "Monday, 23 November 2026, 10:00 AM", "Tuesday, 24 November 2026, 9:15 AM"
JA_DATE, JA_DATE2 = "2026年 11月 23日(月曜日) 10:00", "2026年 11月 24日(火曜日) 09:15"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words checked below are the English texts (Japanese: its own test)."""
    monkeypatch.setenv("AUTOGRADER_LANG", "en")


def php_row(values: list[str], delimiter: str = ",", newline: str = "\n") -> str:
    """One line as PHP's fputcsv writes it (quotes around spaces, delimiters, quotes...)."""
    def quote(v: str) -> str:
        if any(c in v for c in f'{delimiter}"\\ \t\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v
    return delimiter.join(quote(v) for v in values) + newline


def english_rows(max_grade: str = "100.00") -> list[list[str]]:
    return [
        ["Participant 1234567", "Taro Yamada", "taro.yamada@example.ac.jp",
         "Submitted for grading", "Group A", "", max_grade, "Yes", EN_DATE, "-", ""],
        ["Participant 1234568", "山田 花子", "hanako@example.ac.jp", "Submitted for grading",
         "Group A", "70.00", max_grade, "Yes", EN_DATE, EN_DATE2, "<p>前回のコメント</p>"],
        ["Participant 1234569", "'=HYPERLINK(\"http://x\")", "x@example.ac.jp",
         "Submitted for grading", "Group B", "", max_grade, "Yes", EN_DATE, "-", ""],
        ["Participant 1234570", "Jiro Sato", "jiro@example.ac.jp", "No submission", "Group B",
         "", max_grade, "Yes", "-", "-", ""],
        ["Participant 1234571", "Saburo Suzuki", "saburo@example.ac.jp",
         "Submitted for grading", "", "", max_grade, "No", EN_DATE, "-", ""],
    ]


def japanese_rows() -> list[list[str]]:
    return [
        ["参加者1234567", "山田 太郎", "taro@example.ac.jp", "評定のために提出済み", "グループA",
         "", "100.00", "はい", JA_DATE, "-", ""],
        ["参加者1234568", "佐藤 花子", "hanako@example.ac.jp", "評定のために提出済み", "",
         "60.00", "100.00", "はい", JA_DATE, JA_DATE2, ""],
        ["参加者1234569", "髙橋 一郎", "ichiro@example.ac.jp", "提出なし", "", "", "100.00",
         "はい", "-", "-", ""],
    ]


def worksheet_bytes(header: list[str], rows: list[list[str]], *, bom: bool = True,
                    encoding: str = "utf-8", newline: str = "\n") -> bytes:
    text = "".join(php_row(r, newline=newline) for r in [header, *rows])
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def moodle_upload(data: bytes, *, encoding: str, prefix: str, labels: dict[str, str],
                  delimiter: str = ",") -> dict[str, tuple[str, str]]:
    """What mod/assign/feedback/offline's uploader reads: participant -> (grade, feedback)."""
    text = data.decode(encoding)
    text = text[1:] if text.startswith("\ufeff") else text
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    header = rows[0]
    assert all(len(r) == len(header) for r in rows), "field counts differ: file rejected"
    col = {key: header.index(label) for key, label in labels.items()}  # exact header text
    out: dict[str, tuple[str, str]] = {}
    for row in rows[1:]:
        assert row[col["identifier"]].startswith(prefix)
        pid = row[col["identifier"]][len(prefix):]
        assert pid.isdigit()
        grade = row[col["grade"]]
        if grade:
            value = float(grade.replace(",", "."))
            assert 0 <= value <= float(row[col["maximum"]].replace(",", "."))
        out[pid] = (grade, row[col["feedback"]])
    return out


EN_LABELS = {"identifier": "Identifier", "grade": "Grade", "last": "Last modified (grade)",
             "feedback": "Feedback comments", "maximum": "Maximum Grade"}
JA_LABELS = {"identifier": "ID", "grade": "評点", "last": "最終更新日時 (評定)",
             "feedback": "フィードバックコメント", "maximum": "最大評点"}

FEEDBACK = ('<h3>14_n の結果</h3>\n<p>conv2d: "OK", max_pool2d: 失敗 (C:\\temp)</p>\n'
            "<ul><li>a, b</li></ul>")


def _cells(data: bytes, encoding: str) -> list[list[str]]:
    text = data.decode(encoding)
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))


@pytest.mark.parametrize(("header", "rows", "labels", "prefix"), [
    (EN_HEADER, english_rows(), EN_LABELS, "Participant "),
    (JA_HEADER, japanese_rows(), JA_LABELS, "参加者"),
], ids=["english", "japanese"])
def test_only_grade_and_feedback_change(header: list[str], rows: list[list[str]],
                                        labels: dict[str, str], prefix: str) -> None:
    original = worksheet_bytes(header, rows)
    ws = parse_worksheet(original)
    assert ws.identifier_prefix == prefix and ws.encoding == "utf-8-sig"
    filled = fill_worksheet(ws, {"1234567": GradeEntry(17, 20, FEEDBACK),
                                 f"{prefix}1234569": GradeEntry(20, 20, "<p>満点</p>"),
                                 "9999999": GradeEntry(1, 20)})
    out = filled.to_bytes()
    assert out.startswith(b"\xef\xbb\xbf")
    uploaded = moodle_upload(out, encoding="utf-8", prefix=prefix, labels=labels)
    assert uploaded["1234567"] == ("85.00", sanitise_feedback(FEEDBACK))
    assert uploaded["1234569"] == ("100.00", "<p>満点</p>")
    assert uploaded["1234568"] == (rows[1][5], rows[1][10])
    before, after = _cells(original, "utf-8"), _cells(out, "utf-8")
    changing = {header.index(labels["grade"]), header.index(labels["feedback"])}
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert [c for i, c in enumerate(old) if i not in changing] == \
               [c for i, c in enumerate(new) if i not in changing]
    assert php_row(rows[1]).encode() in out  # untouched rows are byte-identical
    assert filled.updated == ["1234567", "1234569"] and filled.not_in_worksheet == ["9999999"]
    assert [n.code for n in filled.notices] == ["not_in_worksheet"]


def test_unfilled_worksheet_round_trips_byte_for_byte() -> None:
    for data in (worksheet_bytes(EN_HEADER, english_rows()),
                 worksheet_bytes(JA_HEADER, japanese_rows(), newline="\r\n")):
        assert fill_worksheet(parse_worksheet(data), {}).to_bytes() == data


def test_last_modified_and_formula_cells_kept_verbatim() -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    out = fill_worksheet(ws, {pid: GradeEntry(10, 20) for pid in ws.participant_ids}).to_bytes()
    assert f'"{EN_DATE2}"'.encode() in out
    assert b'"\'=HYPERLINK(""http://x"")"' in out


SCALING = [
    (17, 20, "100.00", "85.00"),
    (20, 20, "100.00", "100.00"),
    (2, 3, "100.00", "66.67"),
    (1, 3, "10.00", "3.33"),
    (0, 20, "100.00", "0.00"),
    (19.999, 20, "100.00", "100.00"),
    (19.998, 20, "100.00", "99.99"),
    (25, 20, "100.00", "100.00"),
    (7, 8, "10", "9"),
    (1, 8, "10", "1"),
    (17, 20, "100,00", "85,00"),
]


@pytest.mark.parametrize(("score", "total", "maximum", "expected"), SCALING)
def test_grade_is_scaled_to_maximum_and_formatted_like_the_file(
        score: float, total: float, maximum: str, expected: str) -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows(max_grade=maximum)[:1]))
    filled = fill_worksheet(ws, {"1234567": GradeEntry(score, total)})
    (grade, _), = moodle_upload(filled.to_bytes(), encoding="utf-8", prefix="Participant ",
                                labels=EN_LABELS).values()
    assert grade == expected
    assert [n.code for n in filled.notices] == (["grade_clamped"] if score > total else [])


def test_missing_zero_fills_only_empty_grades() -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    plain = moodle_upload(fill_worksheet(ws, {}).to_bytes(), encoding="utf-8",
                          prefix="Participant ", labels=EN_LABELS)
    zero = moodle_upload(fill_worksheet(ws, {}, missing_zero=True).to_bytes(), encoding="utf-8",
                         prefix="Participant ", labels=EN_LABELS)
    assert {pid: g for pid, (g, _) in plain.items()} == {
        "1234567": "", "1234568": "70.00", "1234569": "", "1234570": "", "1234571": ""}
    assert {pid: g for pid, (g, _) in zero.items()} == {
        "1234567": "0.00", "1234568": "70.00", "1234569": "0.00", "1234570": "0.00",
        "1234571": "0.00"}


def test_no_maximum_column_needs_an_explicit_maximum() -> None:
    header = [h for h in EN_HEADER if h != "Maximum Grade"]
    rows = [[c for i, c in enumerate(r) if i != 6] for r in english_rows()]
    ws = parse_worksheet(worksheet_bytes(header, rows))
    with pytest.raises(ExportError, match="no Maximum Grade column"):
        fill_worksheet(ws, {"1234567": GradeEntry(17, 20)})
    out = fill_worksheet(ws, {"1234567": GradeEntry(17, 20)}, maximum=50).to_bytes()
    assert php_row(["Participant 1234567", "Taro Yamada", "taro.yamada@example.ac.jp",
                    "Submitted for grading", "Group A", "42.50", "Yes", EN_DATE, "-", ""]
                   ).encode() in out


def test_explicit_maximum_must_agree_with_the_column() -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    with pytest.raises(ExportError, match="Maximum Grade is 100"):
        fill_worksheet(ws, {"1234567": GradeEntry(17, 20)}, maximum=10)


@pytest.mark.parametrize(("header", "rows"), [
    ([("Scale" if h == "Maximum Grade" else h) for h in EN_HEADER], english_rows("Good")),
    ([("評価尺度" if h == "最大評点" else h) for h in JA_HEADER], japanese_rows()),  # ja pack
], ids=["en", "ja"])
@pytest.mark.parametrize("maximum", [None, 100.0])
def test_scale_graded_assignment_is_refused(header: list[str], rows: list[list[str]],
                                            maximum: float | None) -> None:
    # a number in a scale's worksheet would be skipped by the upload, row after row
    ws = parse_worksheet(worksheet_bytes(header, rows))
    with pytest.raises(ExportError, match="scale"):
        fill_worksheet(ws, {"1234567": GradeEntry(17, 20)}, maximum=maximum)


def test_worksheet_errors_speak_japanese_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")
    header = [("Scale" if h == "Maximum Grade" else h) for h in EN_HEADER]
    ws = parse_worksheet(worksheet_bytes(header, english_rows(max_grade="Good")))
    with pytest.raises(ExportError, match="尺度で評定") as info:
        fill_worksheet(ws, {"1234567": GradeEntry(17, 20)})
    assert "評点タイプ" in (info.value.hint or "")


@pytest.mark.parametrize(("feedback", "expected"), [
    ("=1+1", "<p>=1+1</p>"),
    ("+81 90", "<p>+81 90</p>"),
    ("-5 points", "<p>-5 points</p>"),
    ("@teacher", "<p>@teacher</p>"),
    ("  =SUM(A1)", "<p>  =SUM(A1)</p>"),
    ("a\\b", "a&#92;b"),
    ("line1\r\nline2\x00\x1b", "line1\nline2"),
    ('<p class="x">ok</p>', '<p class="x">ok</p>'),
])
def test_feedback_is_sanitised(feedback: str, expected: str) -> None:
    assert sanitise_feedback(feedback) == expected
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()[:1]))
    out = fill_worksheet(ws, {"1234567": GradeEntry(1, 2, feedback)}).to_bytes()
    uploaded = moodle_upload(out, encoding="utf-8", prefix="Participant ", labels=EN_LABELS)
    assert uploaded["1234567"][1] == expected


def test_locked_grade_is_reported() -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    filled = fill_worksheet(ws, {"1234571": GradeEntry(1, 2)})
    assert [n.code for n in filled.notices] == ["grade_locked"]
    assert "1234571" in filled.notices[0].message_en


def test_cp932_output(tmp_path: Path) -> None:
    ws = parse_worksheet(worksheet_bytes(JA_HEADER, japanese_rows()))
    filled = fill_worksheet(ws, {"1234567": GradeEntry(18, 20, "<p>よくできました 🎉 髙 ①</p>")})
    path = write_worksheet(filled, tmp_path / "ws.csv", encoding="cp932")
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    uploaded = moodle_upload(data, encoding="cp932", prefix="参加者", labels=JA_LABELS)
    # outside plain Shift_JIS: written as character references, which Moodle shows as is
    assert uploaded["1234567"] == ("90.00", "<p>よくできました &#x1F389; &#x9AD9; &#x2460;</p>")
    assert "CP932" in upload_instructions("cp932").message_en
    assert JA_DATE2.encode("cp932") in data and "髙橋 一郎".encode("cp932") in data


def test_cp932_refuses_a_name_it_cannot_write() -> None:
    rows = japanese_rows()
    rows[1][1] = "José Ramírez"
    ws = parse_worksheet(worksheet_bytes(JA_HEADER, rows))
    filled = fill_worksheet(ws, {})
    with pytest.raises(ExportError, match="line 3, column “フルネーム”") as info:
        filled.to_bytes(encoding="cp932")
    assert info.value.hint and "UTF-8" in info.value.hint
    assert "José".encode() in filled.to_bytes()
    with pytest.raises(ExportError, match="unsupported"):
        filled.to_bytes(encoding="latin-1")


def test_excel_resaved_cp932_worksheet(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(worksheet_bytes(JA_HEADER, japanese_rows(), bom=False, encoding="cp932",
                                     newline="\r\n"))
    ws = read_worksheet(path)
    assert (ws.encoding, ws.identifier_prefix, ws.participant_ids) == (
        "cp932", "参加者", ["1234567", "1234568", "1234569"])
    out = fill_worksheet(ws, {"1234569": GradeEntry(0, 20)}).to_bytes(encoding="cp932")
    assert php_row(japanese_rows()[0], newline="\r\n").encode("cp932") in out
    assert moodle_upload(out, encoding="cp932", prefix="参加者",
                         labels=JA_LABELS)["1234569"] == ("0.00", "")


def test_other_language_via_labels() -> None:
    header = ["Identifiant", "Nom complet", "Statut", "Note", "Note maximale",
              "Dernière modification (note)", "Commentaires de feedback"]
    rows = [["Participant 77", "Ana", "Remis", "", "20,00", "-", ""]]
    labels = {"identifier": ("Identifiant",), "grade": ("Note",), "maximum": ("Note maximale",),
              "last_modified": ("Dernière modification (note)",),
              "feedback": ("Commentaires de feedback",)}
    with pytest.raises(ExportError, match="identifier column"):
        parse_worksheet(worksheet_bytes(header, rows))
    ws = parse_worksheet(worksheet_bytes(header, rows), labels=labels)
    out = fill_worksheet(ws, {"77": GradeEntry(3, 4, "bien")}).to_bytes()
    assert b'"15,00"' in out and b"bien" in out


@pytest.mark.parametrize(("text", "message"), [
    ("Identifier,Grade,\"Last modified (grade)\"\nParticipant 1,,-,extra\n", "3 fields|4 fields"),
    ("Identifier,Grade\nParticipant 1,\n", "Last modified \\(grade\\)"),
    ('Identifier,Grade,"Last modified (grade)"\nParticipant 1,"85.00,-\n', "never closed"),
    ("Identifier,Grade,\"Last modified (grade)\"\nParticipant 1,,-\nParticipant 1,,-\n",
     "duplicate"),
    ("Identifier,Grade,\"Last modified (grade)\"\nParticipant 1,,-\nTeilnehmer 2,,-\n",
     "prefixes"),
    ("Name,Grade\nx,1\n", "identifier column"),
], ids=["ragged", "missing-header", "open-quote", "duplicate", "two-prefixes", "not-worksheet"])
def test_unusable_worksheets_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        parse_worksheet(text.encode())


def test_blank_lines_are_kept_and_ignored() -> None:
    data = worksheet_bytes(EN_HEADER, english_rows()[:2]) + b"\n"
    ws = parse_worksheet(data)
    assert ws.participant_ids == ["1234567", "1234568"]
    assert fill_worksheet(ws, {}).to_bytes() == data


def test_group_grades_go_to_every_member() -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    grades = assign_rows(ws, {"42": Submitter("Group A", GradeEntry(15, 20), is_group=True),
                              "43": Submitter("Group_B", GradeEntry(5, 20), is_group=True)}
                         ).grades
    assert sorted(grades) == ["1234567", "1234568", "1234569", "1234570"]
    assert grades["1234568"].score == 15 and grades["1234570"].score == 5


def test_write_is_atomic_and_missing_file_is_an_export_error(tmp_path: Path) -> None:
    ws = parse_worksheet(worksheet_bytes(EN_HEADER, english_rows()))
    path = write_worksheet(fill_worksheet(ws, {}), tmp_path / "out" / "ws.csv")
    assert path.read_bytes() == worksheet_bytes(EN_HEADER, english_rows())
    assert not list((tmp_path / "out").glob("*.tmp"))
    with pytest.raises(ExportError, match="cannot read"):
        read_worksheet(tmp_path / "nope.csv")


# ---- Grades ▸ Import ▸ CSV ----

ROSTER = """First name,Last name,ID number,Username,Email address
Taro,Yamada,s1001,taro,taro@example.ac.jp
花子,山田,s1002,hanako,hanako@example.ac.jp
Mary Ann,O'Brien,s1003,mary,mary@example.ac.jp
Taro,Suzuki,s1004,taro2,taro2@example.ac.jp
Taro,Suzuki,s1005,taro3,taro3@example.ac.jp
Jiro,Sato,s1006,jiro,jiro@example.ac.jp
"""

RECORDS = [
    GradeRecord("11", "Taro Yamada", 17, 20, "graded"),
    GradeRecord("12", "山田 花子", 20, 20, "graded"),
    GradeRecord("13", "Mary Ann OBrien", None, 20, "missing"),
    GradeRecord("14", "Taro Suzuki", 10, 20, "graded"),
    GradeRecord("15", "Nobody Known", 5, 20, "graded"),
]


def test_gradebook_import_csv(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8-sig")
    roster = read_roster(tmp_path / "roster.csv")
    result = gradebook_import(roster=roster, records=RECORDS, maximum=100)
    assert (result.key_column, result.moodle_field) == ("ID number", "useridnumber")
    path = write_gradebook_csv(result, tmp_path / "import.csv")
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows == [["ID number", "Grade"], ["s1001", "85.00"], ["s1002", "100.00"],
                    ["s1003", "-"], ["s1004", "-"], ["s1005", "-"], ["s1006", "-"]]
    assert result.matching.ambiguous == ["14"] and result.matching.unmatched == ["15"]
    assert [n.code for n in result.notices] == ["roster_unmatched", "roster_ambiguous"]


def test_gradebook_import_key_choice_and_worksheet_as_roster(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(ROSTER.replace("s1006", ""), encoding="utf-8")
    roster = read_roster(tmp_path / "r.csv")
    result = gradebook_import(roster=roster, records=RECORDS, maximum=10, missing_zero=True)
    assert result.key_column == "Username" and result.rows[2] == ("mary", "0.00")
    by_email = gradebook_import(roster=roster, records=RECORDS, maximum=10, key="Email address")
    assert by_email.moodle_field == "useremail" and by_email.rows[0] == ("taro@example.ac.jp",
                                                                         "8.50")
    (tmp_path / "ws.csv").write_bytes(worksheet_bytes(EN_HEADER, english_rows()))
    ws_roster = read_roster(tmp_path / "ws.csv")
    graded = [GradeRecord("1234568", "whoever", 1, 2)]
    result = gradebook_import(roster=ws_roster, records=graded, maximum=100)
    assert result.key_column == "Email address"
    assert ("hanako@example.ac.jp", "50.00") in result.rows
    with pytest.raises(ExportError, match="no column"):
        gradebook_import(roster=roster, records=RECORDS, maximum=10, key="Student number")


def test_grades_table_with_pandas(tmp_path: Path) -> None:
    path = write_grades_table(RECORDS, tmp_path / "grades.csv", maximum=100)
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"participant_id": str})
    assert list(table.columns) == ["participant_id", "name", "status", "score", "max_score",
                                   "grade"]
    assert table["participant_id"].tolist() == ["11", "12", "13", "14", "15"]
    assert table["grade"].tolist()[:2] == [85.0, 100.0] and pd.isna(table["grade"][2])


def test_a_regrade_on_a_japanese_site_says_to_tick_the_box() -> None:
    # Moodle's upload reads "Last modified (grade)" with strtotime(): a Japanese date is 0,
    # so a row already graded counts as newer in Moodle and is skipped, unless "Allow
    # updating records that have been modified more recently..." is ticked
    ws = parse_worksheet(worksheet_bytes(JA_HEADER, japanese_rows()))
    regrade = fill_worksheet(ws, {"1234567": GradeEntry(8, 10), "1234568": GradeEntry(9, 10)})
    notice = next(n for n in regrade.notices if n.code == "dates_unreadable")
    assert "1234568" in notice.message_en and "1234567" not in notice.message_en  # graded
    assert "Allow updating records" in notice.message_ja
    first = fill_worksheet(ws, {"1234567": GradeEntry(8, 10)})       # no grade in Moodle yet
    english = fill_worksheet(parse_worksheet(worksheet_bytes(EN_HEADER, english_rows())),
                             {"1234568": GradeEntry(9, 10)})          # strtotime reads these
    assert "dates_unreadable" not in [n.code for n in first.notices + english.notices]


def test_excels_unicode_text_is_read_and_written_back_as_utf8_with_its_tabs() -> None:
    # Excel's "Unicode text (*.txt)": UTF-16 with a BOM, tab-separated, CRLF
    text = "\r\n".join("\t".join(row) for row in [JA_HEADER, *japanese_rows()]) + "\r\n"
    ws = parse_worksheet(text.encode("utf-16"))
    assert (ws.encoding, ws.delimiter, ws.identifier_prefix) == ("utf-16", "\t", "参加者")
    data = fill_worksheet(ws, {"1234567": GradeEntry(18, 20, "<p>よい</p>")}).to_bytes()
    uploaded = moodle_upload(data, encoding="utf-8", prefix="参加者", labels=JA_LABELS,
                             delimiter="\t")
    assert uploaded["1234567"] == ("90.00", "<p>よい</p>")
    assert "タブ" in upload_instructions("utf-8-sig", ws.delimiter).message_ja
