"""Stale results: graded under another fingerprint than the current one.

``grade`` regrades them by default (``--keep-stale`` keeps them and says so); ``export``
refuses to write grades while any latest result of the assignment is stale (it names the
participants) unless ``--allow-stale``. The fingerprint ``export`` compares with is the
current one for the grading parameters of the most recent result, since only ``grade``
knows its ``--param`` overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.config import Assignment
from ..core.errors import ExportError
from ..core.i18n import Lang, tr
from ..core.results import Notice
from ..core.safetext import one_line
from ..store.fingerprint import Fingerprint, effective_params, fingerprint
from ..store.gradebook import Gradebook

_PART_NAMES = {  # part -> (ja, en)
    "source": ("ソースノートブック", "source notebook"),
    "tests": ("チェック (tests/)", "checks (tests/)"),
    "manifest": ("assignment.toml", "assignment.toml"),
    "params": ("採点パラメータ", "grading parameters"),
    "engine": ("採点エンジン", "grading engine"),
}
SHOWN = 8  # participants named in one message


@dataclass(frozen=True)
class Stale:
    ids: list[int] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # parts that differ, in PARTS order


def find_stale(gb: Gradebook, ids: Sequence[int], current: Fingerprint) -> Stale:
    """The ids among ``ids`` whose stored result was produced under another fingerprint
    (a result stored without one is stale too); ids without a result are not looked at."""
    stored = gb.fingerprints(list(ids))
    stale = [i for i in ids if i in stored and _differs(stored[i], current)]
    changed: set[str] = set()
    distinct = {fp.digest if fp else "": fp for fp in (stored[i] for i in stale)}
    for fp in distinct.values():
        changed.update(current.changed(fp))
    return Stale(stale, [p for p in current.parts if p in changed])


def _differs(stored: Fingerprint | None, current: Fingerprint) -> bool:
    return stored is None or stored.digest != current.digest


def parts_text(parts: Sequence[str], lang: Lang) -> str:
    names = [_PART_NAMES.get(p, (p, p))[1 if lang == "en" else 0] for p in parts]
    return tr(lang, ja="・", en=", ").join(names)


def regrade_notice(stale: Stale) -> Notice:
    n = len(stale.ids)
    return Notice("stale_regraded",
                  f"前回の採点の後に {parts_text(stale.changed, 'ja')} が変わったため、"
                  f"古い採点結果 {n} 件を採点し直します",
                  f"regrading {n} stale result(s): graded before a change to "
                  f"{parts_text(stale.changed, 'en')}")


def kept_notice(stale: Stale) -> Notice:
    n = len(stale.ids)
    return Notice("stale_kept",
                  f"古い採点結果 {n} 件 (変わったもの: {parts_text(stale.changed, 'ja')}) を"
                  "そのまま残しました (--keep-stale)。export は --allow-stale なしでは"
                  "書き出しません",
                  f"kept {n} stale result(s) (changed since: "
                  f"{parts_text(stale.changed, 'en')}) as asked (--keep-stale); export "
                  "refuses them without --allow-stale")


def export_fingerprint(gb: Gradebook, assignment: Assignment, ids: Sequence[int]
                       ) -> Fingerprint:
    """The current fingerprint under the parameters of the most recently graded result."""
    newest = gb.newest_fingerprint(list(ids))
    params = newest.parts.get("params") if newest is not None else None
    if not isinstance(params, dict):
        params = effective_params(assignment, None)
    return fingerprint(assignment, params)


def stale_participants(gb: Gradebook, assignment: Assignment,
                       latest: Sequence[tuple[int, str]]) -> tuple[list[str], list[str]]:
    """(participants whose latest result is stale, the parts that changed);
    ``latest`` holds (submission id, participant) pairs."""
    ids = [sid for sid, _ in latest]
    stale = find_stale(gb, ids, export_fingerprint(gb, assignment, ids))
    chosen = set(stale.ids)
    return [p for sid, p in latest if sid in chosen], stale.changed


def _names(participants: Sequence[str]) -> str:
    shown = ", ".join(one_line(p, limit=80) for p in participants[:SHOWN])
    more = len(participants) - SHOWN
    return shown + (f" (+{more})" if more > 0 else "")


def stale_error(assignment_id: str, participants: Sequence[str], changed: Sequence[str],
                lang: Lang) -> ExportError:
    n, names = len(participants), _names(participants)
    return ExportError(
        tr(lang, ja=f"古い採点結果が {n} 人分あります (変わったもの: "
                    f"{parts_text(changed, 'ja')}): {names}",
           en=f"{n} participant(s) have stale results (changed since: "
              f"{parts_text(changed, 'en')}): {names}"),
        where=assignment_id,
        hint=tr(lang, ja=f"`autograder grade {assignment_id} ...` をもう一度実行して採点し直すか、"
                         "古いまま書き出すなら --allow-stale を付けてください",
                en=f"run `autograder grade {assignment_id} ...` again to regrade them, or pass"
                   " --allow-stale to export them as they are"))


def stale_warning(participants: Sequence[str], changed: Sequence[str]) -> Notice:
    n, names = len(participants), _names(participants)
    return Notice("stale_exported",
                  f"古い採点結果 {n} 人分をそのまま書き出しました (--allow-stale、変わったもの: "
                  f"{parts_text(changed, 'ja')}): {names}",
                  f"exported {n} stale result(s) as they are (--allow-stale; changed since: "
                  f"{parts_text(changed, 'en')}): {names}")


def export_guard(gb: Gradebook, assignment: Assignment, latest: Sequence[tuple[int, str]], *,
                 allow_stale: bool, lang: Lang) -> list[Notice]:
    """Raise ``ExportError`` when a latest result is stale (unless ``allow_stale``: then
    a warning notice)."""
    participants, changed = stale_participants(gb, assignment, latest)
    if not participants:
        return []
    if not allow_stale:
        raise stale_error(assignment.id, participants, changed, lang)
    return [stale_warning(participants, changed)]
