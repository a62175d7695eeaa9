"""One submission's graded items as every report shows them: grouped by question,
titled, with a state (合格 / 部分点 / 不合格 / 未実行 / 採点待ち), and the explanations
(``missing_name`` notices, ``explain.py``) next to the question whose items they explain.

The feedback HTML, the graded notebook's summary and the worksheet comment all render
these rows, so they agree on titles, groups and states. Texts are ``safetext.clean``ed
here; escaping stays with each writer (jinja2 autoescape, markdown, ``html.escape``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.i18n import Lang
from ..core.results import CheckResult, SubmissionResult
from ..core.safetext import clean, one_line
from ..engine.explain import CODE as EXPLANATION
from ..engine.labels import ItemTitles
from ..store.hand_grades import review_label
from .item_states import ItemState, mark, state_of, word


@dataclass(frozen=True)
class ItemRow:
    name: str
    title: str
    state: ItemState
    word: str            # the state in the reader's language
    mark: str            # ○ △ × − ？
    points: float
    max_points: float
    message: str


@dataclass(frozen=True)
class RowGroup:
    title: str                       # "" for the one flat list of an assignment without questions
    rows: tuple[ItemRow, ...]
    explanations: tuple[str, ...]    # why some of its items failed

    @property
    def points(self) -> float:
        return sum(r.points for r in self.rows)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.rows)


@dataclass(frozen=True)
class FeedbackView:
    groups: tuple[RowGroup, ...]
    notices: tuple[str, ...]         # the notices no group shows, cleaned


def feedback_view(result: SubmissionResult, titles: ItemTitles | None,
                  lang: Lang) -> FeedbackView:
    """The rows of ``result`` by question; each explanation goes to the first group
    holding one of the items it explains, every other notice stays on top."""
    titles = titles or ItemTitles()
    explained = [n for n in result.notices if n.code == EXPLANATION]
    placed: set[int] = set()
    groups = []
    for group in titles.groups(result.checks):
        names = {c.name for c in group.items}
        mine = [i for i, n in enumerate(explained) if i not in placed and names & set(n.checks)]
        placed.update(mine)
        heading = group.title(lang) if titles.questions else ""
        groups.append(RowGroup(one_line(heading, limit=200),
                               tuple(_row(c, result, titles, lang) for c in group.items),
                               tuple(clean(explained[i].text(lang)) for i in mine)))
    unplaced = {id(n) for i, n in enumerate(explained) if i not in placed}
    notices = tuple(clean(n.text(lang)) for n in result.notices
                    if n.code != EXPLANATION or id(n) in unplaced)
    return FeedbackView(tuple(groups), notices)


def _row(check: CheckResult, result: SubmissionResult, titles: ItemTitles,
         lang: Lang) -> ItemRow:
    state = state_of(check, result.status)
    # an item that never ran carries the submission's reason, which the reports show once
    repeated = state is ItemState.NOT_RUN and check.message == result.reason
    return ItemRow(name=one_line(check.name, limit=200),
                   title=one_line(titles.title(check.name, lang), limit=200),
                   state=state, word=word(state, lang), mark=mark(state),
                   points=check.points, max_points=check.max_points,
                   message="" if repeated else _with_review(check, state, lang))


def _with_review(check: CheckResult, state: ItemState, lang: Lang) -> str:
    """The message, after "graded by the instructor" for a cell a person graded (a cell
    still waiting says so in its state word already)."""
    label = "" if state is ItemState.NEEDS_REVIEW else review_label(check, lang)
    message = clean(check.message)
    return f"{label}: {message}" if label and message else label or message
