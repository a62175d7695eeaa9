"""The sub-commands' parsers, in the order of ``autograder --help``.

Each command module calls ``register`` with its parser builder when imported; ``cli``
imports the commands package (which imports every command module, in order) and then
asks ``builders``. The commands import this module, never the ``cli`` module above them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

# A quoted alias: argparse._SubParsersAction is generic only in typeshed, not at run time.
Builder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
_BUILDERS: list[Builder] = []


def register(builder: Builder) -> None:
    """Let a command module add its sub-parser (keeps ``cli`` thin)."""
    _BUILDERS.append(builder)


def builders() -> list[Builder]:
    """Every builder registered so far (``cli`` imports the commands package first)."""
    return list(_BUILDERS)
