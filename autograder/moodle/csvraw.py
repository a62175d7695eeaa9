"""CSV that remembers its own spelling.

A Moodle worksheet must go back with every cell we do not change exactly as it came
(quoting, dates, line ends), so each field keeps its raw text next to its value and a
record its line terminator. New values are quoted the way PHP's ``fputcsv`` (which
writes Moodle's worksheets) quotes: when they contain the delimiter, a quote, a
backslash, white space or a line break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import ExportError
from ..core.i18n import tr

_NEEDS_QUOTES = frozenset('"\\ \t\r\n')


@dataclass(frozen=True)
class Field:
    value: str   # the content, unquoted
    raw: str     # exactly as written in the file


@dataclass(frozen=True)
class Record:
    fields: tuple[Field, ...]
    terminator: str   # '\n', '\r\n', '\r' or '' (last line without one)
    line: int         # 1-based line on which the record starts

    @property
    def values(self) -> list[str]:
        return [f.value for f in self.fields]

    @property
    def is_blank(self) -> bool:
        return len(self.fields) == 1 and self.fields[0].raw == ""


def parse(text: str, *, delimiter: str = ",", where: str = "") -> list[Record]:
    """Split ``text`` into records; a quote left open raises ``ExportError``."""
    records: list[Record] = []
    pos, line = 0, 1
    while pos < len(text):
        fields: list[Field] = []
        start_line = line
        while True:
            field, pos = _read_field(text, pos, delimiter, where, line)
            line += field.raw.count("\n") + field.raw.count("\r") - field.raw.count("\r\n")
            fields.append(field)
            if pos < len(text) and text[pos] == delimiter:
                pos += 1
                continue
            break
        terminator = _terminator_at(text, pos)
        pos += len(terminator)
        line += 1 if terminator else 0
        records.append(Record(tuple(fields), terminator, start_line))
    return records


def _terminator_at(text: str, pos: int) -> str:
    if text.startswith("\r\n", pos):
        return "\r\n"
    return text[pos] if pos < len(text) and text[pos] in "\r\n" else ""


def _read_field(text: str, pos: int, delimiter: str, where: str,
                line: int) -> tuple[Field, int]:
    end_chars = (delimiter, "\r", "\n")
    if pos < len(text) and text[pos] == '"':
        parts: list[str] = []
        cursor = pos + 1
        while True:
            close = text.find('"', cursor)
            if close < 0:
                raise ExportError(tr(ja=f"{line} 行目で始まる引用符の欄が閉じていません",
                                     en=f"a quoted field opened on line {line} is never closed"),
                                  where=where,
                                  hint=tr(ja="Moodle からワークシートを取り直してください",
                                          en="download the worksheet from Moodle again"))
            parts.append(text[cursor:close])
            if text.startswith('""', close):
                parts.append('"')
                cursor = close + 2
                continue
            cursor = close + 1
            break
        end = _scan_to(text, cursor, end_chars)
        return Field("".join(parts) + text[cursor:end], text[pos:end]), end
    end = _scan_to(text, pos, end_chars)
    return Field(text[pos:end], text[pos:end]), end


def _scan_to(text: str, pos: int, stops: tuple[str, ...]) -> int:
    found = re.compile("|".join(re.escape(s) for s in stops)).search(text, pos)
    return found.start() if found else len(text)


def quote(value: str, *, delimiter: str = ",") -> str:
    """``value`` as PHP's fputcsv would write it."""
    if delimiter in value or any(c in _NEEDS_QUOTES for c in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def render(records: list[Record], *, delimiter: str = ",") -> str:
    return "".join(delimiter.join(f.raw for f in r.fields) + r.terminator for r in records)
