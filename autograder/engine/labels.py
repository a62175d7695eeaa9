"""What graded items are called, and which question of the notebook each belongs to.

A graded item is a pytest check (``test_softmax_rows``), an in-notebook test cell
(``cell:test_softmax``) or a cell graded by a person (``manual:comments``). Students
read a *title*, in their language, found in this order:

1. the manifest's ``[labels]`` (``test_and = { ja = "AND ゲート", en = "AND gate" }``);
2. for a pytest check, the first line of its function's docstring (collected with the
   check, ``checks.describe_checks``); for a test cell, its first comment line as
   released (``# テスト：step``); for a manual cell, the heading above it;
3. the item's name.

Every source of a title is the instructor's text that students see anyway (never a
hidden region: cell titles come from the *released* text).

**Why questions are listed in the manifest (``[[questions]]``).** A pytest check has no
place in the notebook: it calls whatever names it needs, wherever they are defined, and
one check may concern several cells (XOR "built from the gates"). Guessing its question
from the notebook's headings would misplace exactly those checks, silently. So the
instructor lists each question's items, in the order students should read them, with a
bilingual title (an array of tables keeps that order and lets a title be in two
languages, which a ``title -> checks`` table could not). Items that no question lists come
last, under "その他 / Other"; without ``[[questions]]`` the feedback is one flat list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..core.config import Assignment, Question, Wording
from ..core.errors import ConfigError
from ..core.i18n import Lang, tr
from ..core.item_names import CELL_PREFIXES, named_items, unknown_item
from ..core.results import Notice

if TYPE_CHECKING:
    from nbformat import NotebookNode

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
_COMMENT = re.compile(r"^\s*#+\s*(?P<text>\S.*?)\s*$")


class Named(Protocol):
    @property
    def name(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Named)


@dataclass(frozen=True)
class Group(Generic[ItemT]):
    """One question's items, in the order the question lists them (``question`` is None
    for the items no question lists)."""

    question: Question | None
    items: tuple[ItemT, ...]

    def title(self, lang: Lang) -> str:
        if self.question is None:
            return tr(lang, ja="その他", en="Other")
        return self.question.title.text(lang)


@dataclass(frozen=True)
class ItemTitles:
    """Titles and questions of one assignment's graded items."""

    labels: Mapping[str, Wording] = field(default_factory=lambda: MappingProxyType({}))
    docs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    questions: tuple[Question, ...] = ()

    def title(self, name: str, lang: Lang) -> str:
        label = self.labels.get(name)
        if label is not None:
            return label.text(lang)
        return self.docs.get(name) or name

    def groups(self, items: Sequence[ItemT]) -> list[Group[ItemT]]:
        """``items`` grouped by question; one group (``question`` None) without any."""
        by_name = {item.name: item for item in items}
        groups: list[Group[ItemT]] = []
        placed: set[str] = set()
        for question in self.questions:
            found = tuple(by_name[n] for n in question.checks if n in by_name)
            placed.update(question.checks)
            if found:
                groups.append(Group(question, found))
        rest = tuple(item for item in items if item.name not in placed)
        if rest:
            groups.append(Group(None, rest))
        return groups


def item_titles(assignment: Assignment, *, source_nb: NotebookNode | None = None,
                check_docs: Mapping[str, str] | None = None) -> ItemTitles:
    """The titles of ``assignment``'s items: its manifest, its checks' docstrings
    (collected now unless ``check_docs`` is given) and its source notebook's cells."""
    if check_docs is None:
        from ..checks import describe_checks

        check_docs = {c.name: c.doc for c in describe_checks(assignment=assignment) if c.doc}
    if source_nb is None and assignment.source_notebook.is_file():
        from ..core.notebooks import read_notebook

        source_nb = read_notebook(assignment.source_notebook).nb
    docs = {**(cell_docs(source_nb) if source_nb is not None else {}), **check_docs}
    return ItemTitles(assignment.labels, MappingProxyType(docs), assignment.questions)


def titles_for_export(assignment: Assignment) -> tuple[ItemTitles, list[Notice]]:
    """``item_titles``, or (when the checks cannot be collected now: a broken test file,
    a label for a check that was renamed) the manifest's titles alone and a notice that
    says why: titles never stop an export of grades already given."""
    try:
        return item_titles(assignment), []
    except ConfigError as exc:
        titles = ItemTitles(assignment.labels, questions=assignment.questions)
        return titles, [Notice("titles", f"チェックの題名を集められませんでした: {exc.render()}",
                               f"the checks' titles could not be collected: {exc.render()}")]


def cell_docs(source_nb: NotebookNode) -> dict[str, str]:
    """Titles of the test cells (first comment line as released) and manual cells (the
    heading above them) of a source notebook."""
    from .cells.cell_tests import test_cell_name
    from .cells.scores import manual_cell_name
    from .restore import index_source

    docs: dict[str, str] = {}
    for sc in index_source(source_nb):
        if sc.is_test:
            line = _first_comment(sc.released)
            if line:
                docs[test_cell_name(sc.grade_id)] = line
        elif sc.is_manual:
            heading = _heading_above(source_nb.cells, sc.position)
            if heading:
                docs[manual_cell_name(sc.grade_id)] = heading
    return docs


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            found = _COMMENT.match(line)
            return found["text"][:120] if found else ""
    return ""


def _heading_above(cells: Sequence[Any], position: int) -> str:
    for cell in reversed(cells[:position]):
        if cell.get("cell_type") != "markdown":
            continue
        for line in str(cell.get("source", "")).splitlines():
            found = _HEADING.match(line)
            if found:
                return found["text"].replace("`", "")[:120]
    return ""


# ---------------------------------------------------------------- names in the manifest

def check_named_cells(assignment: Assignment, source_nb: NotebookNode) -> None:
    """Raise ``ConfigError`` for a ``cell:``/``manual:`` name that is not a graded test
    cell / manually graded cell of the source notebook."""
    from .cells.cell_tests import test_cell_name
    from .cells.scores import manual_cell_name
    from .restore import index_source

    cells = {test_cell_name(sc.grade_id) if sc.is_test else manual_cell_name(sc.grade_id)
             for sc in index_source(source_nb) if sc.is_test or sc.is_manual}
    for name, where in named_items(assignment):
        if name.startswith(CELL_PREFIXES) and name not in cells:
            unknown_item(assignment, name, where, cells,
                     "cell:<grade_id> names a graded test cell, manual:<grade_id> a cell "
                     "graded by hand (grade_id from the notebook's nbgrader metadata)")
