"""Fixtures every assignment's checks can use (registered by ``run_checks``).

- ``submission``: the ``autograder.engine.bridge.submission.Submission`` being graded
  (session scope);
- ``assignment``: the ``autograder.core.config.Assignment`` (manifest, thresholds, data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from ..core.config import Assignment
    from ..engine.bridge.submission import Submission


class _Run(Protocol):
    """What the fixtures read of the plugin ``run_checks`` stores (``runner.Plugin``)."""

    @property
    def submission(self) -> Submission | None: ...
    @property
    def assignment(self) -> Assignment: ...


RUN_KEY: pytest.StashKey[_Run] = pytest.StashKey()


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest) -> Submission:
    sub = request.config.stash[RUN_KEY].submission
    if sub is None:
        raise RuntimeError("no submission: checks were only collected, not run")
    return sub


@pytest.fixture(scope="session")
def assignment(request: pytest.FixtureRequest) -> Assignment:
    return request.config.stash[RUN_KEY].assignment
