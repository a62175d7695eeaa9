"""Kernel slots for tests: distinct per xdist worker and per test file, so parallel tests
rarely ask for the same sandbox uid (the uid lease would also cope with clashes)."""

from __future__ import annotations

import os

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def worker_slot(base: int, n: int = 0) -> int:
    """Slot ``n`` of the block starting at ``base`` (blocks 100 apart, 20 per worker)."""
    return base + 20 * WORKER + n
