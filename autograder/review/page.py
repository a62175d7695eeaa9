"""The review page's HTML (``templates/review.html.j2``, jinja2 autoescape).

Student text reaches it only through ``review_items`` (cleaned, cut, images verified as
PNG) and is escaped by the template; the page's one script is inline with a per-response
nonce, so the ``Content-Security-Policy`` the server sends forbids every other script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.i18n import Lang
from ..export.feedback import environment
from ..store.hand_grades import when_text
from .items import ReviewItem


@dataclass(frozen=True)
class FormError:
    """A save that was refused: shown at its item with what was typed."""

    position: int
    text: str
    points: str = ""
    comment: str = ""


def _texts(lang: Lang, items: Sequence[ReviewItem]) -> dict[str, str]:
    waiting = sum(1 for i in items if i.pending)
    texts = {
        "title": ("手動採点", "Hand grading"),
        "counts": (f"確認待ち {waiting} 件 / 全 {len(items)} 件",
                   f"{waiting} waiting / {len(items)} in all"),
        "shortcuts": ("Tab で移動 · Enter で保存 (コメント内の改行は Shift+Enter) · "
                 "Alt+↓ / Alt+↑ (入力欄の外では n / p) で次・前の解答へ",
                 "Tab moves · Enter saves (Shift+Enter: new line in a comment) · "
                 "Alt+Down / Alt+Up (n / p outside a field): next, previous answer"),
        "nothing": ("手で採点する解答はありません。", "Nothing to grade by hand."),
        "max": ("配点", "max"), "pending": ("確認待ち", "waiting"),
        "reviewed": ("採点済み", "graded"), "answer": ("学生の解答", "Student's answer"),
        "outputs": ("出力", "Outputs"), "figure": ("ノートブックの図", "figure"),
        "rubric": ("採点基準・解答例 (ソースノートブックのセル)",
                   "Rubric / model answer (the source notebook's cell)"),
        "empty": ("(空)", "(empty)"), "points": ("点数", "Points"),
        "comment": ("コメント (学生に表示されます)", "Comment (shown to the student)"),
        "save": ("保存", "Save"), "next": ("次へ", "Next"), "previous": ("前へ", "Previous"),
    }
    return {k: (en if lang == "en" else ja) for k, (ja, en) in texts.items()}


def fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def render_page(*, items: Sequence[ReviewItem], assignment_title: str, token: str,
                nonce: str, lang: Lang, focus: int | None = None, saved: str = "",
                error: FormError | None = None) -> str:
    """The whole page; ``focus`` (1-based) gets the cursor, ``error`` its item's message."""

    def form_points(item: ReviewItem, position: int) -> str:
        if error is not None and error.position == position:
            return error.points
        return "" if item.pending else fmt(item.points)

    def form_comment(item: ReviewItem, position: int) -> str:
        if error is not None and error.position == position:
            return error.comment
        return item.comment

    env = environment()
    env.filters.update(fmt=fmt, when=when_text)
    if focus is None:
        focus = next((n for n, i in enumerate(items, 1) if i.pending), 1)
    return env.get_template("review.html.j2").render(
        lang=lang, t=_texts(lang, items), assignment_title=assignment_title, items=items,
        token=token, nonce=nonce, focus=focus, saved=saved, error=error,
        form_points=form_points, form_comment=form_comment)
