"""Moodle's grading worksheet: read it, write grades and feedback into it, write it back.

Moodle's uploader (mod/assign/feedback/offline) rejects the whole file when a row has
another number of fields than the header, needs the headers ``Identifier``, ``Grade`` and
``Last modified (grade)`` in the uploader's language, reads the participant id after the
identifier prefix (``Participant `` / ``参加者``) and silently skips a row whose grade is
empty, negative, above the maximum, unchanged, or older than the grade stored in Moodle.
So the only safe way to fill a worksheet is the one used here: keep the downloaded file's
header, rows, columns, quoting and ``Last modified (grade)`` text byte for byte, and write
only the ``Grade`` and ``Feedback comments`` cells.

Columns are found by their header text, in English or Japanese (``labels=`` adds other
languages); the identifier prefix is read from the file. Grades are scaled to each row's
``Maximum Grade`` and formatted like the file's grades (see ``grades``).

Encodings: the output is UTF-8 with a BOM by default (choose UTF-8 when uploading), or
CP932 for those who must open it in Excel on Japanese Windows (choose CP932, or SJIS-WIN /
SHIFT_JIS where CP932 is not listed; ``upload_instructions`` says so). In CP932, a feedback
character outside plain Shift_JIS (emoji, ①, 髙: CP932's NEC/IBM extensions are unknown to
older Moodle's Shift_JIS decoder) is written as an HTML character reference
(``&#x1F600;``), which Moodle displays as the same character, so nothing is lost; a
character CP932 lacks in any *other* cell (a name, say) cannot be changed by us and raises
``ExportError`` naming the line and column.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..core.errors import ExportError
from ..core.i18n import tr
from ..core.results import Notice
from . import csvraw
from .csvraw import Field, Record
from .grades import GradeFormat, detect_format, parse_grade, scale

LABELS: Mapping[str, tuple[str, ...]] = {
    "identifier": ("Identifier", "ID"),
    "grade": ("Grade", "評点"),
    "maximum": ("Maximum Grade", "最大評点"),
    "scale": ("Scale", "評価尺度", "尺度"),
    "can_change": ("Grade can be changed", "評点変更可"),
    "last_modified": ("Last modified (grade)", "最終更新日時 (評定)"),
    "feedback": ("Feedback comments", "フィードバックコメント"),
    "full_name": ("Full name", "フルネーム"),
    "group": ("Group", "グループ"),
}
REQUIRED = ("identifier", "grade", "last_modified")
ENCODINGS = ("utf-8-sig", "utf-8", "cp932")
_DELIMITERS = (",", ";", "\t")
_IDENTIFIER = re.compile(r"^(?P<prefix>.*?)(?P<id>\d+)$", re.DOTALL)
_NO = frozenset({"no", "いいえ"})
_FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True)
class GradeEntry:
    score: float | None        # points earned; None leaves the grade cell alone
    max_score: float           # the notebook's total points
    feedback_html: str = ""
    missing: bool = False      # nothing gradable was submitted: ``missing_zero`` applies


@dataclass
class Worksheet:
    where: str                 # the file, for messages
    encoding: str              # how the file was read: utf-8-sig, utf-8, cp932 or utf-16
    delimiter: str
    header: Record
    records: list[Record]      # the rows below the header, blank lines included
    columns: dict[str, int]    # canonical key (see LABELS) -> column index
    identifier_prefix: str     # 'Participant ', '参加者', ...
    rows: dict[str, int]       # participant id -> index into records
    grade_format: GradeFormat

    @property
    def participant_ids(self) -> list[str]:
        return list(self.rows)

    def label(self, key: str) -> str:
        return self.header.fields[self.columns[key]].value.lstrip("\ufeff")

    def value(self, participant_id: str, key: str) -> str | None:
        if key not in self.columns or participant_id not in self.rows:
            return None
        return self.records[self.rows[participant_id]].fields[self.columns[key]].value

    def maximum(self, participant_id: str) -> Decimal | None:
        text = self.value(participant_id, "maximum")
        return None if text is None else parse_grade(text)


def read_worksheet(path: Path, *, labels: Mapping[str, tuple[str, ...]] | None = None) -> Worksheet:
    """Read a worksheet downloaded from Moodle (or re-saved by Excel)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = exc.strerror or exc
        raise ExportError(tr(ja=f"ワークシートを読めません: {why}",
                             en=f"cannot read the worksheet: {why}"), where=str(path),
                          hint=tr(ja="Moodle から取り直してください: 課題 ▸ すべての提出を表示 ▸ "
                                     "評定操作 ▸ 評定ワークシートをダウンロードする",
                                  en="download it from Moodle: Assignment ▸ View all submissions"
                                     " ▸ Grading action ▸ Download grading worksheet")) from exc
    return parse_worksheet(data, where=str(path), labels=labels)


def parse_worksheet(data: bytes, *, where: str = "worksheet",
                    labels: Mapping[str, tuple[str, ...]] | None = None) -> Worksheet:
    text, encoding = _decode(data, where)
    known = {**LABELS, **(labels or {})}
    delimiter, records = _split(text, known, where)
    header, body = records[0], records[1:]
    columns = _find_columns(header, known, where)
    prefix, rows = _index_rows(body, header, columns["identifier"], where)
    grades = [r.fields[columns["grade"]].value for r in body if not r.is_blank]
    maxima = ([r.fields[columns["maximum"]].value for r in body if not r.is_blank]
              if "maximum" in columns else [])
    fmt = detect_format(grades, default=detect_format(maxima))
    return Worksheet(where=where, encoding=encoding, delimiter=delimiter, header=header,
                     records=body, columns=columns, identifier_prefix=prefix, rows=rows,
                     grade_format=fmt)


def _decode(data: bytes, where: str) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tabs
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ExportError(tr(ja=f"ワークシートが UTF-16 として正しくありません: {exc}",
                                 en=f"the worksheet is not valid UTF-16: {exc}"),
                              where=where, hint=_download_again()) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ExportError(tr(ja=f"ワークシートが UTF-8 として正しくありません: {exc}",
                                 en=f"the worksheet is not valid UTF-8: {exc}"),
                              where=where) from exc
    for encoding in ("utf-8", "cp932"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ExportError(tr(ja="ワークシートが UTF-8 でも CP932 でも UTF-16 でもありません",
                         en="the worksheet is neither UTF-8 nor CP932 nor UTF-16 text"),
                      where=where,
                      hint=_download_again())


def _split(text: str, known: Mapping[str, tuple[str, ...]],
           where: str) -> tuple[str, list[Record]]:
    identifiers = set(known["identifier"])
    first_line = text.split("\n", 1)[0]
    for delimiter in _DELIMITERS:
        header = csvraw.parse(first_line.rstrip("\r"), delimiter=delimiter, where=where)
        if header and identifiers & {v.lstrip("\ufeff") for v in header[0].values}:
            return delimiter, csvraw.parse(text, delimiter=delimiter, where=where)
    names, head = " / ".join(sorted(identifiers)), repr(first_line[:200])
    raise ExportError(
        tr(ja=f"見出し行に識別子の列 ({names}) がありません: {head}",
           en=f"no identifier column ({names}) in the header: {head}"), where=where,
        hint=tr(ja="Moodle からダウンロードした評定ワークシートを渡してください(ほかの言語の"
                   "サイトなら labels={'identifier': ('…',), ...})",
                en="pass the grading worksheet downloaded from Moodle; for a site in another "
                   "language give labels={'identifier': ('…',), ...}"))


def _find_columns(header: Record, known: Mapping[str, tuple[str, ...]],
                  where: str) -> dict[str, int]:
    values = [v.lstrip("\ufeff") for v in header.values]
    columns: dict[str, int] = {}
    for key, names in known.items():
        found = [i for i, v in enumerate(values) if v in names]
        if found:
            columns[key] = found[0]
    missing = [known[k][0] for k in REQUIRED if k not in columns]
    if missing:
        lacks, present = ", ".join(missing), ", ".join(values)
        raise ExportError(tr(ja=f"見出し行に {lacks} がありません(あるもの: {present})",
                             en=f"the header lacks {lacks} (found: {present})"), where=where,
                          hint=tr(ja="Moodle の取り込みにはこれらの列が要ります: ワークシートを"
                                     "取り直すか、labels= で名前を指定してください",
                                  en="Moodle's uploader needs these columns: download the"
                                     " worksheet again, or give labels= for them"))
    return columns


def _index_rows(body: list[Record], header: Record, column: int,
                where: str) -> tuple[str, dict[str, int]]:
    width = len(header.fields)
    prefixes: set[str] = set()
    rows: dict[str, int] = {}
    for index, record in enumerate(body):
        if record.is_blank:
            continue
        if len(record.fields) != width:
            count = len(record.fields)
            raise ExportError(
                tr(ja=f"{record.line} 行目の欄の数が {count} で、見出し行は {width} です",
                   en=f"line {record.line} has {count} fields, the header {width}"),
                where=where, hint=tr(ja="Moodle はこのファイルを受け付けません: ワークシートを"
                                        "取り直してください(表計算ソフトが行を壊すことがあります)",
                                     en="Moodle rejects such a file: download the worksheet"
                                        " again (spreadsheet programs sometimes break rows)"))
        found = _IDENTIFIER.match(record.fields[column].value)
        if found is None or found["id"] in rows:
            value = repr(record.fields[column].value)
            raise ExportError(
                tr(ja=f"{record.line} 行目の参加者の識別子が"
                      f"{'重複しています' if found else 'ありません'} ({value})",
                   en=f"line {record.line} has {'a duplicate' if found else 'no'} participant"
                      f" identifier ({value})"), where=where, hint=_download_again())
        prefixes.add(found["prefix"])
        rows[found["id"]] = index
    if len(prefixes) > 1:
        raise ExportError(tr(ja=f"識別子の接頭辞が何種類もあります: {sorted(prefixes)}",
                             en=f"identifiers use several prefixes: {sorted(prefixes)}"),
                          where=where,
                          hint=tr(ja="Moodle からダウンロードしたワークシート 1 つをそのまま"
                                     "使ってください",
                                  en="use one worksheet downloaded from Moodle as it is"))
    return (prefixes.pop() if prefixes else ""), rows


def sanitise_feedback(html: str) -> str:
    """Feedback HTML that keeps the CSV valid and is never read as a spreadsheet formula."""
    text = html.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    # PHP's CSV reader treats a backslash before a quote as an escape; an entity shows the same.
    text = text.replace("\\", "&#92;")
    if text.lstrip().startswith(_FORMULA_START):
        text = f"<p>{text}</p>"
    return text


@dataclass
class FilledWorksheet:
    worksheet: Worksheet
    changes: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> value
    updated: list[str] = field(default_factory=list)           # ids whose grade was written
    not_in_worksheet: list[str] = field(default_factory=list)  # graded, but no row
    notices: list[Notice] = field(default_factory=list)

    def to_bytes(self, *, encoding: str = "utf-8-sig") -> bytes:
        """The worksheet as Moodle's uploader will read it in ``encoding``."""
        _check_encoding(encoding)
        ws = self.worksheet
        records = [ws.header] + [self._record(i, r, encoding) for i, r in enumerate(ws.records)]
        if encoding == "cp932":
            _check_cp932(records, ws)
        text = csvraw.render(records, delimiter=ws.delimiter)
        return (b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b"") + text.encode(
            "utf-8" if encoding.startswith("utf-8") else encoding)

    def _record(self, index: int, record: Record, encoding: str) -> Record:
        fields = list(record.fields)
        for column, value in ((c, v) for (i, c), v in self.changes.items() if i == index):
            if encoding == "cp932":
                value = _cp932_entities(value)
            fields[column] = Field(value, csvraw.quote(value, delimiter=self.worksheet.delimiter))
        return Record(tuple(fields), record.terminator, record.line)


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ExportError(tr(ja=f"ワークシートの文字コード {encoding!r} には対応していません",
                             en=f"unsupported worksheet encoding {encoding!r}"),
                          hint=tr(ja=f"{', '.join(ENCODINGS)} のどれかにしてください",
                                  en=f"use one of {', '.join(ENCODINGS)}"))


def _cp932_entities(text: str) -> str:
    return "".join(char if _plain_shift_jis(char) else f"&#x{ord(char):X};" for char in text)


def _plain_shift_jis(char: str) -> bool:
    try:
        char.encode("cp932")
        char.encode("shift_jis")
    except UnicodeEncodeError:
        return False
    return True


_SEPARATORS = {",": ("カンマ", "comma"), ";": ("セミコロン", "semicolon"), "\t": ("タブ", "tab")}


def upload_instructions(encoding: str, delimiter: str = ",") -> Notice:
    """What to choose on Moodle's "Upload grading worksheet" form for ``encoding`` and the
    worksheet's ``delimiter`` (Excel may have made it a semicolon or a tab: kept)."""
    _check_encoding(encoding)
    sep_ja, sep_en = _SEPARATORS.get(delimiter, _SEPARATORS[","])
    if encoding == "cp932":
        name_ja = "CP932 (一覧にない場合は SJIS-WIN、それもなければ SHIFT_JIS)"
        name_en = "CP932 (else SJIS-WIN, else SHIFT_JIS)"
    else:
        name_ja = name_en = "UTF-8"
    return Notice("upload_encoding",
                  f"Moodle の「評定ワークシートをアップロードする」でエンコーディングに {name_ja}"
                  f"、区切り文字に「{sep_ja}」を選んでください",
                  f"on Moodle's “Upload grading worksheet”, choose the encoding {name_en} and"
                  f" the separator “{sep_en}”")


def _check_cp932(records: list[Record], ws: Worksheet) -> None:
    header = [v.lstrip("\ufeff") for v in ws.header.values]
    for record in records:
        for column, cell in enumerate(record.fields):
            try:
                cell.raw.encode("cp932")
            except UnicodeEncodeError as exc:
                bad = cell.raw[exc.start:exc.end]
                at, char = f"line {record.line}, column “{header[column]}”", \
                    f"{bad!r} (U+{ord(bad[0]):04X})"
                raise ExportError(
                    tr(ja=f"{at}: {char} は CP932 で書けません",
                       en=f"{at}: {char} cannot be written in CP932"),
                    where=ws.where,
                    hint=tr(ja="ワークシートを UTF-8(既定)で書き、取り込むときに UTF-8 を"
                               "選んでください",
                            en="write the worksheet in UTF-8 (the default) and choose UTF-8"
                               " when uploading it")) from None


def write_worksheet(filled: FilledWorksheet, path: Path, *,
                    encoding: str = "utf-8-sig") -> Path:
    """Write ``filled`` to ``path`` (atomically) in ``encoding``."""
    data = filled.to_bytes(encoding=encoding)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def fill_worksheet(ws: Worksheet, grades: Mapping[str, GradeEntry], *,
                   missing_zero: bool = False, maximum: float | None = None) -> FilledWorksheet:
    """Write ``grades`` (keyed by participant id, ``1234567`` or ``Participant 1234567``)
    into the Grade and Feedback cells of ``ws``; every other byte stays as it was.

    Without a ``Maximum Grade`` column, ``maximum`` (the Moodle grade maximum) is required.
    Rows with no entry keep their grade; with ``missing_zero`` an *empty* grade of those
    and of entries marked ``missing`` becomes 0 (a grade already in Moodle is never
    overwritten with 0). An entry with no score and not ``missing`` (the grader failed on
    it) keeps its grade cell as it is, even with ``missing_zero``.
    """
    _require_points(ws, maximum)
    filled = FilledWorksheet(ws)
    wanted = {_plain_id(key, ws.identifier_prefix): entry for key, entry in grades.items()}
    for pid, index in ws.rows.items():
        entry = wanted.get(pid)
        if entry is not None:
            _fill_entry(filled, pid, index, entry, maximum)
        if ((entry is None or entry.missing) and missing_zero
                and not (ws.value(pid, "grade") or "").strip()):
            filled.changes[(index, ws.columns["grade"])] = ws.grade_format.format(Decimal(0))
    filled.not_in_worksheet = [pid for pid in wanted if pid not in ws.rows]
    _summary_notices(filled, wanted)
    return filled


def _plain_id(key: str, prefix: str) -> str:
    key = str(key).strip()
    return key[len(prefix):] if prefix and key.startswith(prefix) else key


def _download_again() -> str:
    return tr(ja="Moodle から評定ワークシートを取り直してください",
              en="download the grading worksheet from Moodle again")


def _point_type() -> str:
    return tr(ja="Moodle の課題の評点タイプを「点」にしてください",
              en="set the Moodle assignment's grade type to Point")


def _require_points(ws: Worksheet, maximum: float | None) -> None:
    # a scale first: Moodle looks a scale's grades up among its items, so a number given
    # with --maximum would be skipped on upload, every row, without a word
    if "scale" in ws.columns and "maximum" not in ws.columns:
        raise ExportError(tr(ja="この課題は点数ではなく尺度で評定されています",
                             en="the assignment is graded with a scale, not points"),
                          where=ws.where, hint=_point_type())
    if "maximum" in ws.columns or maximum is not None:
        return
    raise ExportError(tr(ja="ワークシートに Maximum Grade(最大評点)の列がありません",
                         en="the worksheet has no Maximum Grade column"), where=ws.where,
                      hint=tr(ja="Moodle の課題の最大評点を明示してください(--maximum)",
                              en="give the Moodle assignment's maximum grade explicitly"
                                 " (maximum=)"))


def _row_maximum(ws: Worksheet, pid: str, maximum: float | None) -> Decimal:
    if "maximum" not in ws.columns:
        return Decimal(str(maximum))
    value = ws.maximum(pid)
    line = ws.records[ws.rows[pid]].line
    if value is None or value <= 0:
        given = repr(ws.value(pid, "maximum"))
        raise ExportError(tr(ja=f"{line} 行目: Maximum Grade {given} が正の数ではありません",
                             en=f"line {line}: Maximum Grade {given} is not a positive number"),
                          where=ws.where, hint=_point_type())
    if maximum is not None and Decimal(str(maximum)) != value:
        raise ExportError(tr(ja=f"{line} 行目: Maximum Grade は {value} ですが {maximum} が"
                                "指定されました",
                             en=f"line {line}: Maximum Grade is {value}, but {maximum} was given"),
                          where=ws.where,
                          hint=tr(ja="--maximum を外してください(ワークシートが知っています)",
                                  en="leave maximum= out: the worksheet knows it"))
    return value


def _fill_entry(filled: FilledWorksheet, pid: str, index: int, entry: GradeEntry,
                maximum: float | None) -> None:
    ws = filled.worksheet
    if entry.score is not None:
        try:
            scaled = scale(entry.score, entry.max_score, _row_maximum(ws, pid, maximum),
                           ws.grade_format)
        except ValueError as exc:
            raise ExportError(str(exc), where=f"{ws.where}: participant {pid}",
                              hint=tr(ja="課題の配点を確かめてください",
                                      en="check the assignment's points")) from exc
        filled.changes[(index, ws.columns["grade"])] = ws.grade_format.format(scaled.value)
        filled.updated.append(pid)
        if scaled.clamped:
            filled.notices.append(Notice(
                "grade_clamped",
                f"{pid}: 点数 {entry.score}/{entry.max_score} を 0〜最大評点に収めました",
                f"{pid}: {entry.score}/{entry.max_score} points were clamped to 0…maximum"))
        if (ws.value(pid, "can_change") or "").strip().lower() in _NO:
            filled.notices.append(Notice(
                "grade_locked",
                f"{pid}: Moodle で評点がロックされているため、アップロードしても反映されません",
                f"{pid}: the grade is locked in Moodle; the upload will skip this row"))
    if entry.feedback_html and "feedback" in ws.columns:
        filled.changes[(index, ws.columns["feedback"])] = sanitise_feedback(entry.feedback_html)


def _summary_notices(filled: FilledWorksheet, wanted: Mapping[str, GradeEntry]) -> None:
    if "feedback" not in filled.worksheet.columns and any(e.feedback_html for e in wanted.values()):
        filled.notices.append(Notice(
            "no_feedback_column",
            "ワークシートに「フィードバックコメント」列がないため、コメントは書き込んでいません"
            " (課題の設定でフィードバックコメントを有効にしてください)",
            "the worksheet has no “Feedback comments” column, so no comments were written "
            "(enable feedback comments in the assignment's settings)"))
    if filled.not_in_worksheet:
        ids = ", ".join(filled.not_in_worksheet)
        filled.notices.append(Notice(
            "not_in_worksheet", f"ワークシートにない参加者の評点は書き込めません: {ids}",
            f"these graded participants are not in the worksheet: {ids}"))
    unreadable = _unreadable_dates(filled)
    if unreadable:
        ids = ", ".join(unreadable[:5]) + (f" (+{len(unreadable) - 5})" if len(unreadable) > 5
                                           else "")
        filled.notices.append(Notice(
            "dates_unreadable",
            f"{len(unreadable)} 人 ({ids}) は Moodle にすでに評点があり、その"
            "「最終更新日時 (評定)」は Moodle の取り込み (PHP の strtotime) が読めない日本語の"
            "日付です。そのままではこれらの行の評点とコメントは黙って飛ばされます: アップロード"
            "の画面で、スプレッドシートより Moodle で新しく更新されたレコードの更新も許可する"
            "項目 (英語版: Allow updating records that have been modified more recently in"
            " Moodle than in the spreadsheet) にチェックを入れてください",
            f"{len(unreadable)} participant(s) ({ids}) already have a grade in Moodle, and"
            " their “Last modified (grade)” is a date Moodle's upload (PHP's strtotime) cannot"
            " read: their grades and comments would be skipped without a word. Tick “Allow"
            " updating records that have been modified more recently in Moodle than in the"
            " spreadsheet” on the upload page"))


def _unreadable_dates(filled: FilledWorksheet) -> list[str]:
    """Rows we changed whose grade in Moodle has a date the upload reads as 0, so that
    the grade stored counts as newer than the sheet (``$stalemodificationdate``): a date
    in the site's language other than English (``2026年 1月 19日(月曜日) 10:00``)."""
    ws = filled.worksheet
    if "last_modified" not in ws.columns:
        return []
    changed = {index for index, _ in filled.changes}
    return [pid for pid, index in ws.rows.items() if index in changed
            and not (ws.value(pid, "last_modified") or "-").strip().isascii()]
