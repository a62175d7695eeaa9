"""The class report (``report.html``): how the batch went, and what needs a human look.

Plots are drawn with matplotlib (Agg) and embedded as PNG; the page is one self-contained
file. Axis labels are Japanese only where a CJK font is installed (otherwise matplotlib
would draw empty boxes), the surrounding HTML always follows the chosen language.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Assignment
from .feedback import environment, status_text
from .i18n import Lang, tr
from .results import Status, SubmissionResult
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


def _cjk_font() -> str | None:
    """The name of an installed font that has Japanese glyphs, if any."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist
                    if "CJK JP" in f.name or "IPA" in f.name or "Gothic" in f.name})
    return names[0] if names else None


def _has_cjk_font() -> bool:
    return _cjk_font() is not None


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

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


def pass_rates(summary: ClassSummary) -> list[tuple[str, float, int]]:
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in summary.rows:
        for check in row.result.checks:
            total[check.name] += 1
            passed[check.name] += int(check.passed)
    return [(name, passed[name] / total[name], total[name]) for name in total]


def pass_rate_chart(summary: ClassSummary, lang: Lang) -> str:
    rates = pass_rates(summary)
    fig, ax = _figure(6.0, max(2.0, 0.32 * len(rates) + 0.8))
    ax.barh([r[0] for r in rates][::-1], [100 * r[1] for r in rates][::-1], color="#34a853")
    ax.set_xlim(0, 100)
    ax.set_xlabel(tr(_labels(lang), ja="合格率 (%)", en="pass rate (%)"))
    return _png(fig)


def metric_values(summary: ClassSummary) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for row in summary.rows:
        for check in row.result.checks:
            if check.metric is not None:
                values.setdefault(check.name, []).append(check.metric)
    return values


def accuracy_chart(name: str, values: list[float], threshold: float | None, lang: Lang) -> str:
    fig, ax = _figure()
    ax.hist(values, bins=20, range=(0, 1), color="#9334e6", edgecolor="white")
    if threshold is not None:
        ax.axvline(threshold, color="#d93025", linestyle="--",
                   label=tr(_labels(lang), ja=f"基準 {threshold:.3f}",
                            en=f"threshold {threshold:.3f}"))
        ax.legend()
    ax.set_xlabel(name)
    return _png(fig)


def runtime_chart(summary: ClassSummary, lang: Lang) -> str:
    fig, ax = _figure()
    ax.hist([r.result.exec_seconds for r in summary.rows], bins=20, color="#f9ab00",
            edgecolor="white")
    ax.set_xlabel(tr(_labels(lang), ja="実行時間 (秒)", en="run time (s)"))
    return _png(fig)


def render_class_report(summary: ClassSummary, *, assignment: Assignment, lang: Lang) -> str:
    max_score = max((r.result.max_score for r in summary.rows), default=0.0)
    threshold = next(iter(assignment.thresholds.values()), None)
    statuses = Counter(r.result.status for r in summary.rows)
    return environment().get_template("class_report.html.j2").render(
        lang=lang, title=assignment.title(lang), assignment_id=assignment.id,
        n=len(summary.rows), mean=(sum(r.result.score for r in summary.rows)
                                   / len(summary.rows)) if summary.rows else 0.0,
        max_score=max_score, statuses=[(status_text(s, lang), c) for s, c in
                                       statuses.most_common()],
        score_png=score_histogram(summary, max_score, lang) if summary.rows else None,
        pass_png=pass_rate_chart(summary, lang) if pass_rates(summary) else None,
        pass_rows=pass_rates(summary),
        accuracy_pngs=[(name, accuracy_chart(name, vals, threshold, lang))
                       for name, vals in metric_values(summary).items()],
        runtime_png=runtime_chart(summary, lang) if summary.rows else None,
        review=summary.review(lang), t=_report_texts(lang))


def _report_texts(lang: Lang) -> dict[str, str]:
    keys = {
        "heading": ("クラスレポート", "Class report"), "n": ("提出数", "submissions"),
        "mean": ("平均点", "mean score"), "scores": ("得点分布", "Score distribution"),
        "pass": ("チェックごとの合格率", "Pass rate per check"),
        "accuracy": ("精度の分布と基準", "Accuracy against the threshold"),
        "runtime": ("実行時間の分布", "Run-time distribution"),
        "status": ("状態の内訳", "Status counts"), "count": ("件数", "count"),
        "review": ("要確認 (人の目で確認してください)", "Needs a human look"),
        "who": ("提出者", "participant"), "why": ("理由", "reason"),
        "none": ("ありません", "none"), "check": ("項目", "check"),
        "rate": ("合格率", "pass rate"),
    }
    return {k: (en if lang == "en" else ja) for k, (ja, en) in keys.items()}
