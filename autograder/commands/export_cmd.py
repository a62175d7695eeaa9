"""``autograder export ID --out DIR``: worksheet / grades CSV, feedback zip, class report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import register
from ..i18n import tr


def _run(args: argparse.Namespace) -> int:
    from ..console import console, notice_line
    from ..export import export

    summary = export(assignment_id=args.assignment, out=args.out, gradebook=args.gradebook,
                     worksheet=args.worksheet, encoding=args.encoding,
                     missing_zero=args.missing_zero, roster=args.roster,
                     roster_key=args.roster_key, maximum=args.maximum,
                     assignments_root=args.assignments, show_hidden=args.show_hidden,
                     allow_stale=args.allow_stale)
    lang = "en" if args.lang == "en" else "ja"
    console.print(tr(ja=f"{summary.students} 人分を書き出しました:",
                     en=f"exported {summary.students} participants:"))
    for path in summary.files:
        console.print(f"  {path}", highlight=False)
    for notice in summary.notices:
        console.print(notice_line(notice.text(lang)), highlight=False, soft_wrap=True)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="Moodle worksheet, feedback zip and class report")
    p.add_argument("assignment", help="assignment id, e.g. 14_n")
    p.add_argument("--out", type=Path, default=Path("export-out"), help="output folder")
    p.add_argument("--gradebook", type=Path, default=None, help="gradebook written by grade")
    p.add_argument("--worksheet", type=Path, default=None,
                   help="the grading worksheet downloaded from Moodle (filled, not rebuilt)")
    p.add_argument("--encoding", choices=["utf-8-sig", "cp932"], default="utf-8-sig",
                   help="worksheet encoding (cp932 for Excel on Japanese Windows)")
    p.add_argument("--missing-zero", action="store_true",
                   help="give 0 to participants with no submission")
    p.add_argument("--roster", type=Path, default=None,
                   help="without a worksheet: roster CSV for a Grades ▸ Import ▸ CSV file")
    p.add_argument("--roster-key", default=None, help="roster column to map users by")
    p.add_argument("--maximum", type=float, default=None,
                   help="Moodle's maximum grade when the worksheet has no Maximum Grade column")
    p.add_argument("--assignments", type=Path, default=None, help="assignments folder")
    p.add_argument("--show-hidden", action="store_true",
                   help="instructor's copy: graded notebooks show the hidden tests "
                        "(never upload it to Moodle)")
    p.add_argument("--allow-stale", action="store_true",
                   help="export even when some results were graded before a change to the"
                        " notebook, checks, manifest, parameters or engine")
    p.set_defaults(handler=_run)


register(add_parser)
