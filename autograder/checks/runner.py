"""Run an assignment's pytest checks in the grader's process against one submission.

The checks are collected once per worker process (``session.py``: one pytest
configuration and collection per assignment, kept while the worker lives) and their
items are run again for every new ``submission``; pytest's start-up, plugin loading and
collection are not paid per submission. Plugin autoloading is off, there is no cache,
asserts are plain and nothing is printed. Each submission's run tears every fixture down
at its end (the ``submission`` fixture is session-scoped: it is made anew per run), and
afterwards the global RNG states, torch's default dtype and grad mode and ``sys.path``
are put back (``hygiene.py``). Before each check the grader's RNGs are seeded from the
check's id, so every submission sees the same grader-side random inputs.

Points: ``@pytest.mark.points(n)`` (default 1), overridden by the manifest's ``[points]``
table (key: the check's name, or the function name for every parametrised case); the
manifest's ``[labels]`` and ``[[questions]]`` must name collected checks too. Each
check's title falls back to its docstring's first line (``describe_checks``). Time:
``timeout_per_check`` seconds, or ``@pytest.mark.time_limit(s)``, each cut to what is left
of the submission's budget for all checks (``Limits.checks_timeout_s``, ``budget.py``);
kernel requests are cut to the time left, and a hard alarm (main thread only) stops
grader-side loops. Once the budget is used up the remaining checks fail at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from ..core.errors import ConfigError
from ..core.i18n import Lang, tr
from ..core.item_names import check_named_checks
from ..core.results import CheckResult
from . import fixtures
from .budget import BudgetUsedUp, ChecksBudget
from .hygiene import alarm, seed_rngs
from .outcomes import Partial, metric_slot, reset_metric, student_message

if TYPE_CHECKING:
    from ..core.config import Assignment
    from ..engine.bridge.submission import Submission

log = logging.getLogger(__name__)

# Longer than the kernel's interrupt grace (kernel.INTERRUPT_GRACE_S, 5 s) plus a kill: a
# kernel that ignores the interrupt is then killed by the timed-out request itself, before
# the alarm ends the check, so it cannot go on running what the check asked for.
ALARM_GRACE_S = 8.0


@dataclass
class _Failure:
    when: str
    exc: BaseException
    skipped: bool


@dataclass
class Run:
    """One submission's run of the collected checks: what each check did."""

    submission: Submission
    lang: Lang | None
    budget: ChecksBudget
    timeout: float = 120.0                                  # per check, unless marked
    limits: dict[str, float] = field(default_factory=dict)  # each check's, cut to the budget
    out_of_time: set[str] = field(default_factory=set)      # failed as the budget ran out
    failures: dict[str, _Failure] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    deadline: float = 0.0


class Plugin:
    """The pytest plugin of one session: collects once, then serves each run's hooks
    (``run`` is the submission being checked; the fixtures read it)."""

    def __init__(self, *, assignment: Assignment):
        self.assignment = assignment
        self.items: list[pytest.Item] = []
        self.names: dict[str, str] = {}
        self.points: dict[str, float] = {}
        self.docs: dict[str, str] = {}
        self.collect_errors: list[str] = []
        self.config_error: ConfigError | None = None
        self.run: Run | None = None

    @property
    def submission(self) -> Submission | None:
        return self.run.submission if self.run is not None else None

    # -- collection -------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[fixtures.RUN_KEY] = self
        config.addinivalue_line("markers", "points(n): points this check is worth")
        config.addinivalue_line("markers", "time_limit(seconds): time limit of this check")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        try:
            self.names = _unique_names(items)
            self.points = _points(items, self.names, self.assignment)
            self.docs = {item.nodeid: _doc_line(item) for item in items}
            check_named_checks(self.assignment, _known_names(items, self.names))
        except ConfigError as exc:
            self.config_error = exc
            items[:] = []
        self.items = list(items)

    # -- running ----------------------------------------------------------

    def _current(self) -> Run:
        if self.run is None:
            raise RuntimeError("no submission: checks were only collected, not run")
        return self.run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None
                                ) -> Any:
        run = self._current()
        limit = run.limits[item.nodeid] = run.budget.cut(_time_limit(item, run.timeout))
        run.deadline = time.monotonic() + limit
        seed_rngs(item.nodeid)
        slot, token = metric_slot()
        run.ran.add(item.nodeid)
        try:
            with run.submission.time_limit(limit):
                return (yield)
        finally:
            reset_metric(token)
            run.metrics[item.nodeid] = slot
            if item.nodeid in run.failures and run.budget.note_failure():
                run.out_of_time.add(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        run = self._current()
        if run.limits[item.nodeid] <= 0:
            raise BudgetUsedUp  # fails the check at once, before anything reaches the kernel
        with alarm(run.deadline + ALARM_GRACE_S, run.limits[item.nodeid]):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        run = self._current()
        with alarm(run.deadline + ALARM_GRACE_S, run.limits[item.nodeid]):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Any:
        report = yield
        run = self._current()
        if call.excinfo is not None and item.nodeid not in run.failures:
            run.failures[item.nodeid] = _Failure(call.when, call.excinfo.value,
                                                 bool(report.skipped))
        return report

    # -- results ----------------------------------------------------------

    def results(self, run: Run) -> list[CheckResult]:
        return [self.result(run, item) for item in self.items]

    def result(self, run: Run, item: pytest.Item) -> CheckResult:
        name, max_points = self.names[item.nodeid], self.points[item.nodeid]
        metric: list[float | None] = [*run.metrics.get(item.nodeid, [])] or [None]
        failure = run.failures.get(item.nodeid)
        if item.nodeid not in run.ran:
            return CheckResult(name, 0.0, max_points, False, tr(
                run.lang, ja="実行されませんでした", en="the check did not run"))
        if failure is None:
            return CheckResult(name, max_points, max_points, True, metric=metric[0])
        exc, lang = failure.exc, run.lang
        if isinstance(exc, Partial):
            return CheckResult(name, round(max_points * exc.fraction, 6), max_points,
                               exc.fraction >= 1.0, student_message(exc, lang=lang),
                               metric=metric[0])
        if item.nodeid in run.out_of_time:
            # never the check's own timeout text: it may name what the check asked for
            return CheckResult(name, 0.0, max_points, False, run.budget.message(lang),
                               metric=metric[0])
        message = student_message(exc, lang=lang)
        if failure.skipped:
            message = tr(lang, ja=f"スキップされました: {message}", en=f"skipped: {message}")
        elif failure.when == "teardown":
            log.warning("check %s failed in teardown: %r", item.nodeid, exc)
        return CheckResult(name, 0.0, max_points, False, message, metric=metric[0])


# ---------------------------------------------------------------- names, points, limits

def _unique_names(items: list[pytest.Item]) -> dict[str, str]:
    """Check names as students see them: the test name, qualified only when ambiguous."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
    return {item.nodeid: item.name if counts[item.name] == 1 else item.nodeid
            for item in items}


def _marker_number(item: pytest.Item, marker: str) -> float | None:
    mark = item.get_closest_marker(marker)
    if mark is None:
        return None
    value = mark.args[0] if len(mark.args) == 1 and not mark.kwargs else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(tr(ja=f"@pytest.mark.{marker} には 0 以上の数を 1 つ書きます",
                             en=f"@pytest.mark.{marker} needs one non-negative number"),
                          where=item.nodeid,
                          hint=tr(ja=f"@pytest.mark.{marker}(2) のように書いてください",
                                  en=f"write @pytest.mark.{marker}(2)"))
    return float(value)


def _points(items: list[pytest.Item], names: dict[str, str], assignment: Assignment
            ) -> dict[str, float]:
    table = dict(assignment.points)
    used: set[str] = set()
    points: dict[str, float] = {}
    for item in items:
        marked = _marker_number(item, "points")
        keys = (names[item.nodeid], item.name, getattr(item, "originalname", item.name))
        key = next((k for k in keys if k in table), None)
        if key is not None:
            used.add(key)
        points[item.nodeid] = table[key] if key is not None else \
            marked if marked is not None else 1.0
    unknown = sorted(set(table) - used)
    if unknown:
        raise ConfigError(tr(ja=f"[points] のチェック名がありません: {', '.join(unknown)}",
                             en=f"[points] names no check: {', '.join(unknown)}"),
                          where=str(assignment.manifest_path),
                          hint=tr(ja="tests/ フォルダの test_ 関数の名前を書いてください",
                                  en="use the test function names from the tests/ folder"))
    return points


def _time_limit(item: pytest.Item, default: float) -> float:
    marked = _marker_number(item, "time_limit")
    return marked if marked else default


def _known_names(items: list[pytest.Item], names: dict[str, str]) -> set[str]:
    """Every name the manifest may use for a check (as for ``[points]``)."""
    known = set(names.values())
    for item in items:
        known.update((item.name, getattr(item, "originalname", item.name)))
    return known


def _doc_line(item: pytest.Item) -> str:
    """The first line of the check function's docstring (with a parametrised case's id)."""
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    line = next((s.strip() for s in doc.splitlines() if s.strip()), "") \
        if isinstance(doc, str) else ""
    callspec = getattr(item, "callspec", None)
    if line and callspec is not None:
        line = f"{line} [{callspec.id}]"
    return line[:200]


@contextlib.contextmanager
def running(plugin: Plugin, run: Run) -> Iterator[None]:
    """``run`` is the one the plugin's hooks and the fixtures see, for the block."""
    plugin.run = run
    try:
        yield
    finally:
        plugin.run = None


__all__ = ["ALARM_GRACE_S", "Plugin", "Run", "running"]
