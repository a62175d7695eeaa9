"""Completion credit's emptiness test: what a reader sees once the answer is rendered
(engine/cells/answer_text.py)."""

from __future__ import annotations

import pytest

from autograder.engine.cells.answer_text import shows_something
from autograder.engine.cells.scores import is_answered

# (answer, shows something): rendered, does any character show?
ANSWERS = [
    ("", False),
    (" \n\t", False),
    ("\u200b", False),                    # zero-width space (Cf)
    ("\u2060", False),                    # word joiner (Cf)
    ("\ufeff\u200c\u200d\u00ad", False),  # BOM, ZWNJ, ZWJ, soft hyphen (Cf)
    ("\u3000\u00a0\u2003\u2028", False),  # ideographic, no-break, em space, line separator
    ("\u3164\u2800", False),              # Hangul filler, braille blank
    ("<!-- -->", False),
    ("<!-- 特になし -->", False),          # a comment is not shown
    ("<!-- unterminated", False),
    ("&nbsp;", False),
    ("&#8203;&#x2060;&zwnj;", False),
    ("<br>", False),
    ("<br/><br />", False),
    ("<p></p>", False),
    ('<span style="color:white"></span>', False),
    ("**", False),
    ("---", False),
    ("# \n> \n- \n* * *", False),
    ("| | |\n|-|-|", False),
    ("[]()", False),
    ("``", False),
    ("\\", False),
    ("なし", True),
    ("特になし", True),
    ("👍", True),
    ("?", True),
    ("a", True),
    ("0", True),
    ("<3", True),                         # not a tag
    ("&lt;br&gt;", True),                 # shows the text <br>
    ("<b>なし</b>", True),
    ("**特になし**", True),
    ("<!-- x --> 質問はありません", True),
    ("\u200bなし\u200b", True),
]


@pytest.mark.parametrize(("answer", "shows"), ANSWERS)
def test_what_a_reader_sees(answer: str, shows: bool) -> None:
    assert shows_something(answer) is shows


# (answer, released placeholder, answered)
PLACEHOLDERS = [
    ("YOUR ANSWER HERE", "YOUR ANSWER HERE", False),
    ("YOUR\u200b ANSWER&nbsp;HERE", "YOUR ANSWER HERE", False),
    ("<!-- -->YOUR ANSWER HERE", "ここに書いてください", False),
    ("ここに書いてください\u2060", "ここに書いてください", False),
    ("ここに書いてください。なし", "ここに書いてください", True),
    ("なし", "YOUR ANSWER HERE", True),
    ("\u200b", "YOUR ANSWER HERE", False),
    (None, "YOUR ANSWER HERE", False),
]


@pytest.mark.parametrize(("answer", "released", "answered"), PLACEHOLDERS)
def test_is_answered(answer: str | None, released: str, answered: bool) -> None:
    assert is_answered(answer, released) is answered
