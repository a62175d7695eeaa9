"""Rich consoles shared by the CLI (stdout for results, stderr for errors and warnings)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def notice_line(text: str, *, mark: str = "!", style: str = "yellow") -> Text:
    """A coloured mark and ``text`` as plain text: notices quote student-chosen names,
    which must never be read as rich markup (``[/]``) nor reach the terminal with a
    control or escape character."""
    from .safetext import one_line

    return Text.assemble((f"{mark} ", style), one_line(text, limit=1000))
