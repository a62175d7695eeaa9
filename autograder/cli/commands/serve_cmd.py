"""``autograder serve``: the grading service in the foreground; ``--status``, ``--stop``.

One line per event on stderr (a batch graded, a client refused), with the time: the
service is meant to run in a terminal multiplexer or under systemd, whose logs keep them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...core.i18n import tr
from .common import command
from .registry import register


def _log(text: str) -> None:
    from ...core.console import plain

    plain(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {text}", err=True)


def _run(args: argparse.Namespace) -> int:
    from ...core.console import plain

    socket_path = Path(args.socket) if args.socket else None
    if args.stop or args.status:
        from ...service.client import service_status, stop_service

        if args.stop:
            stop_service(socket_path=socket_path)
            plain(tr(ja="採点サービスを止めました", en="the grading service stopped"))
            return 0
        status = service_status(socket_path=socket_path)
        plain(tr(ja=f"採点サービス pid {status['pid']}、エンジン {status['version']}、"
                    f"採点したバッチ {status['batches']} 件、待機中のワーカー"
                    f" {len(status['workers'])} 個",
                 en=f"grading service pid {status['pid']}, engine {status['version']},"
                    f" {status['batches']} batch(es) graded, {len(status['workers'])}"
                    " worker(s) kept"))
        return 0
    from ...service.server import serve

    serve(socket_path=socket_path, on_event=_log)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "serve",
                ja="採点サービスを起動します(ワーカーとカーネルのテンプレートを次の採点まで"
                   "残し、grade --service の採点をすぐ始めます)",
                en="run the grading service (keeps the workers and kernel templates between"
                   " batches; grade --service hands batches to it)")
    p.add_argument("--socket", default=None, metavar="PATH",
                   help=tr(ja="ソケットのパス(既定: $AUTOGRADER_SERVICE か"
                              " ~/.cache/autograder/service/grader.sock)",
                           en="socket path (default $AUTOGRADER_SERVICE or"
                              " ~/.cache/autograder/service/grader.sock)"))
    what = p.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true",
                      help=tr(ja="起動中のサービスの状態を表示します",
                              en="show the running service's state"))
    what.add_argument("--stop", action="store_true",
                      help=tr(ja="起動中のサービスを止めます(採点中のバッチの後で)",
                              en="stop the running service (after the batch it grades)"))
    p.set_defaults(handler=_run)


register(add_parser)
