"""``autograder demo``: the README's main job — the Moodle round trip on sample data."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table
from rich.text import Text

from ...core.i18n import Lang, default_lang, tr
from .common import command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...core.console import cell, console, notice_line, plain
    from ...store.gradebook import Gradebook
    from ..demo import demo

    lang: Lang = default_lang()
    started = time.monotonic()
    with console.status(Text(tr(ja="サンプル提出物を採点中…",
                                en="grading the sample submissions…"))):
        result = demo(out=args.out, jobs=args.jobs, lang=lang)
    table = Table(title=tr(ja="デモ: 13_n の採点結果", en="demo: results of 13_n"))
    for col in (tr(ja="提出者", en="participant"), tr(ja="ファイル", en="file"),
                tr(ja="状態", en="status"), tr(ja="得点", en="score"),
                tr(ja="お知らせ", en="notices")):
        table.add_column(col)
    with Gradebook(args.out / "gradebook.sqlite") as gb:
        for stored in gb.latest_submissions("13_n"):
            res = gb.result(stored.id)
            if res is None:
                continue
            notes = ", ".join(sorted({n.code for n in res.notices}))
            table.add_row(cell(stored.participant_name or stored.participant),
                          cell(stored.file or "—"), res.status.value,
                          f"{res.score:g} / {res.max_score:g}", cell(notes))
    console.print(table)
    for path in result.exported.files:
        plain(f"  {path}")
    for notice in result.exported.notices:
        console.print(notice_line(notice.text(lang)), highlight=False, soft_wrap=True)
    plain(tr(ja=f"完了 ({time.monotonic() - started:.0f} 秒)。{args.out}/ を見てください",
             en=f"done in {time.monotonic() - started:.0f} s; see {args.out}/"))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "demo", ja="13_n のサンプルの Moodle ファイルを作り、採点して書き出します",
                en="build sample Moodle files for 13_n, grade and export them")
    p.add_argument("--out", type=Path, default=Path("demo-out"),
                   help=tr(ja="出力フォルダ", en="output folder"))
    p.add_argument("--jobs", type=int, default=2,
                   help=tr(ja="同時に動かすカーネルの数", en="worker slots (parallel kernels)"))
    p.set_defaults(handler=_run)


register(add_parser)
