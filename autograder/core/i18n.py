"""User-facing language: Japanese by default, English by option.

Each module keeps its own strings next to the code that uses them and picks one with
``tr``; the default comes from ``AUTOGRADER_LANG`` (``ja`` or ``en``).
"""

from __future__ import annotations

import os
from typing import Literal

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")


def default_lang() -> Lang:
    value = os.environ.get("AUTOGRADER_LANG", "ja").strip().lower()
    return "en" if value.startswith("en") else "ja"


def tr(lang: Lang | None = None, *, ja: str, en: str) -> str:
    """Return the text for ``lang`` (default language when ``None``)."""
    return en if (lang or default_lang()) == "en" else ja
