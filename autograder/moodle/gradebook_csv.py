"""Grades for Moodle's gradebook import (Grades ▸ Import ▸ CSV file), and a plain table.

Use this when no grading worksheet is at hand. Moodle's gradebook import maps one column
to a user field (``useridnumber``, ``username`` or ``useremail``) and stops at the first
user it does not know; ``-`` (or empty) means "no grade". Imported grades become
*overridden* in the gradebook and can no longer be changed from the assignment, so the
worksheet route is better when it is possible.

The zip gives participants by participant id and display name only, so the instructor's
roster (a CSV with an ID number, user name or email column) is joined to them by the
participant identifier when the roster has one (a grading worksheet does), else by full
name (or first + last name, either order), compared after Moodle's own file-name cleaning,
NFKC and without white space. A name that matches several roster rows is not guessed.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..core.errors import ExportError
from ..core.i18n import tr
from ..core.results import GRADER_FAILURES, Notice
from .feedback_zip import clean_filename
from .grades import GradeFormat, scale

KEY_COLUMNS: Mapping[str, tuple[str, ...]] = {   # Moodle's "map to" -> header names
    "useridnumber": ("ID number", "ID番号", "idnumber", "ID Number"),
    "username": ("Username", "ユーザ名", "username"),
    "useremail": ("Email address", "メールアドレス", "email", "Email"),
}
_IDENTIFIER_COLUMNS = ("Identifier", "ID", "participant_id")
_FULL_NAME_COLUMNS = ("Full name", "フルネーム", "fullname", "氏名", "name")
_FIRST_NAME_COLUMNS = ("First name", "名", "firstname")
_LAST_NAME_COLUMNS = ("Last name", "Surname", "姓", "lastname")
_IDENTIFIER = re.compile(r"^\D*?(\d+)$")


_GRADER_FAILED = frozenset(status.value for status in GRADER_FAILURES)


@dataclass(frozen=True)
class GradeRecord:
    participant_id: str
    display_name: str
    score: float | None        # None: no grade (nothing gradable, or the grader failed)
    max_score: float
    status: str = ""
    # (item name, points) of each graded item: one column per item in ``grades.csv``
    items: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Roster:
    where: str
    headers: tuple[str, ...]
    rows: tuple[dict[str, str], ...]


def read_roster(path: Path) -> Roster:
    """A roster CSV (UTF-8 with or without BOM, or CP932 from Excel)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = exc.strerror or exc
        raise ExportError(tr(ja=f"名簿を読めません: {why}", en=f"cannot read the roster: {why}"),
                          where=str(path),
                          hint=tr(ja="参加者の一覧を CSV で書き出してください",
                                  en="export the participants list as CSV")) from exc
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ExportError(tr(ja="名簿が UTF-8 でも CP932 でもありません",
                             en="the roster is neither UTF-8 nor CP932 text"), where=str(path))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = tuple({k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader)
    return Roster(str(path), tuple(reader.fieldnames or ()), rows)


def _first_present(roster: Roster, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in roster.headers), None)


def choose_key_column(roster: Roster, key: str | None = None) -> tuple[str, str]:
    """(header, Moodle field) of the column to map users by: ID number, user name, email."""
    if key is not None:
        if key not in roster.headers:
            has = list(roster.headers)
            raise ExportError(tr(ja=f"名簿に列 {key!r} がありません(あるもの: {has})",
                                 en=f"the roster has no column {key!r} (it has {has})"),
                              where=roster.where,
                              hint=tr(ja="名簿にある列の名前を指定してください",
                                      en="name one of the roster's columns"))
        field_name = next((f for f, names in KEY_COLUMNS.items() if key in names), "")
        return key, field_name
    for field_name, names in KEY_COLUMNS.items():
        header = _first_present(roster, names)
        if header and all(row.get(header) for row in roster.rows):
            return header, field_name
    raise ExportError(tr(ja="名簿に、全員分そろった ID 番号・ユーザ名・メールアドレスの列が"
                            "ありません",
                         en="no complete ID number, user name or email column in the roster"),
                      where=roster.where,
                      hint=tr(ja="これらの欄のどれかを含めて参加者を書き出すか、--roster-key"
                                 " を指定してください",
                              en="export the participants with one of these fields, or pass"
                                 " key="))


def _name_key(text: str) -> str:
    text = clean_filename(text.replace("_", " "))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def _roster_names(roster: Roster, row: dict[str, str]) -> set[str]:
    names: set[str] = set()
    full = _first_present(roster, _FULL_NAME_COLUMNS)
    if full and row.get(full):
        names.add(_name_key(row[full]))
    first = _first_present(roster, _FIRST_NAME_COLUMNS)
    last = _first_present(roster, _LAST_NAME_COLUMNS)
    if first and last and (row.get(first) or row.get(last)):
        names.add(_name_key(row[first] + row[last]))
        names.add(_name_key(row[last] + row[first]))
    return names


@dataclass
class Matching:
    rows: dict[str, int] = field(default_factory=dict)     # participant id -> roster row
    unmatched: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)


def match_roster(roster: Roster, records: Sequence[GradeRecord]) -> Matching:
    """Which roster row each participant is (see the module docstring)."""
    result = Matching()
    ident = _first_present(roster, _IDENTIFIER_COLUMNS)
    by_id: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    for index, row in enumerate(roster.rows):
        found = _IDENTIFIER.match(row.get(ident, "")) if ident else None
        if found:
            by_id.setdefault(found[1], []).append(index)
        for name in _roster_names(roster, row):
            by_name.setdefault(name, []).append(index)
    for record in records:
        hits = (by_id.get(record.participant_id, []) if ident
                else by_name.get(_name_key(record.display_name), []))
        if len(hits) == 1:
            result.rows[record.participant_id] = hits[0]
        else:
            (result.ambiguous if hits else result.unmatched).append(record.participant_id)
    return result


@dataclass
class GradebookImport:
    key_column: str            # the roster column written first
    moodle_field: str          # what to choose as "Map to" on Moodle's import page
    rows: list[tuple[str, str]]
    matching: Matching
    notices: list[Notice] = field(default_factory=list)
    grade_column: str = "Grade"

    def to_bytes(self, *, encoding: str = "utf-8-sig") -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([self.key_column, self.grade_column])
        writer.writerows(self.rows)
        try:
            return out.getvalue().encode(encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            raise ExportError(tr(ja=f"評定表の CSV を {encoding} で書けません: {exc}",
                                 en=f"the gradebook CSV cannot be written in {encoding}: {exc}"),
                              hint=tr(ja="UTF-8 (utf-8-sig) で書いてください",
                                      en="write it in UTF-8 (utf-8-sig)")) from exc


def gradebook_import(*, roster: Roster, records: Sequence[GradeRecord], maximum: float,
                     key: str | None = None, decimals: int = 2, missing_zero: bool = False,
                     grade_column: str = "Grade") -> GradebookImport:
    """One row per roster user: the key column and the grade (``-`` for none)."""
    header, moodle_field = choose_key_column(roster, key)
    matching = match_roster(roster, records)
    fmt = GradeFormat(decimals=decimals)
    grades: dict[int, str] = {}
    for record in records:
        row = matching.rows.get(record.participant_id)
        if row is None:
            continue
        if record.score is not None:
            value = scale(record.score, record.max_score, Decimal(str(maximum)), fmt).value
            grades[row] = fmt.format(value)
        elif record.status in _GRADER_FAILED:  # never a 0, even with missing_zero
            grades[row] = "-"
    empty = fmt.format(Decimal(0)) if missing_zero else "-"
    rows = [(row[header], grades.get(i, empty)) for i, row in enumerate(roster.rows)
            if row.get(header)]
    result = GradebookImport(header, moodle_field, rows, matching, grade_column=grade_column)
    result.notices.extend(_matching_notices(matching))
    return result


def _matching_notices(matching: Matching) -> list[Notice]:
    notices = []
    if matching.unmatched:
        ids = ", ".join(matching.unmatched)
        notices.append(Notice("roster_unmatched", f"名簿に見つからない参加者: {ids}",
                              f"participants not found in the roster: {ids}"))
    if matching.ambiguous:
        ids = ", ".join(matching.ambiguous)
        notices.append(Notice("roster_ambiguous",
                              f"名簿の複数の行に当てはまるため評点を書かなかった参加者: {ids}",
                              f"participants matching several roster rows (no grade written): "
                              f"{ids}"))
    return notices


def write_gradebook_csv(result: GradebookImport, path: Path, *,
                        encoding: str = "utf-8-sig") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(result.to_bytes(encoding=encoding))
    return path


def write_grades_table(records: Sequence[GradeRecord], path: Path, *,
                       maximum: float | None = None, decimals: int = 2) -> Path:
    """A plain ``grades.csv`` (UTF-8 with BOM, so Excel reads it) of every participant:
    the score, then one column of points per graded item (named by the item, in the
    order items first appear; empty where a row lacks it)."""
    import pandas as pd  # imported here: only this table needs it

    fmt = GradeFormat(decimals=decimals)
    base = ["participant_id", "name", "status", "score", "max_score", "grade"]
    items = list(dict.fromkeys(name for r in records for name, _ in r.items
                               if name not in base))
    table = pd.DataFrame([{
        "participant_id": r.participant_id, "name": r.display_name, "status": r.status,
        "score": r.score, "max_score": r.max_score,
        "grade": (None if maximum is None or r.score is None or r.max_score <= 0 else
                  float(scale(r.score, r.max_score, Decimal(str(maximum)), fmt).value)),
        **dict(r.items),
    } for r in records], columns=base + items)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, encoding="utf-8-sig")
    return path
