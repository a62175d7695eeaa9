"""Which worksheet rows a submission from Moodle's zip is for.

The zip names each submission's owner by a number and a name: a participant id and the
student's full name, or, for a Moodle 4.1+ team submission, a *group* id and the group's
name. Nothing in the zip tells the two apart when no member is outside every group (no
``Default group`` folder), and a group id is just as likely to be some other student's
participant id. Writing a grade to the row of that number would give one student's grade
to another. The worksheet tells them apart: its row for the number has the student's
full name, and its ``Group`` column the groups' names. So before a grade is written:

- a submission whose name is the row's name (order of the words aside, a 3.x group
  prefix ``Group A-`` aside) is that row's;
- one whose name is a group's, not the row's, is that group's: every member's row gets
  it;
- one whose name is neither is written nowhere, and said;
- the ``Default group`` submission (everyone in no group shares it) goes to the rows
  whose ``Group`` cell is empty or names it.

Names are compared after what Moodle does to them on the way into the zip: ``_`` made a
space, ``& < > " ` | ' : \\ /`` removed (``clean_filename``), HTML entities of
``format_string`` (``R&D`` → ``R&amp;D`` → ``Ramp;D``). A blind-marking folder
(``Participant``, ``参加者``) or a worksheet without the ``Full name`` column has nothing to
compare: the number decides, as before.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core.results import Notice
from ..core.safetext import clean
from .feedback_zip import clean_filename
from .model import BLIND_WORDS
from .worksheet import GradeEntry, Worksheet
from .zipintake import DEFAULT_GROUP_ID

_ENTITY_LEFT = re.compile(r"(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);")


@dataclass(frozen=True)
class Submitter:
    name: str            # the name in the zip's folder: a student's, or a group's
    entry: GradeEntry
    is_group: bool       # known to be a team submission (intake saw it)


@dataclass
class Assigned:
    grades: dict[str, GradeEntry] = field(default_factory=dict)   # participant id -> grade
    notices: list[Notice] = field(default_factory=list)


def name_key(text: str) -> str:
    """A name as it compares: HTML entities undone, what the zip's names lose removed,
    case and spacing folded."""
    text = _ENTITY_LEFT.sub("", clean_filename(html.unescape(text).replace("_", " ")))
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def same_person(folder: str, sheet: str) -> bool:
    """The zip's ``folder`` name and the worksheet's ``sheet`` name are one student's."""
    a, b = name_key(folder), name_key(sheet)
    if not a or not b:
        return False
    if a == b or a.replace(" ", "") == b.replace(" ", "") or a.endswith("-" + b):
        return True
    words_a, words_b = a.split(), b.split()
    return sorted(words_a) == sorted(words_b) or set(words_a) < set(words_b) or \
        set(words_b) < set(words_a)


def group_members(ws: Worksheet, group: str) -> list[str]:
    """The participants whose ``Group`` cell names ``group`` (as the zip wrote it)."""
    want = name_key(group)
    if "group" not in ws.columns or not want:
        return []
    return [pid for pid in ws.rows
            if any(name_key(g) == want for g in _groups_of(ws.value(pid, "group") or ""))]


def _groups_of(cell: str) -> list[str]:
    # a member of several groups: Moodle joins their names with ", "
    return [cell, *cell.split(", ")] if ", " in cell else [cell]


def assign_rows(ws: Worksheet, submitters: Mapping[str, Submitter]) -> Assigned:
    """The grade of each row, from submissions keyed by the zip's number (participant id,
    or group id for a known team submission)."""
    out = Assigned()
    for number, sub in submitters.items():
        if sub.is_group:
            _to_group(ws, number, sub, out)
        elif number in ws.rows and _is_the_row(ws, number, sub.name):
            out.grades[number] = sub.entry
        elif group_members(ws, sub.name):
            out.notices.append(_team_detected(number, sub.name))
            _to_group(ws, number, sub, out)
        elif number not in ws.rows:   # fill_worksheet names it: not in the worksheet
            out.grades[number] = sub.entry
        else:
            out.notices.append(_mismatch(number, sub.name, _row_name(ws, number)))
    return out


def _is_the_row(ws: Worksheet, number: str, name: str) -> bool:
    """The row's student, or nothing to compare: a blind-marking name, no ``Full name``
    column, an empty cell."""
    sheet = _row_name(ws, number)
    blind = name_key(name) in {name_key(word) for word in BLIND_WORDS}
    return (blind or "full_name" not in ws.columns or not name_key(sheet)
            or same_person(name, sheet))


def _row_name(ws: Worksheet, number: str) -> str:
    return ws.value(number, "full_name") or ""


def _to_group(ws: Worksheet, number: str, sub: Submitter, out: Assigned) -> None:
    members = group_members(ws, sub.name)
    if not members and number == DEFAULT_GROUP_ID and "group" in ws.columns:
        # Moodle's one submission of everyone in no group: their Group cells are empty
        members = [pid for pid in ws.rows if not (ws.value(pid, "group") or "").strip()]
    if not members:
        name = clean(sub.name)
        out.notices.append(Notice(
            "group_not_in_worksheet",
            f"グループ「{name}」(ID {number}) の評点は、ワークシートの「グループ」列にその名前の"
            "参加者がいないため、どこにも書いていません",
            f"the grade of group “{name}” (id {number}) was written nowhere: no row of the"
            " worksheet has that name in its Group column"))
    out.grades.update({pid: sub.entry for pid in members})


def _team_detected(number: str, name: str) -> Notice:
    name = clean(name)
    return Notice(
        "team_detected",
        f"zip の「{name}_{number}」はグループ「{name}」の提出と判断し、そのメンバー全員に同じ"
        f"評点を書きました (ID {number} はグループの ID で、参加者 {number} のものではありません)",
        f"“{name}_{number}” in the zip is group “{name}”’s submission: every member got its"
        f" grade (id {number} is the group's, not participant {number}'s)")


def _mismatch(number: str, folder: str, sheet: str) -> Notice:
    folder, sheet = clean(folder), clean(sheet)
    return Notice(
        "name_mismatch",
        f"ID {number}: zip の名前「{folder}」がワークシートの「{sheet}」とも、どのグループ名とも"
        "合わないため、評点を書いていません。zip とワークシートが同じ課題のものか確かめてください",
        f"id {number}: the zip's name “{folder}” is neither the worksheet's “{sheet}” nor a"
        " group's, so no grade was written; check that the zip and the worksheet are of the"
        " same assignment")
