"""The class report (``report.html``): how the batch went, and what needs a human look.

Plots are drawn with matplotlib (Agg) and embedded as PNG; the page is one self-contained
file. Every chart text (axes, legend, the checks' titles) follows the chosen language;
Japanese is drawn only where a CJK font is installed (otherwise matplotlib would draw
empty boxes: the chart falls back to English), the surrounding HTML always follows the
chosen language. Items are shown by title and grouped by question (``engine/labels.py``), each
with how many passed, how many got partial credit (部分点) and the mean share of points.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import Assignment
from ..core.i18n import Lang, tr
from ..core.results import Status, SubmissionResult
from ..engine.labels import ItemTitles
from .feedback import environment, status_text
from .item_states import ItemState, state_of
from .similarity import SimilarPair, notebook_code, similar_groups, similar_pairs

REVIEW_STATUSES = {Status.ERROR, Status.TIMEOUT, Status.KILLED, Status.INVALID,
                   Status.WRONG_ASSIGNMENT, Status.REFUSED, Status.CRASHED}
REVIEW_NOTICES = {"misnamed", "tampering", "converted_py", "multiple_files", "restored"}


@dataclass(frozen=True)
class Row:
    participant: str
    name: str
    result: SubmissionResult


@dataclass
class ClassSummary:
    rows: list[Row]
    similar: list[SimilarPair] = field(default_factory=list)

    def review(self, lang: Lang) -> list[tuple[str, str]]:
        """(participant label, reason) for every submission that needs a human look."""
        out: list[tuple[str, str]] = []
        for row in self.rows:
            label = f"{row.name} ({row.participant})" if row.name else row.participant
            res = row.result
            if res.status in REVIEW_STATUSES:
                out.append((label, f"{status_text(res.status, lang)}: {res.reason}"))
            for notice in res.notices:
                if notice.code in REVIEW_NOTICES:
                    out.append((label, notice.text(lang)))
            if res.provisional:  # its total still moves when a person grades the answer
                out.append((label, tr(lang, ja="手で採点する解答が採点待ちです (得点は暫定)",
                                      en="an answer waits for a person (the score is"
                                         " provisional)")))
        names = {r.participant: (f"{r.name} ({r.participant})" if r.name else r.participant)
                 for r in self.rows}
        for group in similar_groups(self.similar):
            who = " ↔ ".join(names.get(m, m) for m in group.members)
            out.append((who, tr(lang, ja=f"コードがほぼ同一です ({len(group.members)} 人,"
                                         f" 類似度 最大 {group.similarity:.2f})",
                                en=f"near-identical code ({len(group.members)} people,"
                                   f" similarity up to {group.similarity:.2f})")))
        return out


def summarise(rows: Sequence[Row], *, template_code: str = "") -> ClassSummary:
    codes = {r.participant: notebook_code(r.result.executed_notebook) for r in rows
             if r.result.status is Status.GRADED}
    return ClassSummary(list(rows), similar_pairs(codes, template=template_code))


@functools.lru_cache(maxsize=1)
def _cjk_font() -> str | None:
    """The name of an installed font that has Japanese glyphs, if any.

    matplotlib lists the fonts it found when it first ran (its font cache); fonts
    installed later (``apt-get install fonts-noto-cjk``) are looked up on disk and added,
    so that Japanese charts do not depend on when the cache was made."""
    from matplotlib import font_manager

    def known() -> list[str]:
        return sorted({f.name for f in font_manager.fontManager.ttflist
                       if "CJK JP" in f.name or "IPA" in f.name or "Gothic" in f.name})

    if not known():
        for path in font_manager.findSystemFonts(fontext="ttf"):
            if any(word in Path(path).name for word in ("CJK", "IPA", "Gothic")):
                with contextlib.suppress(Exception):  # an unreadable font file: skip it
                    font_manager.fontManager.addfont(path)
    names = known()
    sans = [n for n in names if "Sans" in n]
    return next(iter(sans or names), None)


def _has_cjk_font() -> bool:
    return _cjk_font() is not None


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:  # counts of students: whole numbers on the axis
        if ax.get_ylabel():
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _labels(lang: Lang) -> Lang:
    return lang if lang == "en" or _has_cjk_font() else "en"


def _figure(width: float = 6.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _cjk_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    return plt.subplots(figsize=(width, height))


def score_histogram(summary: ClassSummary, max_score: float, lang: Lang) -> str:
    fig, ax = _figure()
    scores = [r.result.score for r in summary.rows]
    ax.hist(scores, bins=min(20, max(5, len(scores))), range=(0, max(max_score, 1e-9)),
            color="#1a73e8", edgecolor="white")
    lab = _labels(lang)
    ax.set_xlabel(tr(lab, ja="得点", en="score"))
    ax.set_ylabel(tr(lab, ja="人数", en="students"))
    return _png(fig)


@dataclass(frozen=True)
class ItemRate:
    """How the class did on one graded item."""

    name: str
    question: str        # the question's title ("" when the assignment has none)
    title: str
    total: int
    passed: int
    partial: int
    mean_share: float    # mean of points / max points

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class _Tally:
    name: str
    states: tuple[ItemState, ...]
    shares: tuple[float, ...]


def item_rates(summary: ClassSummary, titles: ItemTitles, lang: Lang) -> list[ItemRate]:
    """One ``ItemRate`` per graded item, by question, in the feedback's order."""
    states: dict[str, list[ItemState]] = {}
    shares: dict[str, list[float]] = {}
    for row in summary.rows:
        for check in row.result.checks:
            states.setdefault(check.name, []).append(state_of(check, row.result.status))
            shares.setdefault(check.name, []).append(
                check.points / check.max_points if check.max_points > 0 else float(check.passed))
    tallies = [_Tally(n, tuple(states[n]), tuple(shares[n])) for n in states]
    out = []
    for group in titles.groups(tallies):
        question = group.title(lang) if titles.questions else ""
        out += [ItemRate(t.name, question, titles.title(t.name, lang), len(t.states),
                         t.states.count(ItemState.PASSED), t.states.count(ItemState.PARTIAL),
                         sum(t.shares) / len(t.shares)) for t in group.items]
    return out


def pass_rate_chart(rates: list[ItemRate], lang: Lang) -> str:
    fig, ax = _figure(6.0, max(2.0, 0.32 * len(rates) + 0.8))
    labels = [_short(_drawable(r.title, r.name)) for r in rates][::-1]
    ax.barh(range(len(rates)), [100 * r.rate for r in rates][::-1], color="#34a853",
            label=tr(lang, ja="合格", en="passed"))
    ax.barh(range(len(rates)), [100 * r.partial / r.total for r in rates][::-1],
            left=[100 * r.rate for r in rates][::-1], color="#f9ab00",
            label=tr(lang, ja="部分点", en="partial"))
    ax.set_yticks(range(len(rates)), labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel(tr(lang, ja="割合 (%)", en="share of submissions (%)"))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
              fontsize="small")
    return _png(fig)


def _drawable(text: str, fallback: str) -> str:
    """``text``, or ``fallback`` where it has CJK characters and no font can draw them."""
    if _has_cjk_font() or all(ord(c) < 0x2E80 for c in text):
        return text
    return fallback


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metric_values(summary: ClassSummary) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for row in summary.rows:
        for check in row.result.checks:
            if check.metric is not None:
                values.setdefault(check.name, []).append(check.metric)
    return values


def accuracy_chart(title: str, values: list[float], threshold: float | None,
                   lang: Lang) -> str:
    fig, ax = _figure()
    ax.hist(values, bins=20, range=(0, 1), color="#9334e6", edgecolor="white")
    if threshold is not None:
        ax.axvline(threshold, color="#d93025", linestyle="--",
                   label=tr(lang, ja=f"基準 {threshold:.3f}", en=f"threshold {threshold:.3f}"))
        ax.legend()
    ax.set_xlabel(title)
    ax.set_ylabel(tr(lang, ja="人数", en="students"))
    return _png(fig)


def runtime_chart(summary: ClassSummary, lang: Lang) -> str:
    fig, ax = _figure()
    ax.hist([r.result.exec_seconds for r in summary.rows], bins=20, color="#f9ab00",
            edgecolor="white")
    ax.set_xlabel(tr(_labels(lang), ja="実行時間 (秒)", en="run time (s)"))
    return _png(fig)


def render_class_report(summary: ClassSummary, *, assignment: Assignment, lang: Lang,
                        titles: ItemTitles | None = None) -> str:
    titles = titles or ItemTitles(assignment.labels, questions=assignment.questions)
    max_score = max((r.result.max_score for r in summary.rows), default=0.0)
    threshold = next(iter(assignment.thresholds.values()), None)
    statuses = Counter(r.result.status for r in summary.rows)
    rates = item_rates(summary, titles, lang)
    chart = _labels(lang)  # the charts' language: English where no CJK font is installed
    return environment().get_template("class_report.html.j2").render(
        lang=lang, title=assignment.title(lang), assignment_id=assignment.id,
        n=len(summary.rows), mean=(sum(r.result.score for r in summary.rows)
                                   / len(summary.rows)) if summary.rows else 0.0,
        max_score=max_score, statuses=[(status_text(s, lang), c) for s, c in
                                       statuses.most_common()],
        score_png=score_histogram(summary, max_score, lang) if summary.rows else None,
        pass_png=pass_rate_chart(item_rates(summary, titles, chart), chart) if rates else None,
        rates=rates,
        accuracy_pngs=[(titles.title(name, lang),
                        accuracy_chart(_drawable(titles.title(name, chart), name), vals,
                                       threshold, chart))
                       for name, vals in metric_values(summary).items()],
        runtime_png=runtime_chart(summary, lang) if summary.rows else None,
        review=summary.review(lang), t=_report_texts(lang),
        provisional=sum(1 for r in summary.rows if r.result.provisional))


def _report_texts(lang: Lang) -> dict[str, str]:
    keys = {
        "heading": ("クラスレポート", "Class report"), "n": ("提出数", "submissions"),
        "mean": ("平均点", "mean score"), "scores": ("得点分布", "Score distribution"),
        "pass": ("項目ごとの合格率", "Pass rate per item"),
        "accuracy": ("精度の分布と基準", "Accuracy against the threshold"),
        "runtime": ("実行時間の分布", "Run-time distribution"),
        "status": ("状態の内訳", "Status counts"), "count": ("件数", "count"),
        "review": ("要確認 (人の目で確認してください)", "Needs a human look"),
        "who": ("提出者", "participant"), "why": ("理由", "reason"),
        "none": ("ありません", "none"), "check": ("項目", "check"),
        "rate": ("合格率", "pass rate"), "partial": ("部分点", "partial"),
        "share": ("平均得点率", "mean share of points"),
        "provisional": ("件は採点待ちの解答があり暫定", "with answers waiting for a person:"
                        " provisional"),
    }
    return {k: (en if lang == "en" else ja) for k, (ja, en) in keys.items()}
