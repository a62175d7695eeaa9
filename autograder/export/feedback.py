"""The per-student feedback report: one self-contained HTML file (inline CSS and images),
and the graded notebook (the executed notebook with a summary on top).

Both show the graded items by question, titled and with their state (``feedback_rows``:
partial credit as 部分点, the cause of a missing name beside its question). Everything
that comes from the student's notebook is untrusted: text is escaped by jinja2's
autoescape, and only image outputs that really are PNG files are embedded (never the
notebook's own HTML or JavaScript outputs).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import jinja2
import markupsafe

from ..core.i18n import Lang, tr
from ..core.paths import templates_dir
from ..core.results import Status, SubmissionResult
from ..core.safetext import clean, one_line
from ..engine.labels import ItemTitles
from .rows import FeedbackView, ItemRow, feedback_view

HIDDEN_MARK = "BEGIN HIDDEN TESTS"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURES = 8
MAX_FIGURE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Figure:
    data: str  # base64 of a verified PNG
    alt: str


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["code_spans"] = code_spans
    return env


_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")


def code_spans(text: str) -> markupsafe.Markup:
    """``text`` escaped, then each `name` in backticks shown as code. Escaping comes
    first, so the only tags in the result are the ``<code>`` pairs added here."""
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(_CODE_SPAN.sub(r"<code>\1</code>", escaped))


def _texts(lang: Lang) -> dict[str, str]:
    keys = {
        "title": ("採点結果", "Grading feedback"), "participant": ("提出者", "Participant"),
        "file": ("ファイル", "File"), "graded_at": ("採点日時", "Graded at"),
        "points": ("点", "points"), "points_col": ("点", "Points"),
        "penalty": ("減点", "Penalty"),
        "checks": ("チェック項目", "Checks"), "check": ("項目", "Check"),
        "result": ("結果", "Result"), "message": ("コメント", "Message"),
        "why": ("原因", "Why"),
        "figures": ("あなたのノートブックの出力", "Figures from your notebook"),
        "run": ("実行の記録", "Run"), "status": ("状態", "Status"),
        "exec_time": ("ノートブックの実行時間", "Notebook run time"),
        "check_time": ("チェックの実行時間", "Check time"),
        "footer": ("この結果は自動採点によるものです。疑問があれば担当教員に問い合わせてください。",
                   "This result was produced by the autograder. Ask your instructor if"
                   " anything looks wrong."),
    }
    return {k: (en if lang == "en" else ja) for k, (ja, en) in keys.items()}


def status_text(status: Status, lang: Lang) -> str:
    names = {
        Status.GRADED: ("採点済み", "graded"), Status.ERROR: ("採点エラー", "grading error"),
        Status.TIMEOUT: ("時間切れ", "timed out"), Status.KILLED: ("強制終了", "killed"),
        Status.INVALID: ("読み込めないファイル", "unreadable file"),
        Status.MISSING: ("未提出", "no submission"),
        Status.WRONG_ASSIGNMENT: ("別の課題のファイル", "file of another assignment"),
        Status.REFUSED: ("受け付けられないファイル", "file refused"),
        Status.CRASHED: ("採点ワーカーの停止", "grading worker crashed"),
    }
    ja, en = names[status]
    return en if lang == "en" else ja


def notebook_figures(executed_notebook: str | None) -> list[Figure]:
    """Verified PNG outputs of the executed notebook (training curves, confusion matrix)."""
    if not executed_notebook:
        return []
    try:
        nb = json.loads(executed_notebook)
    except ValueError:
        return []
    figures: list[Figure] = []
    for index, cell in enumerate(nb.get("cells", []) if isinstance(nb, dict) else []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            png = png_of(output)
            if png and len(figures) < MAX_FIGURES:
                figures.append(Figure(png, f"cell {index + 1}"))
    return figures


def png_of(output: Any) -> str | None:
    """The base64 of an output's image/png when it really is a PNG (bounded), else None."""
    data = output.get("data") if isinstance(output, dict) else None
    raw = data.get("image/png") if isinstance(data, dict) else None
    if isinstance(raw, list):
        raw = "".join(x for x in raw if isinstance(x, str))
    if not isinstance(raw, str) or len(raw) > MAX_FIGURE_BYTES * 4 // 3 + 8:
        return None
    try:
        decoded = base64.b64decode(raw.replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(decoded).decode() if decoded.startswith(PNG_MAGIC) else None


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def render_feedback(result: SubmissionResult, *, assignment_title: str, participant: str,
                    lang: Lang, graded_at: dt.datetime | None = None,
                    titles: ItemTitles | None = None) -> str:
    """The feedback HTML for one submission (``titles``: the assignment's check titles
    and questions, ``labels.item_titles``; without them, names in one list)."""
    bad = {Status.ERROR, Status.TIMEOUT, Status.KILLED, Status.INVALID, Status.MISSING,
           Status.WRONG_ASSIGNMENT, Status.REFUSED, Status.CRASHED}
    view = feedback_view(result, titles, lang)
    notices = [{"text": text, "bad": False} for text in view.notices]
    if result.status in bad and result.reason:
        notices.insert(0, {"text": clean(f"{status_text(result.status, lang)}: {result.reason}"),
                           "bad": True})
    seconds = tr(lang, ja="{:.1f} 秒", en="{:.1f} s")
    return environment().get_template("feedback.html.j2").render(
        lang=lang, t=_texts(lang), assignment_title=assignment_title,
        participant=one_line(participant), file=one_line(result.file) or "—",
        graded_at=(graded_at or dt.datetime.now()).strftime("%Y-%m-%d %H:%M"),
        score_text=_fmt(result.score), max_text=_fmt(result.max_score),
        penalty=_fmt(result.penalty) if result.penalty else "", notices=notices,
        groups=view.groups, fmt=_fmt, figures=notebook_figures(result.executed_notebook),
        status_text=status_text(result.status, lang),
        exec_seconds=seconds.format(result.exec_seconds),
        check_seconds=seconds.format(result.check_seconds))


def graded_notebook(result: SubmissionResult, *, assignment_title: str, lang: Lang,
                    hidden_source: Any = None, titles: ItemTitles | None = None) -> str:
    """The executed notebook with a feedback cell on top and one after each test cell.

    Never byte-identical to the submission: it always gains the summary cell. Hidden-test
    regions never appear in it (grading already runs without them in the kernel; any
    left in a stored notebook are cut here), unless ``hidden_source`` (the assignment's
    source notebook) is given: then the test cells show their full text, for the
    instructor.
    """
    from ..core import nbapi

    if result.executed_notebook:
        nb = nbapi.reads(result.executed_notebook, as_version=4)
    else:
        nb = nbapi.new_notebook()
    _hidden_tests(nb, hidden_source)
    view = feedback_view(result, titles, lang)
    summary = nbapi.new_markdown_cell(_summary_markdown(result, view, assignment_title, lang))
    summary.metadata["autograder"] = {"feedback": True}
    rows = {r.name: r for g in view.groups for r in g.rows}
    cells = [summary]
    for cell in nb.cells:
        cells.append(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        row = (rows.get(f"cell:{grade_id}") or rows.get(f"manual:{grade_id}")
               if isinstance(grade_id, str) else None)
        if row is not None:
            note = nbapi.new_markdown_cell(
                f"{row.mark} {row.word} **{_md(row.title)}**: "
                f"{_fmt(row.points)}/{_fmt(row.max_points)} {_md(row.message)}")
            note.metadata["autograder"] = {"feedback": True}
            cells.append(note)
    nb.cells = cells
    return nbapi.writes(nb)


def _summary_markdown(result: SubmissionResult, view: FeedbackView, assignment_title: str,
                      lang: Lang) -> str:
    lines = [f"## {tr(lang, ja='採点結果', en='Grading feedback')}: {_md(assignment_title)}",
             "", f"**{_fmt(result.score)} / {_fmt(result.max_score)}** "
             f"({status_text(result.status, lang)})", ""]
    lines += [f"- {_md(text)}" for text in view.notices]
    t = _texts(lang)
    head = f"| {t['check']} | {t['result']} | {t['points_col']} | {t['message']} |"
    for group in view.groups:
        if group.title:
            lines += ["", f"### {_md(group.title)} ({_fmt(group.points)}/"
                          f"{_fmt(group.max_points)})"]
        lines += ["", head, "|---|---|---|---|"]
        lines += [_table_row(r) for r in group.rows]
        lines += [f"\n> **{t['why']}**: {_md(text)}" for text in group.explanations]
    return "\n".join(lines)


def _table_row(row: ItemRow) -> str:
    return (f"| {_md(row.title)} | {row.mark} {row.word} | {_fmt(row.points)}/"
            f"{_fmt(row.max_points)} | {_md(row.message)} |")


def _md(text: str) -> str:
    """Neutralise markdown/HTML in a table cell (messages may quote student output)."""
    return (one_line(text, limit=None).replace("\\", "\\\\").replace("|", "\\|")
            .replace("<", "&lt;").replace(">", "&gt;"))


def _hidden_tests(nb: Any, source: Any) -> None:
    """Cut hidden-test regions from every cell, or (``source`` given) show the source's."""
    from ..engine.cells.cell_tests import strip_hidden
    from ..engine.restore import grade_id_of

    full = {}
    if source is not None:
        full = {grade_id_of(c): c.source for c in source.cells if grade_id_of(c)}
    for cell in nb.cells:
        text = cell.get("source", "")
        gid = grade_id_of(cell)
        if gid in full and cell.get("cell_type") == "code":
            cell.source = full[gid]
        elif isinstance(text, str) and HIDDEN_MARK in text:
            cell.source = strip_hidden(text)
