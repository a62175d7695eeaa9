"""A person's grades on top of the grader's result: reviews and overrides.

The grader leaves every hand-graded answer (nbgrader ``grade: true, solution: true``,
not marked as completion credit in the manifest) at zero with ``review_state``
``pending``. A *review* (``autograder review``) gives it points and a comment; it
applies while the answer's text is the one reviewed (``answer_sha256``) and the item's
maximum is unchanged, so regrading the same answer keeps it and a changed answer or
rubric waits for a person again. An *override* (``autograder adjust``) changes a
submission's total; it belongs to that submission's bytes.

Both are applied when a result is read (``Gradebook.result``), never written into it:
the stored result stays what the grader computed, and every reader (results files,
feedback, worksheet, class report) sees the same total. While reviews are pending the
result carries a ``needs_review`` notice and its score is provisional.
"""

from __future__ import annotations

import datetime as dt
import getpass
import html
from collections.abc import Sequence
from dataclasses import replace

from ..core.i18n import Lang, tr
from ..core.results import REVIEW_DONE, CheckResult, Notice, Override, Review, SubmissionResult
from ..core.safetext import clean

NEEDS_REVIEW = "needs_review"
ADJUSTED = "adjusted"
_HAND_CODES = (NEEDS_REVIEW, ADJUSTED)


def apply_hand_grades(result: SubmissionResult, reviews: Sequence[Review],
                      overrides: Sequence[Override]) -> SubmissionResult:
    """``result`` with the reviews that match its answers and every override applied."""
    by_key = {(r.grade_id, r.answer_sha256): r for r in reviews}
    checks = [_reviewed(c, by_key.get((grade_id_of(c), c.answer_sha256)))
              for c in result.checks]
    notices = [n for n in result.notices if n.code not in _HAND_CODES]
    out = replace(result, checks=checks, notices=notices, overrides=list(overrides))
    if out.pending_reviews:
        out.notices.append(pending_notice(out.pending_reviews))
    out.notices.extend(override_notice(o) for o in overrides)
    return out


def grade_id_of(check: CheckResult) -> str:
    """The notebook cell behind a ``manual:<grade_id>`` item."""
    return check.name.partition(":")[2] if check.kind == "manual" else ""


def _reviewed(check: CheckResult, review: Review | None) -> CheckResult:
    if review is None or not check.needs_review or review.max_points != check.max_points:
        return check
    points = min(max(review.points, 0.0), check.max_points)
    return replace(check, points=points, passed=points >= check.max_points,
                   message=review.comment, review_state=REVIEW_DONE)


def pending_notice(pending: Sequence[CheckResult]) -> Notice:
    names = ", ".join(grade_id_of(c) for c in pending)
    return Notice(
        NEEDS_REVIEW,
        f"採点者の確認待ちの解答があります ({names})。確認が済むまで点数は暫定です",
        f"some answers wait for a person to grade them ({names}); until then the score"
        " is provisional")


def override_notice(override: Override) -> Notice:
    """What changed, and why (who and when are for the instructor, not the student)."""
    change = change_text(override)
    why = f": {clean(override.comment)}" if override.comment else ""
    return Notice(ADJUSTED, f"採点者が合計点を調整しました ({change} 点){why}",
                  f"the instructor adjusted the total ({change} points){why}")


def change_text(override: Override) -> str:
    """``+2``, ``-1.5`` or ``= 7``."""
    value = f"{override.points:g}"
    if not override.relative:
        return f"= {value}"
    return value if override.points < 0 else f"+{value}"


def review_label(check: CheckResult, lang: Lang) -> str:
    """A short word for an item's hand-grading state ("" when it has none)."""
    if check.needs_review:
        return tr(lang, ja="採点者の確認待ち (暫定)", en="waiting for review (provisional)")
    if check.review_state == REVIEW_DONE:
        return tr(lang, ja="採点者が採点", en="graded by the instructor")
    return ""


def hand_notes_html(result: SubmissionResult, lang: Lang) -> str:
    """The hand-grading part of the worksheet's feedback comment (escaped HTML)."""
    items = []
    for check in result.checks:
        label = review_label(check, lang)
        if not label:
            continue
        comment = f" — {_h(check.message)}" if check.review_state == REVIEW_DONE and \
            check.message else ""
        items.append(f"<li>{_h(grade_id_of(check))}: {check.points:g}/{check.max_points:g}"
                     f" ({_h(label)}){comment}</li>")
    for override in result.overrides:
        why = f" — {_h(override.comment)}" if override.comment else ""
        items.append(f"<li>{_h(tr(lang, ja='合計点の調整', en='total adjusted'))}: "
                     f"{_h(change_text(override))}{why}</li>")
    if not items:
        return ""
    head = tr(lang, ja="採点者による採点", en="Graded by the instructor")
    return f"<p>{_h(head)}</p><ul>{''.join(items)}</ul>"


def os_user() -> str:
    """Who is recording a grade, when ``--by`` does not say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER: still say something
        return "unknown"


def when_text(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") if at else "—"


def _h(text: str) -> str:
    return html.escape(clean(text))


def pending_export_notice(assignment_id: str, results: Sequence[SubmissionResult]
                          ) -> Notice | None:
    """``export``'s warning while answers wait for a person (their scores are provisional)."""
    waiting = [r for r in results if r.provisional]
    if not waiting:
        return None
    people, answers = len(waiting), sum(len(r.pending_reviews) for r in waiting)
    return Notice(
        "reviews_pending",
        f"採点者の確認待ちの解答が {people} 人分 {answers} 件あります。その点数は暫定 (0 点扱い)"
        f"です。`autograder review {assignment_id}` で採点してから書き出し直してください",
        f"{answers} answer(s) of {people} participant(s) still wait for review: their scores"
        f" are provisional (0 points so far). Grade them with `autograder review "
        f"{assignment_id}` and export again")
