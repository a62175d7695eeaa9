"""Run an assignment's pytest checks in the grader's process against one submission.

``run_checks`` may be called many times in one long-lived worker: each call is a fresh
``pytest.main`` session with plugin autoloading off, no cache, plain asserts and no
captured-output noise, and afterwards the assignment's test modules are dropped from
``sys.modules`` and ``sys.path``, the global RNG states, torch's default dtype and grad
mode are put back. Before each check the grader's RNGs are seeded from the check's id,
so every submission sees the same grader-side random inputs.

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
import io
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .. import reference_alias
from ..errors import ConfigError
from ..i18n import Lang, tr
from ..labels import check_named_checks
from ..results import CheckResult
from . import fixtures
from .budget import BudgetUsedUp, ChecksBudget
from .outcomes import CheckTimeout, Partial, metric_slot, reset_metric, student_message

if TYPE_CHECKING:
    from ..bridge import Submission
    from ..config import Assignment

log = logging.getLogger(__name__)

# Longer than the kernel's interrupt grace (kernel.INTERRUPT_GRACE_S, 5 s) plus a kill: a
# kernel that ignores the interrupt is then killed by the timed-out request itself, before
# the alarm ends the check, so it cannot go on running what the check asked for.
ALARM_GRACE_S = 8.0
_OK_EXIT_CODES = (0, 1, 5)   # all passed, some failed, none collected


@dataclass
class _Failure:
    when: str
    exc: BaseException
    skipped: bool


class _Run:
    """The pytest plugin for one run: hands out fixtures, records every check."""

    def __init__(self, *, assignment: Assignment, submission: Submission | None,
                 lang: Lang | None, timeout: float, budget: ChecksBudget | None = None):
        self.assignment, self.submission = assignment, submission
        self.lang, self.timeout = lang, timeout
        self.budget = budget or ChecksBudget(assignment.limits.checks_timeout_s)
        self.limits: dict[str, float] = {}     # each check's limit, cut to the budget
        self.out_of_time: set[str] = set()     # checks that failed as the budget ran out
        self.items: list[pytest.Item] = []
        self.names: dict[str, str] = {}
        self.points: dict[str, float] = {}
        self.docs: dict[str, str] = {}
        self.failures: dict[str, _Failure] = {}
        self.ran: set[str] = set()
        self.metrics: dict[str, list[float]] = {}
        self.collect_errors: list[str] = []
        self.config_error: ConfigError | None = None
        self.interrupted = False
        self.deadline = 0.0

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

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None
                                ) -> Any:
        limit = self.limits[item.nodeid] = self.budget.cut(_time_limit(item, self.timeout))
        self.deadline = time.monotonic() + limit
        _seed_rngs(item.nodeid)
        slot, token = metric_slot()
        self.ran.add(item.nodeid)
        try:
            with self._kernel_limit(limit):
                return (yield)
        finally:
            reset_metric(token)
            self.metrics[item.nodeid] = slot
            if item.nodeid in self.failures and self.budget.note_failure():
                self.out_of_time.add(item.nodeid)

    @contextlib.contextmanager
    def _kernel_limit(self, limit: float) -> Iterator[None]:
        if self.submission is None:
            yield
            return
        with self.submission.time_limit(limit):
            yield

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        if self.limits[item.nodeid] <= 0:
            raise BudgetUsedUp  # fails the check at once, before anything reaches the kernel
        with _alarm(self.deadline + ALARM_GRACE_S, self.limits[item.nodeid]):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        with _alarm(self.deadline + ALARM_GRACE_S, self.limits[item.nodeid]):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Any:
        report = yield
        if call.excinfo is not None and item.nodeid not in self.failures:
            self.failures[item.nodeid] = _Failure(call.when, call.excinfo.value,
                                                  bool(report.skipped))
        return report

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]
                                  ) -> None:
        # pytest reports collection errors as ``Interrupted``, a KeyboardInterrupt subclass
        self.interrupted = excinfo.type is KeyboardInterrupt

    # -- results ----------------------------------------------------------

    def results(self) -> list[CheckResult]:
        return [self.result(item) for item in self.items]

    def result(self, item: pytest.Item) -> CheckResult:
        name, max_points = self.names[item.nodeid], self.points[item.nodeid]
        metric: list[float | None] = [*self.metrics.get(item.nodeid, [])] or [None]
        failure = self.failures.get(item.nodeid)
        if item.nodeid not in self.ran:
            return CheckResult(name, 0.0, max_points, False, tr(
                self.lang, ja="実行されませんでした", en="the check did not run"))
        if failure is None:
            return CheckResult(name, max_points, max_points, True, metric=metric[0])
        exc, lang = failure.exc, self.lang
        if isinstance(exc, Partial):
            return CheckResult(name, round(max_points * exc.fraction, 6), max_points,
                               exc.fraction >= 1.0, student_message(exc, lang=lang),
                               metric=metric[0])
        if item.nodeid in self.out_of_time:
            # never the check's own timeout text: it may name what the check asked for
            return CheckResult(name, 0.0, max_points, False, self.budget.message(lang),
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


def _time_limit(item: pytest.Item, default: float) -> float:
    marked = _marker_number(item, "time_limit")
    return marked if marked else default


@contextlib.contextmanager
def _alarm(deadline: float, limit: float) -> Iterator[None]:
    """Raise ``CheckTimeout`` in this thread at ``deadline`` (main thread only)."""
    usable = threading.current_thread() is threading.main_thread() \
        and hasattr(signal, "setitimer")
    if not usable:
        yield
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise CheckTimeout(limit)

    def _fire(signum: int, frame: Any) -> None:
        raise CheckTimeout(limit)

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _seed_rngs(nodeid: str) -> None:
    seed = zlib.crc32(nodeid.encode("utf-8"))
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# ---------------------------------------------------------------- process hygiene

@contextlib.contextmanager
def _global_state_restored() -> Iterator[None]:
    """Put back what checks may change in the grader process: RNGs, torch modes, paths."""
    saved_path = list(sys.path)
    saved_random = random.getstate()
    np = sys.modules.get("numpy")
    saved_np = np.random.get_state() if np is not None else None
    torch = sys.modules.get("torch")
    saved_torch = (torch.get_rng_state(), torch.get_default_dtype(),
                   torch.is_grad_enabled()) if torch is not None else None
    try:
        yield
    finally:
        sys.path[:] = saved_path
        random.setstate(saved_random)
        if np is not None:
            np.random.set_state(saved_np)
        if torch is not None and saved_torch is not None:
            torch.set_rng_state(saved_torch[0])
            torch.set_default_dtype(saved_torch[1])
            torch.set_grad_enabled(saved_torch[2])


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    """Only our plugin and pytest's own: no installed plugins, no PYTEST_* options, no
    assertion rewriting, no bytecode written into the assignment folder."""
    names = ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ.pop("PYTEST_PLUGINS", None)
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    # An enclosing pytest (e.g. this project's own tests) would rewrite the checks'
    # asserts and put their source into the messages students read.
    saved_hooks = list(sys.meta_path)
    sys.meta_path[:] = [h for h in saved_hooks
                        if type(h).__name__ != "AssertionRewritingHook"]
    try:
        yield
    finally:
        sys.meta_path[:] = saved_hooks
        sys.dont_write_bytecode = bytecode
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _forget_modules(folder: Path) -> None:
    """Drop modules loaded from the assignment, so the next run imports its own."""
    root = str(folder.resolve())
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.abspath(file).startswith(root + os.sep):
            del sys.modules[name]


# ---------------------------------------------------------------- entry points

def _pytest(run: _Run, *, collect_only: bool) -> str:
    tests_dir = run.assignment.tests_dir.resolve()
    output = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="ag-checks-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        args = [str(tests_dir), "-c", str(ini), "--rootdir", str(tests_dir),
                "--confcutdir", str(tests_dir), "-p", "no:cacheprovider",
                "-p", "no:logging", "-p", "no:faulthandler", "-p", "no:pastebin",
                "--assert=plain", "--capture=no", "-q", "--tb=no", "--color=no",
                "--import-mode=prepend"]
        if collect_only:
            args.append("--collect-only")
        _forget_modules(tests_dir)
        reference_alias.install()  # checks written against `reference` keep importing
        try:
            with _environment(), _global_state_restored(), \
                    contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = pytest.main(args, plugins=[fixtures, run])
        finally:
            _forget_modules(tests_dir)
    _raise_for_run(run, int(code), output.getvalue())
    return output.getvalue()


def _fix_hint() -> str:
    return tr(ja="課題の tests/ を直してください(そこで pytest を実行すると分かります)",
              en="fix the assignment's tests (run pytest there)")


def _raise_for_run(run: _Run, code: int, output: str) -> None:
    if run.interrupted:
        raise KeyboardInterrupt
    if run.config_error is not None:
        raise run.config_error
    where = str(run.assignment.tests_dir)
    if run.collect_errors:
        raise ConfigError(tr(ja="チェックを読み込めません: ", en="the checks could not be"
                             " collected: ") + run.collect_errors[0], where=where, hint=_fix_hint())
    if code not in _OK_EXIT_CODES:
        raise ConfigError(tr(ja=f"pytest が終了コード {code} で止まりました: ",
                             en=f"pytest stopped with exit code {code}: ") + output[-1500:],
                          where=where, hint=_fix_hint())


def run_checks(*, assignment: Assignment, submission: Submission, lang: Lang | None = None,
               timeout_per_check: float = 120.0, budget: ChecksBudget | None = None
               ) -> list[CheckResult]:
    """Run every check in ``assignment.tests_dir`` against ``submission``; one result
    per check, in collection order. A broken check suite raises ``ConfigError``.
    ``budget``: the time for all checks together (default: the manifest's
    ``checks_timeout_s``); pass one to learn afterwards whether it was ``exhausted``."""
    if not assignment.tests_dir.is_dir():
        return []
    run = _Run(assignment=assignment, submission=submission, lang=lang,
               timeout=timeout_per_check, budget=budget)
    run.budget.start()
    _pytest(run, collect_only=False)
    return run.results()


@dataclass(frozen=True)
class CheckInfo:
    """A collected check: its name, its points, its docstring's first line ("" if none)."""

    name: str
    max_points: float
    doc: str = ""


def describe_checks(*, assignment: Assignment) -> list[CheckInfo]:
    """Every check, without running any (a ``ConfigError`` for a broken suite or a
    manifest that names a check that does not exist)."""
    if not assignment.tests_dir.is_dir():
        return []
    run = _Run(assignment=assignment, submission=None, lang=None, timeout=1.0)
    _pytest(run, collect_only=True)
    return [CheckInfo(run.names[item.nodeid], run.points[item.nodeid],
                      run.docs.get(item.nodeid, "")) for item in run.items]


def collect_checks(*, assignment: Assignment) -> list[tuple[str, float]]:
    """``(name, max_points)`` of every check, without running any."""
    return [(c.name, c.max_points) for c in describe_checks(assignment=assignment)]
