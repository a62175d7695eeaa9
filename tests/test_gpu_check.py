"""``bench/gpu_check.sh --tiny`` runs end to end on the CPU: the throw-away environment
it makes on the GPU machine (a venv that sees this interpreter's packages, here without
wheels to add), the 14_h reference under a tiny budget, two copies graded with one and
two kernels, AlexNet's throughput, one table, exit 0.

The GPU machine itself is the GPU issue's to run (bench/README.md, "gpu_check")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]


def test_gpu_check_passes_on_the_cpu_in_tiny_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "AG_OVERLAY": "always",
           "AG_WHEELS": str(tmp_path / "no-wheels"), "TMPDIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)  # the script sets its own
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--tiny"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    report = done.stdout[-4000:] + "\n" + done.stderr[-4000:]
    assert done.returncode == 0, report
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| step")]
    steps = [cells[0].strip() for cells in rows]
    assert steps.count("reference") == 1 and steps.count("packing") == 2, report
    assert "alexnet" in steps, report
    for cells in rows:
        if cells[0].strip() in ("reference", "packing"):
            assert "graded" in cells[6] and "error" not in cells[6], report
    assert "gpu_check: PASS" in done.stdout
    assert not list(tmp_path.glob("ag-gpu-check.*")), "the temporary folder was left"
