"""Student-chosen text made safe to show: terminal, HTML, CSV, the gradebook.

Every string a student controls (participant and file names from a Moodle zip, notebook
text, exception messages from a kernel) may carry characters that change how *other*
text is displayed: terminal escape sequences (clear the screen, rewrite a line), C0/C1
control characters, Unicode bidirectional overrides and isolates (text that reads
differently from how it is stored), zero-width characters and byte-order marks (names that
look equal but are not). ``clean`` removes all of them; ``one_line`` also folds line
breaks and bounds the length; ``for_rich`` additionally escapes rich's ``[markup]``;
``visible`` keeps them but spells each one out (``\x1b``), for a message that must say
which name was refused and why.

HTML and CSV escaping stay the job of their writers (jinja2 autoescape, ``csv``); this
module only removes what no escaping makes harmless.
"""

from __future__ import annotations

import re

# ESC-introduced sequences first (CSI ... final byte, OSC ... BEL/ST, two-byte escapes),
# so that their printable tails ("[2J") go with them.
_ESCAPE_SEQ = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"   # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]"                   # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]")          # 8-bit CSI
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
# C0 (but tab and newline), DEL, C1, bidi, zero-width/BOM, lone surrogates, tag characters.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + _INVISIBLE + "\ud800-\udfff"
    "\U000e0000-\U000e007f]")
# What ``visible`` spells out: all of the above, and line breaks and tabs.
_SPELLED = re.compile(_UNSAFE.pattern[:-1] + "\t\n\u2028\u2029]")
_LINE_BREAKS = re.compile(" *[\r\n\u2028\u2029\x85\t][ \r\n\u2028\u2029\x85\t]*")


def clean(text: object, *, limit: int | None = None) -> str:
    """``text`` without escape sequences, control, bidi and invisible characters.

    Newlines and tabs are kept (carriage returns become newlines); anything that is not a
    ``str`` becomes ``""``. With ``limit``, the result is cut to that many characters
    (ending in ``…`` when cut).
    """
    if not isinstance(text, str):
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    text = _UNSAFE.sub("", _ESCAPE_SEQ.sub("", text))
    return _cut(text, limit)


def one_line(text: object, *, limit: int | None = 300) -> str:
    """``clean`` text on one line: every run of line breaks and tabs becomes one space."""
    if not isinstance(text, str):
        return ""
    flat = _LINE_BREAKS.sub(" ", clean(text)).strip()
    return _cut(flat, limit)


def for_rich(text: object, *, limit: int | None = 300) -> str:
    """``one_line`` text escaped for rich markup (``[/]`` shows as typed)."""
    from rich.markup import escape

    return escape(one_line(text, limit=limit))


def visible(text: object, *, limit: int | None = 300) -> str:
    """``text`` with every character ``clean`` would remove (and line breaks and tabs)
    written as an escape (``\\x1b``, ``\\u202e``), so that a refused name can be quoted
    as it was without acting on the terminal; a NUL shows as ``\\x00``, never cuts it."""
    if not isinstance(text, str):
        return ""
    return _cut(_SPELLED.sub(_spell, text), limit)


def _spell(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def is_clean(text: str) -> bool:
    """True when ``clean`` would not change ``text``."""
    return clean(text) == text.replace("\r\n", "\n")


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"
