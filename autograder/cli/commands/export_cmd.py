"""``autograder export ID --out DIR``: worksheet / grades CSV, feedback zip, class report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...core.i18n import Lang, tr
from .common import add_assignments, add_gradebook, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...core.console import console, notice_line, plain
    from ...export.command import export

    summary = export(assignment_id=args.assignment, out=args.out, gradebook=args.gradebook,
                     worksheet=args.worksheet, encoding=args.encoding,
                     missing_zero=args.missing_zero, roster=args.roster,
                     roster_key=args.roster_key, maximum=args.maximum,
                     assignments_root=args.assignments, show_hidden=args.show_hidden,
                     allow_stale=args.allow_stale)
    lang: Lang = "en" if args.lang == "en" else "ja"
    plain(tr(ja=f"{summary.students} 人分を書き出しました:",
             en=f"exported {summary.students} participants:"))
    for path in summary.files:
        plain(f"  {path}")
    for notice in summary.notices:
        console.print(notice_line(notice.text(lang)), highlight=False, soft_wrap=True)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "export", ja="Moodle の評定ワークシート・フィードバックの zip・クラスの報告",
                en="Moodle worksheet, feedback zip and class report")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("--out", type=Path, default=Path("export-out"),
                   help=tr(ja="出力フォルダ", en="output folder"))
    p.add_argument("--worksheet", type=Path, default=None,
                   help=tr(ja="Moodle からダウンロードした評定ワークシート(作り直さず埋めます)",
                           en="the grading worksheet downloaded from Moodle (filled, not"
                              " rebuilt)"))
    p.add_argument("--encoding", choices=["utf-8-sig", "cp932"], default="utf-8-sig",
                   help=tr(ja="ワークシートの文字コード(日本語 Windows の Excel なら cp932)",
                           en="worksheet encoding (cp932 for Excel on Japanese Windows)"))
    p.add_argument("--missing-zero", action="store_true",
                   help=tr(ja="提出のない参加者を 0 点にします",
                           en="give 0 to participants with no submission"))
    p.add_argument("--roster", type=Path, default=None,
                   help=tr(ja="ワークシートなしのとき: 評定 ▸ インポート ▸ CSV 用の名簿 CSV",
                           en="without a worksheet: roster CSV for a Grades ▸ Import ▸ CSV"
                              " file"))
    p.add_argument("--roster-key", default=None,
                   help=tr(ja="ユーザの対応に使う名簿の列", en="roster column to map users by"))
    p.add_argument("--maximum", type=float, default=None,
                   help=tr(ja="ワークシートに Maximum Grade 列がないときの Moodle の満点",
                           en="Moodle's maximum grade when the worksheet has no Maximum Grade"
                              " column"))
    p.add_argument("--show-hidden", action="store_true",
                   help=tr(ja="教員用: 採点済みノートブックに隠しテストを見せます"
                              "(Moodle には決して上げないこと)",
                           en="instructor's copy: graded notebooks show the hidden tests"
                              " (never upload it to Moodle)"))
    p.add_argument("--allow-stale", action="store_true",
                   help=tr(ja="ノートブック・チェック・マニフェスト・パラメータ・エンジンが変わる前の"
                              "採点結果が残っていても書き出します",
                           en="export even when some results were graded before a change to"
                              " the notebook, checks, manifest, parameters or engine"))
    add_assignments(p)
    add_gradebook(p)
    p.set_defaults(handler=_run)


register(add_parser)
