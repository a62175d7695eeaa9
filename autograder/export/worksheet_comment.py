"""The feedback comment in Moodle's grading worksheet (``Feedback comments``).

Moodle shows it as HTML beside the grade, in the grading table and on the student's
page; the feedback file (``<id>.html``) has the full story. So the comment is short: the
score, each question's points, each item with its title and state (○ 合格, △ 部分点,
× 不合格, − 未実行, ？ 採点待ち), the message of every item that did not pass, and the
cause of a missing name (``explain.py``).

Limits: only ``<p>``, ``<ul>``, ``<li>``, ``<strong>``, ``<em>`` (kept by Moodle's HTML
cleaning); every text escaped (``html.escape`` after ``safetext.clean``); the comment
never starts with ``= + - @`` (it starts with ``<p>``), which newer Moodle versions
would prefix with ``'``; at most ``MAX_CHARS`` characters. Moodle stores the comment as
long text, but the worksheet is often opened in Excel (32,767 characters per cell) and
a long comment makes the grading table unreadable: when the full comment is longer,
passed items are counted instead of listed, then messages are cut, then only the
questions' points remain, with a pointer to the feedback file.
"""

from __future__ import annotations

import html

from ..core.i18n import Lang, tr
from ..core.results import SubmissionResult
from ..core.safetext import clean, one_line
from ..engine.labels import ItemTitles
from .feedback import status_text
from .item_states import NOTHING_RAN, ItemState, mark, word
from .rows import FeedbackView, ItemRow, RowGroup, feedback_view

MAX_CHARS = 4000
# detail levels, most first: (list passed items, message length, explanation length)
_LEVELS = ((True, 160, 400), (False, 100, 300), (False, 60, 200))


def comment_html(result: SubmissionResult, lang: Lang,
                 titles: ItemTitles | None = None) -> str:
    """The worksheet's feedback comment for ``result`` (HTML, at most ``MAX_CHARS``)."""
    view = feedback_view(result, titles, lang)
    if result.status in NOTHING_RAN:  # nothing to list item by item: the reason says it
        return _nothing_ran(result, view, lang)[:MAX_CHARS]
    for level in _LEVELS:
        text = _comment(result, view, lang, *level)
        if len(text) <= MAX_CHARS:
            return text
    return _totals_only(result, view, lang)[:MAX_CHARS]


def _comment(result: SubmissionResult, view: FeedbackView, lang: Lang, list_passed: bool,
             message_chars: int, explain_chars: int) -> str:
    parts = [_head(result, lang)]
    for group in view.groups:
        if group.title:
            parts.append(f"<p><strong>{_h(group.title)}</strong> {_pts(group)}</p>")
        items = [_item(r, message_chars) for r in group.rows
                 if list_passed or r.state is not ItemState.PASSED]
        passed = sum(r.state is ItemState.PASSED for r in group.rows)
        if not list_passed and passed:
            items.insert(0, f"<li>{mark(ItemState.PASSED)} {_h(word(ItemState.PASSED, lang))}"
                            f" {passed}</li>")
        items += [f"<li><em>{_h(tr(lang, ja='原因', en='Why'))}</em>: "
                  f"{_h(one_line(e, limit=explain_chars))}</li>" for e in group.explanations]
        if items:
            parts.append(f"<ul>{''.join(items)}</ul>")
    if view.notices:
        parts.append("<ul>" + "".join(f"<li>{_h(one_line(n, limit=explain_chars))}</li>"
                                      for n in view.notices) + "</ul>")
    return "".join(parts)


def _totals_only(result: SubmissionResult, view: FeedbackView, lang: Lang) -> str:
    lines = "".join(f"<li>{_h(g.title or tr(lang, ja='合計', en='total'))} {_pts(g)}</li>"
                    for g in view.groups)
    more = tr(lang, ja="詳しくはフィードバックファイルを見てください。",
              en="The feedback file has the details.")
    return f"{_head(result, lang)}<ul>{lines}</ul><p>{_h(more)}</p>"


def _nothing_ran(result: SubmissionResult, view: FeedbackView, lang: Lang) -> str:
    reason = f"<p>{_h(one_line(result.reason, limit=400))}</p>" if result.reason else ""
    notices = "".join(f"<li>{_h(one_line(n, limit=300))}</li>" for n in view.notices)
    return _head(result, lang) + reason + (f"<ul>{notices}</ul>" if notices else "")


def _head(result: SubmissionResult, lang: Lang) -> str:
    head = tr(lang, ja="自動採点", en="Autograder")
    return (f"<p>{head}: <strong>{result.score:g} / {result.max_score:g}</strong> "
            f"({_h(status_text(result.status, lang))})</p>")


def _item(row: ItemRow, message_chars: int) -> str:
    """``○ title 1/1``; an item that did not pass also says its state and its message."""
    text = f"{row.mark} {_h(row.title)} {row.points:g}/{row.max_points:g}"
    if row.state is not ItemState.PASSED:
        text += f" ({_h(row.word)})"
        if row.message:
            text += f" — {_h(one_line(row.message, limit=message_chars))}"
    return f"<li>{text}</li>"


def _pts(group: RowGroup) -> str:
    return f"{group.points:g}/{group.max_points:g}"


def _h(text: str) -> str:
    """Text for HTML: invisible and control characters gone, then escaped."""
    return html.escape(clean(text))
