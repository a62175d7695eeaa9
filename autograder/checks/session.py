"""One assignment's checks, collected once per worker process and run per submission.

``pytest.main`` per submission cost 0.3–1 s on the course's machines before a single
check ran: start-up, plugin loading, collection (importing the check modules and torch's
helpers again), and at the end pytest's own ``gc.collect()`` passes over the worker's
whole heap (torch makes that slow). ``CheckSession`` does pytest's configuration and
collection once, keeps the collected items, and for each submission runs them through
pytest's own per-test protocol (``pytest_runtest_protocol``: fixtures, markers,
reports and our hooks as before), then tears every fixture down. ``session_for`` keeps
one session per assignment in the worker (a changed check file makes a new one).

Isolation between submissions: nothing of a run outlives it. The fixtures are torn
down, the ``Run`` with the submission and its results is dropped, grader-side global
state is put back (``hygiene``), and before every run but the first the check modules
are executed again in their own namespaces (``importlib.reload``: about a millisecond),
so module globals start fresh for every submission as they did when each run imported
the checks anew; the collected items stay valid, their functions read those globals.
What helpers kept for the run (``memo.once``) is dropped at its end.

Uses pytest's ``_prepareconfig`` and ``Config._do_configure``/``_ensure_unconfigure``
(what ``pytest.main`` itself calls; stable since pytest 3).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.config import _prepareconfig
from _pytest.main import Session

from ..core.errors import ConfigError
from ..core.i18n import Lang, tr
from ..core.item_names import named_items
from ..core.results import CheckResult
from . import fixtures, memo, reference_alias
from .budget import ChecksBudget
from .hygiene import environment, forget_modules, global_state_restored, modules_from
from .runner import Plugin, Run, running

if TYPE_CHECKING:
    from ..core.config import Assignment
    from ..engine.bridge.submission import Submission

# pytest's own plugins that print, cache, or keep every warning of every run (historic
# hook calls are stored for the life of the process): a long-lived session does without.
_BLOCKED = ("cacheprovider", "logging", "faulthandler", "pastebin", "terminal", "warnings",
            "unraisableexception", "threadexception", "stepwise", "junitxml", "setuponly",
            "setupplan")
_KEPT_SESSIONS = 4


class CheckSession:
    """pytest configured and the checks collected, for as many runs as needed."""

    def __init__(self, assignment: Assignment):
        self.assignment = assignment
        self.tests_dir = assignment.tests_dir.resolve()
        self.plugin = Plugin(assignment=assignment)
        self._paths: list[str] = []
        self._config, self._session = self._open()
        self._modules = modules_from(self.tests_dir)
        for name in self._modules:  # in sys.modules only while a run needs them
            del sys.modules[name]
        self._runs = 0

    # -- opening --------------------------------------------------------------------

    def _open(self) -> tuple[pytest.Config, Session]:
        forget_modules(self.tests_dir)
        reference_alias.install()  # checks written against `reference` keep importing
        output = io.StringIO()
        with environment(), global_state_restored(), _quiet(output):
            before = list(sys.path)
            config = self._configure()
            try:
                session = Session.from_config(config)
                config._do_configure()
                config.hook.pytest_sessionstart(session=session)
                config.hook.pytest_collection(session=session)
            except BaseException:
                config._ensure_unconfigure()
                raise
            self._paths = [p for p in sys.path if p not in before]
        try:
            self._raise_for_collection(session, output.getvalue())
        except BaseException:
            self._close(config, session)
            raise
        return config, session

    def _configure(self) -> pytest.Config:
        with tempfile.TemporaryDirectory(prefix="ag-checks-") as tmp:
            ini = Path(tmp) / "pytest.ini"
            ini.write_text("[pytest]\n", encoding="utf-8")
            args = [str(self.tests_dir), "-c", str(ini), "--rootdir", str(self.tests_dir),
                    "--confcutdir", str(self.tests_dir), "--assert=plain", "--capture=no",
                    "--import-mode=prepend"]
            for name in _BLOCKED:
                args += ["-p", f"no:{name}"]
            config = _prepareconfig(args, plugins=[fixtures, self.plugin])
        # ``--tb=no`` (the terminal plugin that defines it is blocked): a failed check's
        # report then holds no source excerpt, which pytest would parse the whole check
        # module for, per failure; the student never sees it anyway
        config.option.tbstyle = "no"
        return config

    def _raise_for_collection(self, session: Session, output: str) -> None:
        plugin, where = self.plugin, str(self.assignment.tests_dir)
        if plugin.config_error is not None:
            raise plugin.config_error
        if plugin.collect_errors:
            raise ConfigError(_not_collected() + plugin.collect_errors[0], where=where,
                              hint=_fix_hint())
        if session.testsfailed:
            raise ConfigError(_not_collected() + output[-1500:], where=where, hint=_fix_hint())

    # -- running --------------------------------------------------------------------

    def catalog(self) -> list[tuple[str, float]]:
        plugin = self.plugin
        return [(plugin.names[item.nodeid], plugin.points[item.nodeid])
                for item in plugin.items]

    def run(self, run: Run) -> list[CheckResult]:
        """Every check against ``run.submission``, in collection order."""
        run.budget.start()
        items = self.plugin.items
        with environment(), global_state_restored(), self._own_modules(), \
                _quiet(io.StringIO()), running(self.plugin, run):
            sys.path[:0] = self._paths
            if self._runs:
                _reload(self._modules)
            self._runs += 1
            try:
                for i, item in enumerate(items):
                    nextitem = items[i + 1] if i + 1 < len(items) else None
                    item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            finally:
                self._teardown()
                memo.forget_all()
        return self.plugin.results(run)

    def _teardown(self) -> None:
        """Every fixture torn down (normally the last check's protocol did it already)."""
        with contextlib.suppress(Exception):
            self._session._setupstate.teardown_exact(None)

    @contextlib.contextmanager
    def _own_modules(self) -> Iterator[None]:
        """This session's check modules under their names in ``sys.modules`` (another
        assignment's session may have loaded a module of the same name)."""
        saved = {name: sys.modules.get(name) for name in self._modules}
        sys.modules.update(self._modules)
        try:
            yield
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module

    # -- closing --------------------------------------------------------------------

    def close(self) -> None:
        self._close(self._config, self._session)

    def _close(self, config: pytest.Config, session: Session) -> None:
        with _quiet(io.StringIO()), contextlib.suppress(Exception):
            config.hook.pytest_sessionfinish(session=session, exitstatus=0)
        with _quiet(io.StringIO()), contextlib.suppress(Exception):
            config._ensure_unconfigure()
        for name, module in modules_from(self.tests_dir).items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _not_collected() -> str:
    return tr(ja="チェックを読み込めません: ", en="the checks could not be collected: ")


def _fix_hint() -> str:
    return tr(ja="課題の tests/ を直してください(そこで pytest を実行すると分かります)",
              en="fix the assignment's tests (run pytest there)")


def _reload(modules: dict[str, Any]) -> None:
    """Every check module executed again in its own namespace, helpers first, as
    ``importlib.reload`` does (from a code object compiled once): module globals start as
    at import, as if the checks were collected anew, while the items pytest collected
    stay valid (their functions read the same, refreshed, globals)."""
    def order(name: str) -> tuple[bool, str]:
        leaf = name.rpartition(".")[2]
        return leaf.startswith(("test_", "conftest")), name

    for name in sorted(modules, key=order):
        module = modules[name]
        code = _module_code(getattr(module, "__file__", None))
        if code is None:
            importlib.reload(module)
        else:
            exec(code, module.__dict__)


def _module_code(file: str | None) -> Any:
    if not file or not file.endswith(".py"):
        return None
    info = os.stat(file)
    return _compiled(file, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=64)
def _compiled(file: str, mtime_ns: int, size: int) -> Any:
    with open(file, "rb") as fh:
        return compile(fh.read(), file, "exec", dont_inherit=True)


@contextlib.contextmanager
def _quiet(sink: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


# ---------------------------------------------------------------- one per assignment

_SESSIONS: dict[str, tuple[Any, CheckSession]] = {}


def session_for(assignment: Assignment) -> CheckSession:
    """This process's session for ``assignment`` (made on first use; remade when a check
    file or the points table changed)."""
    folder = str(assignment.tests_dir.resolve())
    # the manifest's [points], [labels], [[questions]] and [cell_requires] are read at
    # collection (an Assignment changed in memory has the file's fingerprint)
    key = (assignment.manifest_path, tuple(sorted(assignment.points.items())),
           tuple(named_items(assignment)),
           _fingerprint(Path(folder)), _fingerprint(Path(assignment.manifest_path)))
    known = _SESSIONS.get(folder)
    if known is not None and known[0] == key:
        return known[1]
    if known is not None:
        del _SESSIONS[folder]
        known[1].close()
    session = CheckSession(assignment)
    _SESSIONS[folder] = (key, session)
    while len(_SESSIONS) > _KEPT_SESSIONS:
        _SESSIONS.pop(next(iter(_SESSIONS)))[1].close()
    return session


def close_sessions() -> None:
    while _SESSIONS:
        _SESSIONS.popitem()[1][1].close()


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every file under ``folder`` (or of ``folder``, a file)."""
    if folder.is_file():
        info = folder.stat()
        return ((str(folder), info.st_mtime_ns, info.st_size),)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            with contextlib.suppress(OSError):
                info = os.stat(os.path.join(root, name))
                found.append((os.path.join(root, name), info.st_mtime_ns, info.st_size))
    return tuple(found)


__all__ = ["CheckInfo", "CheckSession", "close_sessions", "collect_checks", "describe_checks",
           "run_checks", "session_for"]


# ---------------------------------------------------------------- entry points

def run_checks(*, assignment: Assignment, submission: Submission, lang: Lang | None = None,
               timeout_per_check: float = 120.0, budget: ChecksBudget | None = None
               ) -> list[CheckResult]:
    """Run every check in ``assignment.tests_dir`` against ``submission``; one result
    per check, in collection order. A broken check suite raises ``ConfigError``.
    ``budget``: the time for all checks together (default: the manifest's
    ``checks_timeout_s``); pass one to learn afterwards whether it was ``exhausted``."""
    if not assignment.tests_dir.is_dir():
        return []
    budget = budget or ChecksBudget(assignment.limits.checks_timeout_s)
    return session_for(assignment).run(Run(submission=submission, lang=lang, budget=budget,
                                           timeout=timeout_per_check))


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
    plugin = session_for(assignment).plugin
    return [CheckInfo(plugin.names[item.nodeid], plugin.points[item.nodeid],
                      plugin.docs.get(item.nodeid, "")) for item in plugin.items]


def collect_checks(*, assignment: Assignment) -> list[tuple[str, float]]:
    """``(name, max_points)`` of every check, without running any."""
    return [(c.name, c.max_points) for c in describe_checks(assignment=assignment)]
