"""Which worksheet rows a submission from Moodle's zip is for (``moodle/submitters.py``).

A Moodle 4.1+ team submission comes as ``Group A_42_assignsubmission_file/``: 42 is the
group's id, and when every student is in some group nothing in the zip says so. Written
to the row ``Participant 42`` it would be another student's grade. The worksheet's names
decide; a real worksheet layout (header and rows as Moodle writes them) is parsed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.moodle import GradeEntry, Submitter, assign_rows, parse_worksheet
from autograder.moodle.submitters import name_key, same_person

REPO = Path(__file__).resolve().parents[1]

HEADER = ("Identifier,\"Full name\",\"Email address\",Status,Group,Grade,\"Maximum Grade\","
          "\"Grade can be changed\",\"Last modified (submission)\",\"Last modified (grade)\","
          "\"Feedback comments\"\n")
ROWS = {  # participant id -> (full name, group cell)
    "41": ("Taro Yamada", "Group A"), "42": ("Zed Unrelated", "Group Z"),
    "43": ("Hanako Sato", "Group A"), "44": ("Jiro Suzuki", "R&D Team"),
    "46": ("Alice Doe", ""), "48": ("Ken Ito", "Group B"), "49": ("山田 花子", ""),
    "50": ("Mary O'Brien", "Group A, Group B"),
}


def _sheet() -> bytes:
    rows = "".join(f'"Participant {pid}","{name}",x@example.ac.jp,Submitted,"{group}",,'
                   '100.00,Yes,"Monday, 23 November 2026, 10:00 AM",-,\n'
                   for pid, (name, group) in ROWS.items())
    return ("\ufeff" + HEADER + rows).encode()


def _assign(**subs: tuple[str, bool]) -> tuple[dict[str, float | None], list[str]]:
    ws = parse_worksheet(_sheet())
    got = assign_rows(ws, {number.lstrip("_"): Submitter(name, GradeEntry(i + 1.0, 10.0),
                                                         is_group=group)
                           for i, (number, (name, group)) in enumerate(subs.items())})
    return {pid: e.score for pid, e in got.grades.items()}, [n.code for n in got.notices]


def test_a_group_id_is_not_the_participant_of_that_number() -> None:
    # Group A's id 42 is also Zed's participant id: Zed gets nothing, Group A's members do
    grades, notices = _assign(_42=("Group A", False))
    assert grades == {"41": 1.0, "43": 1.0, "50": 1.0} and notices == ["team_detected"]


def test_a_known_team_submission_goes_to_its_members() -> None:
    grades, notices = _assign(_7=("Group B", True))
    assert grades == {"48": 1.0, "50": 1.0} and notices == []


def test_a_group_name_moodle_escaped_on_the_way_into_the_zip() -> None:
    # format_string made "R&D" "R&amp;D", clean_filename removed the "&"
    grades, notices = _assign(_45=("Ramp;D Team", False))
    assert grades == {"44": 1.0} and notices == ["team_detected"]


@pytest.mark.parametrize("folder", [
    "Taro Yamada", "Yamada Taro", "taro  yamada", "Group A-Taro Yamada",   # 3.x team prefix
    "Participant", "参加者",                                                # blind marking
])
def test_the_rows_own_student(folder: str) -> None:
    grades, notices = _assign(_41=(folder, False))
    assert grades == {"41": 1.0} and notices == []


def test_names_as_the_zip_writes_them() -> None:
    assert same_person("Mary OBrien", "Mary O'Brien")        # clean_filename drops the '
    assert same_person("山田花子", "山田 花子")
    assert same_person("ＹＡＭＡＤＡ Ｔａｒｏ", "Yamada Taro")
    assert same_person("Taro Yamada", "Taro Yamada (やまだ たろう)")   # an added reading
    assert not same_person("Taro Yamada", "Taro Suzuki") and not same_person("", "")
    assert name_key("R&amp;D_Team") == name_key("R&D Team") == "rd team"


def test_a_name_that_is_neither_the_rows_nor_a_groups_is_written_nowhere() -> None:
    grades, notices = _assign(_46=("Mallory Evil", False))
    assert grades == {} and notices == ["name_mismatch"]


def test_a_number_not_in_the_worksheet_is_left_to_fill_worksheet() -> None:
    grades, notices = _assign(_999=("Nobody Known", False))
    assert grades == {"999": 1.0} and notices == []   # fill_worksheet: not in the worksheet


def test_a_group_no_row_names_is_said() -> None:
    grades, notices = _assign(_77=("Group Q", True))
    assert grades == {} and notices == ["group_not_in_worksheet"]


def test_the_default_group_goes_to_everyone_in_no_group() -> None:
    grades, notices = _assign(**{"group-default": ("Default group", True)})
    assert grades == {"46": 1.0, "49": 1.0} and notices == []


def test_without_a_full_name_column_the_number_decides() -> None:
    sheet = ("\ufeffIdentifier,Status,Grade,\"Maximum Grade\",\"Grade can be changed\","
             "\"Last modified (grade)\"\n\"Participant 42\",Submitted,,100.00,Yes,-\n")
    got = assign_rows(parse_worksheet(sheet.encode()),
                      {"42": Submitter("Group A", GradeEntry(3.0, 10.0), is_group=False)})
    assert list(got.grades) == ["42"] and got.notices == []


def test_export_writes_a_teams_grade_to_its_members_not_to_that_number(tmp_path: Path) -> None:
    # the zip said "Group A_42_..." with no Default group: intake took 42 for a student
    from autograder.core.intake_record import IntakeRecord, MoodleOrigin
    from autograder.core.results import CheckResult, Status, SubmissionResult
    from autograder.export.command import export
    from autograder.store.gradebook import Gradebook

    gb_path, sheet = tmp_path / "gb.sqlite", tmp_path / "Grades.csv"
    sheet.write_bytes(_sheet())
    with Gradebook(gb_path) as gb:
        sid = gb.add_submission(assignment="13_n", participant="42", file="13_n.ipynb",
                                sha256="a" * 64, content=b"{}", participant_name="Group A",
                                intake=IntakeRecord(moodle=MoodleOrigin("42")))
        gb.save_result(sid, SubmissionResult("42", "13_n.ipynb", "a" * 64, Status.GRADED,
                                             checks=[CheckResult("test_step", 1.0, 2.0, False,
                                                                 message="x")]))
    summary = export(assignment_id="13_n", out=tmp_path / "out", gradebook=gb_path,
                     worksheet=sheet, assignments_root=REPO / "assignments",
                     allow_stale=True, lang="en")
    written = parse_worksheet((tmp_path / "out" / "worksheet.csv").read_bytes())
    assert {pid: written.value(pid, "grade") for pid in written.rows} == {
        "41": "50.00", "42": "", "43": "50.00", "44": "", "46": "", "48": "", "49": "",
        "50": "50.00"}
    assert "team_detected" in [n.code for n in summary.notices]
