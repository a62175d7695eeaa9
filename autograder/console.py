"""Rich consoles shared by the CLI (stdout for results, stderr for errors and warnings)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
