"""``autograder adjust ID PARTICIPANT --points N|+N|-N --comment TEXT [--by NAME]``."""

from __future__ import annotations

import argparse

from rich.text import Text

from ...core.i18n import tr
from .common import add_assignments, add_gradebook, command
from .registry import register


def _run(args: argparse.Namespace) -> int:
    from ...core.console import console
    from ...core.safetext import one_line
    from ...review.adjust import adjust
    from ...store.hand_grades import change_text, when_text

    done = adjust(assignment_id=args.assignment, participant=args.participant,
                  points=args.points, comment=args.comment, by=args.by,
                  gradebook=args.gradebook, assignments_root=args.assignments)
    o, who = done.override, one_line(done.participant)
    console.print(Text(tr(
        ja=f"{who}: {done.before:g} → {done.after:g} / {done.max_score:g} 点 "
           f"({change_text(o)}、{one_line(o.by)}、{when_text(o.at)})",
        en=f"{who}: {done.before:g} → {done.after:g} / {done.max_score:g} points "
           f"({change_text(o)}, by {one_line(o.by)}, {when_text(o.at)})")))
    if done.provisional:
        console.print(Text(tr(ja="この提出には採点者の確認待ちの解答が残っています (暫定点)",
                              en="this submission still has answers waiting for review"
                                 " (provisional)")))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = command(sub, "adjust", ja="参加者の合計点を手で変えます(誰がいつ変えたかを記録します)",
                en="change a participant's total by hand (who and when are recorded)")
    p.add_argument("assignment", help=tr(ja="課題 ID(例: 14_n)", en="assignment id, e.g. 14_n"))
    p.add_argument("participant", help=tr(ja="参加者 ID(一人に決まるなら氏名でも可)",
                                          en="participant id (or full name, when unique)"))
    p.add_argument("--points", required=True, metavar="N|+N|-N",
                   help=tr(ja="N は合計点そのもの、+N / -N は増減", en="N sets the total;"
                           " +N / -N change it"))
    p.add_argument("--comment", default="",
                   help=tr(ja="理由(学生に表示されます)", en="why (shown to the student)"))
    p.add_argument("--by", default=None,
                   help=tr(ja="変更した人(既定: OS のユーザー名)",
                           en="who adjusts (default: the OS user)"))
    add_gradebook(p)
    add_assignments(p)
    p.set_defaults(handler=_run)


register(add_parser)
