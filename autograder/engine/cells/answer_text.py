"""What a reader sees of an answer: the test behind completion credit.

Completion credit (the 質問・感想 cell) is earned by any answer that is not empty. "Empty"
is what a person reading the rendered notebook sees, not what the file holds: a
zero-width space (U+200B), a word joiner (U+2060), ``<!-- -->``, ``&nbsp;``, ``<br>``,
``<p></p>`` or a lone ``**`` or ``---`` render as nothing (red-team pass 4 earned the
point with each). So before the emptiness test the text loses HTML comments, HTML tags,
entities that decode to nothing visible, Unicode format and control characters, every
kind of space (and the fillers that render blank), and markdown markup with nothing
inside. Any letter, digit, emoji or other symbol left is an answer: "なし", "特になし",
"?" and "👍" all earn the credit.
"""

from __future__ import annotations

import html
import re
import unicodedata

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# a real tag (<br>, </p>, <span style="...">), not a "<3" or "a < b"
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
# characters that render blank although Unicode calls them letters or symbols
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# markdown syntax: emphasis, headings, quotes, rules, lists, tables, code, links, escapes
_MARKUP = frozenset("*_~`#>-=+|[]()!:\\")
# categories that show nothing: format (Cf: U+200B, U+2060, U+FEFF, ...), control,
# separators (spaces, line and paragraph separators), unassigned and private use
_INVISIBLE = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def visible_text(text: str) -> str:
    """``text`` as a reader sees it rendered, less markup and every invisible character."""
    text = _TAG.sub(" ", _COMMENT.sub(" ", text))
    text = html.unescape(text)
    return "".join(c for c in text if not _invisible(c))


def shows_something(text: str) -> bool:
    """Whether any character of ``text`` shows once rendered, beyond markdown markup."""
    return any(c not in _MARKUP for c in visible_text(text))


def _invisible(char: str) -> bool:
    return char.isspace() or char in _BLANK or unicodedata.category(char) in _INVISIBLE
