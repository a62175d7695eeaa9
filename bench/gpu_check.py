"""One-shot GPU check: 14_h's reference on the GPU, packing kernels on one GPU, AlexNet's
throughput; one table. Run it through ``bench/gpu_check.sh``, which prepares Python.

On a GPU (default when CUDA is there):

1. the 14_h reference notebook graded under the manifest's ``[grading]`` parameters with
   ``DATASET=synthetic`` on GPU 0: wall time, notebook time, the accuracy the grader
   computed, GPU memory;
2. 8 copies of a 14_h submission (``tests/variants/14_h_alt.ipynb``) graded with 1, 2,
   4 and 8 kernels on GPU 0 (``grade --gpus 0 --jobs K``): wall time, submissions per
   minute, the gain over one kernel, GPU memory and utilisation. ``EPOCHS`` is
   ``--pack-epochs`` (default 1) there: the ratio is what is measured, and five epochs
   eight times over would not fit the 8 minutes;
3. ``bench/alexnet_throughput.py --device cuda``.

``--tiny`` (and any machine without CUDA): the same steps on the CPU with a tiny budget
(``DEVICE=cpu``, 64 training images, one epoch), 2 copies with 1 and 2 kernels: what the
test suite runs (tests/test_gpu_check.py). Exit 0 when every grading ended ``graded``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.core.results import SubmissionResult

REPO = Path(__file__).resolve().parents[1]
SUBMISSION = REPO / "tests" / "variants" / "14_h_alt.ipynb"
Params = dict[str, bool | int | float | str]
TINY: Params = {"DATASET": "synthetic", "DEVICE": "cpu", "TRAIN_SUBSET": 64,
                "TEST_SUBSET": 32, "EPOCHS": 1, "BATCH_SIZE": 32}


@dataclass
class Row:
    step: str
    setting: str
    count: str = ""
    wall_s: float | None = None
    rate: str = ""
    gain: str = ""
    outcome: str = ""
    gpu: str = ""
    ok: bool = True


@dataclass
class Check:
    tiny: bool
    work: Path
    copies: int
    kernels: list[int]
    pack_epochs: int
    deadline: float
    rows: list[Row] = field(default_factory=list)

    @property
    def gpus(self) -> list[int]:
        return [] if self.tiny else [0]

    def params(self, *, packing: bool) -> Params:
        if self.tiny:
            return dict(TINY)
        from autograder.core.config import load_assignment

        params: Params = {**load_assignment("14_h").grading,
                                                        "DATASET": "synthetic"}
        if packing:
            params["EPOCHS"] = self.pack_epochs
        return params


# -- measuring -----------------------------------------------------------------------


class GpuSampler:
    """GPU 0's memory in use and utilisation, polled with nvidia-smi while a step runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.enabled = shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuSampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(5)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                out = subprocess.run(
                    ["nvidia-smi", "-i", "0", "--query-gpu=memory.used,utilization.gpu",
                     "--format=csv,noheader,nounits"], capture_output=True, text=True,
                    timeout=5).stdout
                mem, util = (int(x) for x in out.strip().split(","))
                self.samples.append((mem, util))

    def summary(self) -> str:
        if not self.samples:
            return "-"
        mems, utils = zip(*self.samples, strict=True)
        return f"peak {max(mems)} MB, util {sum(utils) / len(utils):.0f}%"


def grade_folder(check: Check, folder: Path, *, jobs: int, packing: bool
                 ) -> tuple[float, list[SubmissionResult | None], str]:
    """Grade ``folder`` with ``jobs`` kernels; (wall s, stored results, GPU summary)."""
    from autograder.grading.batch import grade
    from autograder.store.gradebook import Gradebook

    run = check.work / f"run-{folder.name}-{jobs}"
    gb = run / "gb.sqlite"
    with GpuSampler() as sampler:
        t0 = time.monotonic()
        summary = grade(assignment_id="14_h", submissions=[folder], out=run / "out",
                        gradebook=gb, jobs=jobs, gpus=check.gpus, lang="en",
                        params=check.params(packing=packing),
                        data_dir=check.work / "data")
        wall = time.monotonic() - t0
    with Gradebook(gb) as book:
        results = [book.result(i) for i in summary.submission_ids]
    return wall, results, sampler.summary()


def outcome(results: Sequence[SubmissionResult | None]) -> tuple[str, bool]:
    statuses = Counter(r.status.value if r is not None else "no result" for r in results)
    scores = sorted({f"{r.score:g}/{r.max_score:g}" for r in results if r is not None})
    ok = set(statuses) == {"graded"}
    text = " ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    return f"{text}; score {', '.join(scores)}", ok


def reference_row(check: Check) -> Row:
    folder = check.work / "reference"
    folder.mkdir()
    shutil.copy(REPO / "assignments" / "14_h" / "14_h.ipynb", folder / "reference.ipynb")
    wall, results, gpu = grade_folder(check, folder, jobs=1, packing=False)
    text, ok = outcome(results)
    res = results[0]
    accuracy = next((c.metric for c in (res.checks if res else []) if c.metric is not None),
                    None)
    epochs = check.params(packing=False).get("EPOCHS")
    return Row("reference", f"14_h source, EPOCHS={epochs}", "1", wall,
               f"notebook {res.exec_seconds if res else 0:.1f} s, checks "
               f"{res.check_seconds if res else 0:.1f} s",
               "", f"{text}; accuracy {accuracy if accuracy is None else f'{accuracy:.3f}'}",
               gpu, ok)


def packing_rows(check: Check) -> Iterator[Row]:
    """One row per kernel count, each as soon as it is measured."""
    folder = check.work / "copies"
    folder.mkdir()
    for i in range(check.copies):
        shutil.copy(SUBMISSION, folder / f"s{i}.ipynb")
    base: float | None = None
    for k in check.kernels:
        if time.monotonic() > check.deadline:
            yield Row("packing", f"{k} kernel(s)", outcome="skipped: time budget", ok=False)
            continue
        wall, results, gpu = grade_folder(check, folder, jobs=k, packing=True)
        text, ok = outcome(results)
        per_min = 60 * len(results) / wall
        base = base or per_min
        yield Row("packing", f"{k} kernel(s) on {'CPU' if check.tiny else 'GPU 0'}",
                  str(len(results)), wall, f"{per_min:.2f} subs/min",
                  f"x{per_min / base:.2f}", text, gpu, ok)


def throughput_rows(check: Check) -> list[Row]:
    if time.monotonic() > check.deadline:
        return [Row("alexnet", "throughput", outcome="skipped: time budget", ok=False)]
    spec = importlib.util.spec_from_file_location("alexnet_throughput",
                                                  REPO / "bench" / "alexnet_throughput.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    argv = (["--device", "cpu", "--steps", "1", "--warmup", "1", "--batch-size", "8",
             "--workers", "0"] if check.tiny else ["--device", "cuda"])
    t0 = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        measured = module.main(argv)
    wall = time.monotonic() - t0
    base = {r.device: r.images_per_s for r in measured if r.config.path == "naive"}
    return [Row("alexnet", _config_name(r), f"batch {r.batch_size}",
                wall if i == 0 else None,  # the whole script's time, once
                f"{r.images_per_s:.0f} img/s",
                f"x{r.images_per_s / base[r.device]:.2f}" if r.device in base else "")
            for i, r in enumerate(measured)]


def _config_name(row: object) -> str:
    cfg = row.config  # type: ignore[attr-defined]
    dtype = "bf16" if cfg.amp is not None else "fp32"
    layout = " channels-last" if cfg.channels_last else ""
    return f"{row.device} {cfg.path} {dtype}{layout}"  # type: ignore[attr-defined]


# -- reporting -----------------------------------------------------------------------


def header(check: Check) -> str:
    import torch

    gpu = "none (CPU, tiny mode)"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = f"{props.name}, {props.total_memory >> 20} MiB"
    mps = "on" if os.environ.get("CUDA_MPS_PIPE_DIRECTORY") else "off"
    return (f"gpu_check {dt.datetime.now().isoformat(timespec='seconds')} on "
            f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()},"
            f" torch {torch.__version__}, GPU {gpu}, MPS {mps}, sandbox "
            f"{os.environ.get('AUTOGRADER_SANDBOX', 'auto')}, "
            f"{'tiny' if check.tiny else 'full'} mode")


COLUMNS = ["step", "setting", "n", "wall s", "rate", "vs base", "outcome", "GPU"]


def table_head() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def table_line(r: Row) -> str:
    """One row, printed as soon as its step ends (a run cut short keeps what it did)."""
    wall = "" if r.wall_s is None else f"{r.wall_s:.1f}"
    cells = [r.step, r.setting, r.count, wall, r.rate, r.gain, r.outcome, r.gpu]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="CPU, tiny budget (the CI test)")
    p.add_argument("--copies", type=int, help="submissions per packing run (8; tiny 2)")
    p.add_argument("--kernels", help="kernel counts, e.g. 1,2,4,8 (tiny: 1,2)")
    p.add_argument("--pack-epochs", type=int, default=1, help="EPOCHS of the packing runs")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="start no step after this many seconds (the whole check: <= 8 min)")
    p.add_argument("--workdir", type=Path, help="keep gradebooks and outputs here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    import torch

    tiny = args.tiny or not torch.cuda.is_available()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    (work / "data").mkdir(parents=True, exist_ok=True)  # synthetic data: no dataset cache
    kernels = [int(k) for k in (args.kernels or ("1,2" if tiny else "1,2,4,8")).split(",")]
    check = Check(tiny=tiny, work=work, copies=args.copies or (2 if tiny else 8),
                  kernels=kernels, pack_epochs=args.pack_epochs,
                  deadline=time.monotonic() + args.budget_s)
    print(header(check), flush=True)
    print(table_head(), flush=True)
    steps: list[Callable[[], Iterable[Row]]] = [
        lambda: [reference_row(check)], lambda: packing_rows(check),
        lambda: throughput_rows(check)]
    for step in steps:
        for row in step():
            check.rows.append(row)
            print(table_line(row), flush=True)
    ok = all(r.ok for r in check.rows)
    print("gpu_check: " + ("PASS" if ok else "FAIL"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
