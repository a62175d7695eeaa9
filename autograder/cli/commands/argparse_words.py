"""argparse's own words (``usage:``, ``options``, its error messages) in Japanese.

argparse looks every one of them up through the module-level ``argparse._`` (gettext),
at the moment it builds a parser or reports an error; Python ships no Japanese catalogue.
``speaking(lang)`` swaps that function for the duration of one command line, so ``--help``
and usage errors read in the chosen language like the rest of the CLI; it is put back
afterwards (the CLI may run inside a test process that uses argparse too).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ...core.i18n import Lang

# msgid (as in CPython 3.10-3.13) -> Japanese; placeholders kept as they are
JAPANESE: dict[str, str] = {
    "usage: ": "使い方: ",
    "positional arguments": "引数",
    "options": "オプション",
    "optional arguments": "オプション",
    "show this help message and exit": "このヘルプを表示して終了します",
    "%(prog)s: error: %(message)s\n": "%(prog)s: エラー: %(message)s\n",
    "the following arguments are required: %s": "次の引数が必要です: %s",
    "unrecognized arguments: %s": "知らない引数です: %s",
    "invalid choice: %(value)r (choose from %(choices)s)":
        "%(value)r は選べません(選べるもの: %(choices)s)",
    "argument %(argument_name)s: %(message)s": "引数 %(argument_name)s: %(message)s",
    "expected one argument": "値を 1 つ指定してください",
    "expected at least one argument": "値を 1 つ以上指定してください",
    "invalid %(type)s value: %(value)r": "%(type)s として正しくない値です: %(value)r",
    "ambiguous option: %(option)s could match %(matches)s":
        "あいまいなオプションです: %(option)s は %(matches)s のどれにも当てはまります",
    "not allowed with argument %s": "引数 %s と一緒には使えません",
    "one of the arguments %s is required": "引数 %s のどれかが必要です",
    "ignored explicit argument %r": "余分な値 %r は使われません",
}


@contextmanager
def speaking(lang: Lang) -> Iterator[None]:
    """argparse's words in ``lang`` inside the block (English is argparse's own)."""
    namespace = vars(argparse)  # the module's globals: where argparse looks `_` up
    original: Callable[[str], str] = namespace["_"]
    if lang != "ja":
        yield
        return

    def japanese(message: str) -> str:
        return JAPANESE.get(message) or original(message)

    namespace["_"] = japanese
    try:
        yield
    finally:
        namespace["_"] = original
