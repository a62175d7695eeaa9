"""``autograder review ID [--port N] [--by NAME] [--open]``: the local hand-grading page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.text import Text

from ..cli import register
from ..i18n import tr


def _run(args: argparse.Namespace) -> int:
    from ..console import console
    from ..review import ReviewCounts, review
    from ..review_server import ReviewServer

    def ready(server: ReviewServer, counts: ReviewCounts) -> None:
        console.print(Text(tr(ja=f"{args.assignment}: 確認待ち {counts.waiting} 件 / 全 "
                                 f"{counts.total} 件。ブラウザで開いてください (Ctrl+C で終了):",
                              en=f"{args.assignment}: {counts.waiting} waiting of "
                                 f"{counts.total}. Open in a browser (Ctrl+C to stop):")))
        console.print(Text(server.url), soft_wrap=True)  # one line, whole: it has the token
        sys.stdout.flush()
        if args.open:
            import webbrowser

            webbrowser.open(server.url)

    left = review(assignment_id=args.assignment, gradebook=args.gradebook, port=args.port,
                  reviewer=args.by, assignments_root=args.assignments, on_ready=ready)
    console.print(Text(tr(ja=f"終了しました。確認待ちは残り {left.waiting} 件です",
                          en=f"stopped; {left.waiting} answer(s) still wait for review")))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="grade by hand, in a local web page, what waits for"
                                      " a person")
    p.add_argument("assignment", help="assignment id, e.g. 14_n")
    p.add_argument("--gradebook", type=Path, default=None, help="gradebook written by grade")
    p.add_argument("--port", type=int, default=0,
                   help="port on 127.0.0.1 (default: any free one)")
    p.add_argument("--by", default=None, help="who grades (default: the OS user)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--assignments", type=Path, default=None, help="assignments folder")
    p.set_defaults(handler=_run)


register(add_parser)
