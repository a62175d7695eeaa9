"""``autograder review ID [--port N] [--by NAME] [--open]``: the local hand-grading page."""

from __future__ import annotations

import argparse
import sys

from rich.text import Text

from ...core.i18n import tr
from .common import add_assignments, add_gradebook, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...core.console import console
    from ...review.command import ReviewCounts, review
    from ...review.server import ReviewServer

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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "review", ja="人が採点する解答を、ローカルの Web ページで採点します",
                en="grade by hand, in a local web page, what waits for a person")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("--port", type=int, default=0,
                   help=tr(ja="127.0.0.1 のポート(0: 空いているもの)",
                           en="port on 127.0.0.1 (0: any free one)"))
    p.add_argument("--by", default=None, help=tr(ja="採点者(既定: OS のユーザー名)",
                                                en="who grades (default: the OS user)"))
    p.add_argument("--open", action="store_true",
                   help=tr(ja="既定のブラウザでページを開きます",
                           en="open the page in the default browser"))
    add_gradebook(p)
    add_assignments(p)
    p.set_defaults(handler=_run)


register(add_parser)
