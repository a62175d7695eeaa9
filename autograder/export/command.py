"""``autograder export``: the gradebook → what goes back to Moodle, and the class report.

- with Moodle's downloaded worksheet: the same file, only ``Grade`` and
  ``Feedback comments`` filled in (``worksheet.csv``);
- without one: ``grades.csv`` and, with a roster, a Grades ▸ Import ▸ CSV file;
- ``feedback.zip`` for "Upload multiple feedback files in a zip" (one HTML report and the
  graded notebook per student, named after the assignment's file);
- ``feedback/`` with the same files unpacked, and ``report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import Assignment, load_assignment
from ..core.errors import ExportError
from ..core.i18n import Lang, default_lang, tr
from ..core.paths import assignments_dir, default_gradebook
from ..core.results import GRADER_FAILURES, Notice, Status, SubmissionResult
from ..core.safetext import clean, one_line
from ..engine.labels import ItemTitles, titles_for_export
from ..grading.staleness import export_guard
from ..store.gradebook import Gradebook, StoredSubmission
from ..store.hand_grades import hand_notes_html, pending_export_notice
from .class_report import Row, render_class_report, summarise
from .feedback import graded_notebook, render_feedback
from .worksheet_comment import comment_html as _comment_html


@dataclass
class ExportSummary:
    out: Path
    students: int = 0
    files: list[Path] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


@dataclass(frozen=True)
class Graded:
    stored: StoredSubmission
    result: SubmissionResult


def _load(gb: Gradebook, assignment: Assignment) -> tuple[list[Graded], list[str]]:
    """The latest submissions with their results, and the participants whose latest
    submission has none yet (its grading failed or was interrupted)."""
    graded, ungraded = [], []
    for stored in gb.latest_submissions(assignment.id):
        result = gb.result(stored.id)
        if result is not None:
            graded.append(Graded(stored, result))
        else:
            ungraded.append(stored.participant)
    if not graded:
        raise ExportError(tr(ja=f"採点記録に {assignment.id} の採点済みの提出がありません",
                             en=f"the gradebook has no graded submission of {assignment.id}"),
                          where=str(gb.path),
                          hint=tr(ja=f"先に `autograder grade {assignment.id} ...` を同じ"
                                     " --gradebook で実行してください",
                                  en=f"run `autograder grade {assignment.id} ...` first, with"
                                     " the same --gradebook"))
    return graded, ungraded


def ungraded_guard(assignment_id: str, ungraded: list[str], *, missing_zero: bool,
                   lang: Lang) -> list[Notice]:
    """Submissions without a result are never exported as if nobody had submitted:
    with ``missing_zero`` they would get 0, so that is refused; otherwise their rows are
    left as they are, and said."""
    if not ungraded:
        return []
    named = _named(ungraded)
    ja = (f"{len(ungraded)} 件の提出にまだ採点結果がありません (採点が失敗したか中断されました):"
          f" {named}")
    en = (f"{len(ungraded)} submission(s) have no result yet (their grading failed or was"
          f" interrupted): {named}")
    again = tr(lang, ja=f"`autograder grade {assignment_id} ...` をもう一度実行すると採点されます",
               en=f"run `autograder grade {assignment_id} ...` again to grade them")
    if missing_zero:
        raise ExportError(tr(lang, ja=ja + "。--missing-zero では 0 点になってしまいます", en=en +
                             "; --missing-zero would give them 0"), hint=again)
    return [Notice("ungraded", ja + "。その行は空欄のままです",
                   en + "; their rows are left blank")]


def comment_html(result: SubmissionResult, lang: Lang,
                 titles: ItemTitles | None = None) -> str:
    """The short feedback comment for the worksheet (``worksheet_comment.py``), with the
    hand grades a person gave (``store/hand_grades.py``)."""
    return _comment_html(result, lang, titles) + hand_notes_html(result, lang)


def export(*, assignment_id: str, out: Path, gradebook: Path | None = None,
           worksheet: Path | None = None, encoding: str = "utf-8-sig",
           missing_zero: bool = False, roster: Path | None = None, roster_key: str | None = None,
           maximum: float | None = None, lang: Lang | None = None,
           assignments_root: Path | None = None, show_hidden: bool = False,
           allow_stale: bool = False) -> ExportSummary:
    """Write the worksheet (or grades CSVs), the feedback zip and the class report.

    Each part is written even when another fails on one row: a row that cannot go into
    the feedback zip (no Moodle id: graded from a plain notebook) keeps its files in
    ``feedback/`` and is named in a notice. ``show_hidden``: the graded notebooks carry
    the test cells' hidden tests (the instructor's own copy; never upload it).
    """
    lang = lang or default_lang()
    assignment = load_assignment(assignment_id, assignments_root or assignments_dir())
    with Gradebook(gradebook or default_gradebook(), create=False) as gb:
        graded, ungraded = _load(gb, assignment)
        warnings = ungraded_guard(assignment.id, ungraded, missing_zero=missing_zero,
                                  lang=lang)
        warnings += export_guard(gb, assignment, [(g.stored.id, g.stored.participant)
                                                 for g in graded],
                                allow_stale=allow_stale, lang=lang)
    pending = pending_export_notice(assignment.id, [g.result for g in graded])
    failed = failed_notice(assignment.id, graded)
    out.mkdir(parents=True, exist_ok=True)
    titles, title_notices = titles_for_export(assignment)
    summary = ExportSummary(out, students=len(graded),
                            notices=[*warnings, *(n for n in (pending, failed) if n),
                                     *title_notices])
    if worksheet is not None:
        _worksheet(graded, worksheet, out, encoding, missing_zero, maximum, lang, summary,
                   titles)
    else:
        _grade_tables(graded, out, roster, roster_key, maximum, missing_zero, encoding, summary)
    _feedback(graded, assignment, out, lang, summary, show_hidden, titles)
    report = out / "report.html"
    rows = [Row(one_line(g.stored.participant), one_line(g.stored.participant_name), g.result)
            for g in graded]
    summary_rows = summarise(rows, template_code=_template_code(assignment))
    report.write_text(render_class_report(summary_rows, assignment=assignment, lang=lang,
                                          titles=titles), encoding="utf-8")
    summary.files.append(report)
    return summary


def _template_code(assignment: Assignment) -> str:
    """The code every student was given: not evidence of copying."""
    from ..authoring.release import read_source, student_version
    from ..core import nbapi
    from .similarity import notebook_code

    released = student_version(read_source(assignment.source_notebook), assignment=assignment)
    return notebook_code(nbapi.writes(released))


def _worksheet(graded: list[Graded], path: Path, out: Path, encoding: str, missing_zero: bool,
               maximum: float | None, lang: Lang, summary: ExportSummary,
               titles: ItemTitles) -> None:
    from ..moodle import (
        GradeEntry,
        Submitter,
        assign_rows,
        fill_worksheet,
        read_worksheet,
        upload_instructions,
        write_worksheet,
    )

    ws = read_worksheet(path)
    submitters = {_number(g): Submitter(g.stored.participant_name or g.stored.participant,
                                        GradeEntry(_score(g.result), g.result.max_score,
                                                   _feedback_for(g, lang, titles),
                                                   missing=g.result.status is Status.MISSING),
                                        is_group=g.stored.is_group)
                  for g in graded}
    assigned = assign_rows(ws, submitters)   # whose row each is: the names must agree
    filled = fill_worksheet(ws, assigned.grades, missing_zero=missing_zero, maximum=maximum)
    target = out / "worksheet.csv"
    write_worksheet(filled, target, encoding=encoding)
    summary.files.append(target)
    summary.notices.extend(assigned.notices + filled.notices)
    summary.notices.append(upload_instructions(encoding, ws.delimiter))
    if filled.not_in_worksheet:
        ids = ", ".join(filled.not_in_worksheet)
        summary.notices.append(Notice("not_in_worksheet",
                                      f"ワークシートに行がない参加者: {ids}",
                                      f"graded but not in the worksheet: {ids}"))


# No grade to give: nothing submitted (``--missing-zero`` makes those 0), or the grader
# could not finish (its sandbox or kernel failed: ``error``; the submission killed its
# grading worker twice: ``crashed``). A failure of ours is never a 0 in Moodle: those rows
# stay blank, with no feedback to the student, until a person or a rerun grades them.
UNSCORED = GRADER_FAILURES | {Status.MISSING}


def _number(g: Graded) -> str:
    """The zip's number of a submission: the participant id, or a team's group id."""
    origin = g.stored.intake.moodle
    if g.stored.is_group and origin is not None and origin.moodle_id:
        return origin.moodle_id
    return g.stored.participant


def _score(result: SubmissionResult) -> float | None:
    return None if result.status in UNSCORED else result.score


def _item_points(result: SubmissionResult) -> tuple[tuple[str, float], ...]:
    # like the score: no grade leaves the item columns empty
    if result.status in UNSCORED:
        return ()
    return tuple((c.name, c.points) for c in result.checks)


def _feedback_for(g: Graded, lang: Lang, titles: ItemTitles) -> str:
    return "" if g.result.status in GRADER_FAILURES else comment_html(g.result, lang, titles)


def failed_notice(assignment_id: str, graded: list[Graded]) -> Notice | None:
    """The rows left blank because the grader failed on them (``GRADER_FAILURES``)."""
    failed = [g.stored.participant for g in graded if g.result.status in GRADER_FAILURES]
    if not failed:
        return None
    named = _named(failed)
    return Notice(
        "grading_failed",
        f"{len(failed)} 件は採点器が採点を終えられませんでした (採点エラー・ワーカー停止):"
        f" {named}。評点とフィードバックは空欄のままです。採点エラーは"
        f" `autograder grade {assignment_id} ...` をもう一度実行すると採点し直します。"
        "ワーカー停止は report.html で確かめ、必要なら手で採点してください",
        f"{len(failed)} submission(s) could not be graded by the grader (grading error or"
        f" worker crash): {named}; their grade and feedback are left blank. Run"
        f" `autograder grade {assignment_id} ...` again to grade the errors again; look at"
        " the crashed ones in report.html and grade them by hand if need be")


def _grade_tables(graded: list[Graded], out: Path, roster: Path | None, roster_key: str | None,
                  maximum: float | None, missing_zero: bool, encoding: str,
                  summary: ExportSummary) -> None:
    from ..moodle import (
        GradeRecord,
        gradebook_import,
        read_roster,
        write_gradebook_csv,
        write_grades_table,
    )

    records = [GradeRecord(g.stored.participant, g.stored.participant_name, _score(g.result),
                           g.result.max_score, g.result.status.value,
                           items=_item_points(g.result)) for g in graded]
    summary.files.append(write_grades_table(records, out / "grades.csv", maximum=maximum))
    if roster is not None:
        result = gradebook_import(roster=read_roster(roster), records=records,
                                  maximum=maximum or 100.0, key=roster_key,
                                  missing_zero=missing_zero)
        summary.files.append(write_gradebook_csv(result, out / "gradebook-import.csv",
                                                 encoding=encoding))
        summary.notices.extend(result.notices)


def _feedback(graded: list[Graded], assignment: Assignment, out: Path, lang: Lang,
              summary: ExportSummary, show_hidden: bool, titles: ItemTitles) -> None:
    from ..moodle import FeedbackEntry

    entries, loose = [], []
    source = _hidden_source(assignment) if show_hidden else None
    for g in graded:
        if g.result.status in UNSCORED:
            continue
        files = _feedback_files(g, assignment, lang, source, titles)
        for name, data in files.items():
            target = out / "feedback" / _safe(g.stored.participant) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        origin = g.stored.intake.moodle
        if origin is None:  # graded from a plain notebook or folder
            loose.append(g.stored.participant)
            continue
        entries.append(FeedbackEntry(
            moodle_id=origin.moodle_id,
            name=g.stored.participant_name or g.stored.participant, files=files,
            submitted_sha256=[s for s in (g.stored.sha256, origin.submitted_sha256) if s]))
    if loose:
        summary.notices.append(_loose_notice(loose))
    if entries:
        _feedback_zip(entries, out / "feedback.zip", summary)


def _feedback_files(g: Graded, assignment: Assignment, lang: Lang,
                    hidden_source: Any, titles: ItemTitles) -> dict[str, bytes]:
    title = assignment.title(lang)
    return {f"{assignment.id}.html": render_feedback(
                g.result, assignment_title=title,
                participant=g.stored.participant_name or g.stored.participant,
                lang=lang, titles=titles).encode(),
            f"{assignment.id}_graded.ipynb": graded_notebook(
                g.result, assignment_title=title, lang=lang,
                hidden_source=hidden_source, titles=titles).encode()}


def _hidden_source(assignment: Assignment) -> Any:
    from ..core.notebooks import read_notebook

    return read_notebook(assignment.source_notebook).nb


def _feedback_zip(entries: list[Any], path: Path, summary: ExportSummary) -> None:
    from ..moodle import build_feedback_zip

    try:
        result = build_feedback_zip(entries, path)
    except ExportError as exc:  # the grades and the report are still written
        summary.notices.append(Notice("feedback_zip_failed",
                                      f"feedback.zip を作れませんでした: {exc.render()}",
                                      f"feedback.zip could not be written: {exc.render()}"))
        return
    summary.files.append(result.path)
    summary.notices.extend(result.skipped)


def _named(participants: list[str]) -> str:
    """The first five, cleaned, and how many more."""
    more = f" (+{len(participants) - 5})" if len(participants) > 5 else ""
    return ", ".join(clean(p) for p in participants[:5]) + more


def _loose_notice(participants: list[str]) -> Notice:
    named = _named(participants)
    return Notice("feedback_not_in_zip",
                  f"Moodle の提出 zip 以外から採点した {len(participants)} 件のフィードバックは"
                  f" feedback.zip に入れず、feedback/ フォルダーにだけ書きました: {named}",
                  f"{len(participants)} submission(s) were not graded from a Moodle zip: their"
                  f" feedback is in the feedback/ folder only, not in feedback.zip: {named}")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
