"""Student-chosen text on its way to a terminal, HTML or CSV (autograder.core.safetext)."""

from __future__ import annotations

import pytest
from rich.console import Console

from autograder.core.safetext import clean, for_rich, is_clean, one_line, visible

CASES = [
    ("clear screen", "a\x1b[2Jb", "ab"),
    ("cursor home + colour", "\x1b[H\x1b[31mred\x1b[0m", "red"),
    ("OSC title", "x\x1b]0;pwned\x07y", "xy"),
    ("8-bit CSI", "p\x9b2Jq", "pq"),
    ("NUL and BEL", "na\x00me\x07", "name"),
    ("right-to-left override", "report\u202efdp.exe", "reportfdp.exe"),
    ("isolates", "\u2066abc\u2069", "abc"),
    ("zero width space and joiner", "ta\u200bro\u200d", "taro"),
    ("BOM in the middle", "\ufeff佐藤\ufeff", "佐藤"),
    ("tag characters", "a\U000e0041b", "ab"),
    ("lone surrogate", "a\ud800b", "ab"),
    ("Japanese kept", "山田 太郎_12345_assignsubmission_file",
     "山田 太郎_12345_assignsubmission_file"),
    ("CRLF becomes LF", "a\r\nb\rc", "a\nb\nc"),
]


@pytest.mark.parametrize(("what", "raw", "want"), CASES, ids=[c[0] for c in CASES])
def test_clean(what: str, raw: str, want: str) -> None:
    assert clean(raw) == want
    assert is_clean(want)


def test_not_text_is_empty() -> None:
    assert clean(None) == "" and one_line(b"bytes") == ""


def test_one_line_folds_and_cuts() -> None:
    assert one_line("a\n\n b\tc\u2028d") == "a b c d"
    assert one_line("x" * 50, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize("name", ["[/]", "[bold]x[/bold]", "a[link=http://x]b", "\\[red]"])
def test_for_rich_prints_what_was_typed(name: str) -> None:
    console = Console(record=True, width=200, color_system=None)
    console.print(for_rich(name))
    assert console.export_text().strip() == name


@pytest.mark.parametrize(("raw", "want"), [
    ("evil\x1b[2J.txt", "evil\\x1b[2J.txt"),
    ("Ta\x00ro", "Ta\\x00ro"),          # a NUL is shown, never cuts the name
    ("report\u202efdp.exe", "report\\u202efdp.exe"),
    ("a\tb\nc", "a\\x09b\\x0ac"),
    ("a\U000e0041b", "a\\U000e0041b"),
    ("山田 [/] 太郎", "山田 [/] 太郎"),
])
def test_visible_spells_out_what_clean_removes(raw: str, want: str) -> None:
    assert visible(raw) == want
    assert is_clean(visible(raw)) and "\n" not in visible(raw)


def test_visible_cuts_and_ignores_non_text() -> None:
    assert visible("\x00" * 100, limit=9) == "\\x00\\x00" + "…"
    assert visible(None) == ""


def test_notice_line_is_plain_text_on_the_terminal() -> None:
    from autograder.core.console import notice_line

    console = Console(record=True, width=300, force_terminal=True)
    console.print(notice_line("“[/]oops[bold].txt” \x1b[2Jwas ignored"))
    shown = console.export_text(styles=False).strip()
    assert shown == "! “[/]oops[bold].txt” was ignored"
