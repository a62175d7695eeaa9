"""``autograder adjust ID PARTICIPANT --points N|+N|-N --comment TEXT``: a person's
change to one submission's total, recorded with who and when.

``N`` sets the total, ``+N``/``-N`` change it; the result must stay within
[0, maximum]. The override belongs to the participant's latest submission (its bytes):
a regrade of the same notebook keeps it, a new submission starts without it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.config import load_assignment
from ..core.errors import HandGradingError
from ..core.i18n import Lang, default_lang, tr
from ..core.paths import assignments_dir, default_gradebook
from ..core.results import Override, SubmissionResult
from ..core.safetext import clean, one_line
from ..store.gradebook import Gradebook, StoredSubmission
from ..store.hand_grades import os_user

_CHANGE = re.compile(r"^\s*([+-]?)(\d+(?:\.\d*)?|\.\d+)\s*$")


@dataclass(frozen=True)
class Adjusted:
    participant: str
    before: float
    after: float
    max_score: float
    override: Override
    provisional: bool   # answers still wait for review


def parse_change(text: str, *, lang: Lang | None = None) -> tuple[float, bool]:
    """``"7"`` → (7, absolute), ``"+1.5"`` → (1.5, relative), ``"-2"`` → (-2, relative)."""
    match = _CHANGE.match(text)
    value = float(match.group(1) + match.group(2)) if match else math.nan
    if not math.isfinite(value):
        raise HandGradingError(
            tr(lang, ja=f"--points {text!r} は点数ではありません",
               en=f"--points {text!r} is not a number of points"),
            hint=tr(lang, ja="例: --points 8 (合計を 8 点に)・+1・-0.5",
                    en="e.g. --points 8 (total becomes 8), +1 or -0.5"))
    return value, bool(match and match.group(1))


def adjust(*, assignment_id: str, participant: str, points: str, comment: str = "",
           by: str | None = None, gradebook: Path | None = None,
           assignments_root: Path | None = None, lang: Lang | None = None) -> Adjusted:
    """Record an override of ``participant``'s total and return the new total."""
    lang = lang or default_lang()
    assignment = load_assignment(assignment_id, assignments_root or assignments_dir())
    value, relative = parse_change(points, lang=lang)
    with Gradebook(gradebook or default_gradebook()) as gb:
        stored = find_participant(gb, assignment.id, participant, lang)
        result = _graded(gb, stored, lang)
        override = Override(points=value, relative=relative, comment=clean(comment),
                            by=clean(by or os_user()), at=time.time())
        after = override.apply(result.score)
        _check_range(after, result.max_score, stored, lang)
        gb.add_override(assignment=assignment.id, participant=stored.participant,
                        sha256=stored.sha256, override=override)
        now = gb.result(stored.id)
    assert now is not None  # it was graded a moment ago, and results are never deleted
    return Adjusted(stored.participant, result.score, now.score, now.max_score, override,
                    now.provisional)


def find_participant(gb: Gradebook, assignment_id: str, who: str,
                     lang: Lang | None) -> StoredSubmission:
    """The latest submission of the participant with id (or, if unique, full name) ``who``."""
    latest = gb.latest_submissions(assignment_id)
    found = [s for s in latest if s.participant == who] or \
        [s for s in latest if s.participant_name and s.participant_name == who]
    if len(found) == 1:
        return found[0]
    known = ", ".join(one_line(s.participant, limit=40) for s in latest[:8])
    raise HandGradingError(
        tr(lang, ja=f"{assignment_id} に参加者 {one_line(who)!r} の提出がありません"
                    if not found else f"{one_line(who)!r} に当たる参加者が複数います",
           en=f"no submission of participant {one_line(who)!r} for {assignment_id}"
              if not found else f"{one_line(who)!r} matches several participants"),
        where=str(gb.path), hint=tr(lang, ja=f"参加者 ID で指定してください ({known} ...)",
                                    en=f"give the participant id ({known} ...)"))


def _graded(gb: Gradebook, stored: StoredSubmission, lang: Lang) -> SubmissionResult:
    result = gb.result(stored.id)
    if result is None:
        raise HandGradingError(
            tr(lang, ja=f"参加者 {stored.participant} の提出はまだ採点されていません",
               en=f"the submission of {stored.participant} is not graded yet"),
            where=str(gb.path), hint=tr(lang, ja="先に autograder grade を実行してください",
                                        en="run autograder grade first"))
    return result


def _check_range(after: float, maximum: float, stored: StoredSubmission, lang: Lang) -> None:
    if 0.0 <= after <= maximum:
        return
    raise HandGradingError(
        tr(lang, ja=f"調整後の合計 {after:g} 点が 0〜{maximum:g} 点の範囲を外れます",
           en=f"the adjusted total {after:g} is outside 0..{maximum:g}"),
        where=stored.participant,
        hint=tr(lang, ja="点数を見直してください (何も記録していません)",
                en="check the points (nothing was recorded)"))
