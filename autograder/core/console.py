"""Rich consoles shared by the CLI (stdout for results, stderr for errors and warnings).

Text that holds anything not written here (paths, ids, check names, messages quoting a
file) goes through ``plain``, ``cell`` or ``notice_line``: as rich markup, ``[set_a]``
in ``cell 0 [set_a]:`` would be read as a style and vanish.
"""

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


def cell(text: object) -> Text:
    """A table cell shown as typed (never markup), on one line, without control characters."""
    from .safetext import one_line

    return Text(one_line(str(text), limit=None))


def plain(text: str, *, err: bool = False) -> None:
    """Print ``text`` as it is: never read as markup nor highlighted; flushed at once, so
    a log file shows it while the command still runs."""
    from .safetext import clean

    target = err_console if err else console
    target.print(Text(clean(text)), highlight=False, soft_wrap=True)
    target.file.flush()
