"""The ``autograder`` command: parse arguments, show progress, map errors to exit codes.

Each sub-command calls one keyword-only library function; modules are imported lazily
so that ``autograder --help`` never pays for torch or Jupyter.

No exception leaves ``main`` as a traceback: an ``AutograderError`` is one line and its
exit code; anything else is a bug, shown as one line with a hint to report it (exit 70;
``AUTOGRADER_DEBUG=1`` shows the traceback). Messages may quote student-chosen names, so
they are printed as plain text, never as rich markup.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import AutograderError
from .i18n import tr

Handler = Callable[[argparse.Namespace], int]
EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception, a bug to report


def _cmd_data(args: argparse.Namespace) -> int:
    from . import datasets
    from .console import console

    if args.data_command == "fetch":
        for name in args.names:
            path = datasets.fetch(name=name, cache=args.cache)
            console.print(tr(ja=f"{name}: 取得しました → {path}", en=f"{name}: fetched → {path}"))
    elif args.data_command == "import":
        for found in datasets.import_archives(paths=args.paths, cache=args.cache):
            console.print(tr(ja=f"{found.name}: 取り込みました → {found.path}",
                             en=f"{found.name}: imported → {found.path}"))
    else:
        datasets.print_listing(datasets.list_cache(cache=args.cache), cache=args.cache)
    return 0


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset cache: fetch, import, list")
    p.add_argument("--cache", type=Path, default=None, help="cache dir (default $AUTOGRADER_DATA)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download with torchvision (needs the internet)")
    f.add_argument("names", nargs="+", choices=["mnist", "fashion-mnist", "cifar10"])
    i = dsub.add_parser("import", help="import MNIST .gz / mnist.pkl.gz / cifar-10-python.tar.gz")
    i.add_argument("paths", nargs="+", type=Path)
    dsub.add_parser("list", help="show what the cache holds")
    p.set_defaults(handler=_cmd_data)


_BUILDERS: list[Callable[[argparse._SubParsersAction], None]] = [_add_data]


def register(builder: Callable[[argparse._SubParsersAction], None]) -> None:
    """Let a command module add its sub-parser (keeps this file thin)."""
    _BUILDERS.append(builder)


def build_parser() -> argparse.ArgumentParser:
    from . import commands  # noqa: F401  (registers the remaining sub-commands)

    parser = argparse.ArgumentParser(prog="autograder",
                                     description="dl-autograder: grade deep-learning notebooks")
    parser.add_argument("--lang", choices=["ja", "en"], default=None,
                        help="language of messages and reports (default ja)")
    sub = parser.add_subparsers(dest="command", required=True)
    for builder in _BUILDERS:
        builder(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lang:
        import os

        os.environ["AUTOGRADER_LANG"] = args.lang
    try:
        handler: Handler = args.handler
        return handler(args)
    except AutograderError as exc:
        _error_line(tr(ja="エラー", en="error"), exc.render())
        return exc.exit_code
    except KeyboardInterrupt:
        _error_line("", tr(ja="中断しました(再実行すると続きから処理します)",
                           en="interrupted (run again to finish the rest)"))
        return 130
    except Exception as exc:  # a bug: one line to report, not a traceback
        import os

        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        _error_line(tr(ja="予期しないエラー", en="unexpected error"),
                    f"{type(exc).__name__}: {exc} → " + tr(
                        ja="dl-autograder の不具合です。このコマンドとこの行を添えて"
                           "報告してください (AUTOGRADER_DEBUG=1 で詳細が出ます)",
                        en="this is a bug in dl-autograder: please report it with the command"
                           " and this line (AUTOGRADER_DEBUG=1 shows the details)"))
        return EXIT_BUG


def _error_line(label: str, message: str) -> None:
    """One line on stderr; ``message`` is plain text (it may quote a student's file name)."""
    from rich.text import Text

    from .console import err_console
    from .safetext import one_line

    line = Text.assemble((f"{label}: ", "bold red") if label else "",
                         one_line(message, limit=2000))
    err_console.print(line, highlight=False, soft_wrap=True)

