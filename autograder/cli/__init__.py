"""The ``autograder`` command: parse arguments, show progress, map errors to exit codes.

Each sub-command calls one keyword-only library function; modules are imported lazily
so that ``autograder --help`` never pays for torch or Jupyter. The options every command
shares, and the parser set-up, are in ``commands/common.py``.

The language is chosen first (``--lang`` anywhere on the line, else ``AUTOGRADER_LANG``,
else Japanese), so that ``--help`` and argparse's own errors are in it too.

No exception leaves ``main`` as a traceback: an ``AutograderError`` is one line and its
exit code; SIGINT and SIGTERM stop the command with one line (exit 130 / 143; what was
recorded stays, and the same command finishes the rest); anything else is a bug, shown
as one line with a hint to report it (exit 70; ``AUTOGRADER_DEBUG=1`` shows the
traceback). Messages may quote student-chosen names, so they are printed as plain text,
never as rich markup.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from ..core.errors import AutograderError
from ..core.i18n import LANGS, default_lang, tr

Handler = Callable[[argparse.Namespace], int]
EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception, a bug to report

class Stopped(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM) turned into an exception in the main thread, so
    every ``finally`` and context manager on the way out runs (worker pool, gradebook)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def build_parser() -> argparse.ArgumentParser:
    from . import commands  # noqa: F401  (each command module registers its parser)
    from .commands.common import HelpFormatter, add_lang
    from .commands.registry import builders

    parser = argparse.ArgumentParser(
        prog="autograder", formatter_class=HelpFormatter,
        description=tr(ja="dl-autograder: 深層学習のノートブック課題を配布・採点・返却します",
                       en="dl-autograder: release, grade and return deep-learning notebooks"))
    add_lang(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True,
                                title=tr(ja="コマンド", en="commands"))
    for builder in builders():
        builder(sub)
    return parser


def language_in(argv: Sequence[str]) -> str | None:
    """The value of ``--lang`` wherever it is on the command line (before ``--``)."""
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from .commands.argparse_words import speaking

    args_in = list(sys.argv[1:] if argv is None else argv)
    lang = language_in(args_in)
    if lang in LANGS:  # before the parser is built: its help is in this language
        os.environ["AUTOGRADER_LANG"] = str(lang)
    with speaking(default_lang()):
        args = build_parser().parse_args(args_in)
    with _signals_as_exceptions():
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        handler: Handler = args.handler
        return handler(args)
    except AutograderError as exc:
        _error_line(tr(ja="エラー", en="error"), exc.render())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _stopped(exc)
    except Exception as exc:  # a bug: one line to report, not a traceback
        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        _error_line(tr(ja="予期しないエラー", en="unexpected error"),
                    f"{type(exc).__name__}: {exc} → " + tr(
                        ja="dl-autograder の不具合です。このコマンドとこの行を添えて"
                           "報告してください (AUTOGRADER_DEBUG=1 で詳細が出ます)",
                        en="this is a bug in dl-autograder: please report it with the command"
                           " and this line (AUTOGRADER_DEBUG=1 shows the details)"))
        return EXIT_BUG


def _stopped(exc: KeyboardInterrupt) -> int:
    signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
    name = signal.Signals(signum).name
    _error_line("", tr(ja=f"{name} を受けて止めました。記録済みの結果は残っています"
                          "(同じコマンドをもう一度実行すると続きから処理します)",
                       en=f"stopped by {name}; what was recorded is kept (run the same"
                          " command again to finish the rest)"))
    return 128 + int(signum)


@contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Stopped`` in the main thread while a command runs
    (by default SIGTERM ends the process at once: worker pools and semaphores leak)."""
    def _raise(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signum)

    wanted = (signal.SIGINT, signal.SIGTERM)
    saved = {}
    try:
        for signum in wanted:
            saved[signum] = signal.signal(signum, _raise)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        pass
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)


def _error_line(label: str, message: str) -> None:
    """One line on stderr; ``message`` is plain text (it may quote a student's file name)."""
    from rich.text import Text

    from ..core.console import err_console
    from ..core.safetext import one_line

    line = Text.assemble((f"{label}: ", "bold red") if label else "",
                         one_line(message, limit=2000))
    err_console.print(line, highlight=False, soft_wrap=True)
