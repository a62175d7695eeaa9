"""GPU scheduling on a machine without a GPU: the budget arithmetic, the environment and
binds a kernel on a shared GPU gets, the allocator cap at kernel start, and a fake-GPU
LocalCluster batch in which every kernel sees its own worker's GPU and no worker runs
more kernels than its GPU's budget allows."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder.core.config import Limits
from autograder.core.errors import ConfigError
from autograder.engine.kernel import sandbox
from autograder.engine.kernel.gpu_env import kernel_gpu_env, mps_pipe, worker_gpu
from autograder.engine.kernel.sandbox import SandboxSpec, kernel_env
from autograder.grading.cluster.gpu_slots import (
    concurrent,
    kernels_per_gpu,
    one_gpu_per_worker,
    resources_flag,
    task_resources,
    worker_resources,
)

HERE = Path(__file__).resolve().parent
H200_MB, BUDGET_14H = 143771, 3072


def test_kernels_per_gpu_fit_the_budget() -> None:
    assert kernels_per_gpu(H200_MB, BUDGET_14H) == 46
    assert kernels_per_gpu(16384, BUDGET_14H) == 5
    assert kernels_per_gpu(2048, BUDGET_14H) == 1      # too small: one at a time anyway
    assert kernels_per_gpu(0, BUDGET_14H) == kernels_per_gpu(16384, 0) == 1  # unknown


def test_a_worker_runs_min_of_slots_and_budget() -> None:
    task = task_resources(gpu=True, budget_mb=BUDGET_14H)
    assert task == {"kernel": 1.0, "gpu_mb": 3072.0}
    assert concurrent(worker_resources(slots=4, gpu_mb=16384), task) == 4   # slots bind
    assert concurrent(worker_resources(slots=8, gpu_mb=16384), task) == 5   # memory binds
    assert concurrent(worker_resources(slots=8, gpu_mb=H200_MB), task) == 8
    assert concurrent(worker_resources(slots=8), task) == 0                 # no GPU there
    cpu = task_resources(gpu=False, budget_mb=BUDGET_14H)
    assert cpu == {"kernel": 1.0} and concurrent(worker_resources(slots=3), cpu) == 3


def test_no_budget_means_one_kernel_per_gpu_and_alone_takes_the_worker() -> None:
    whole = task_resources(gpu=True, budget_mb=0)
    assert whole == {"kernel": 1.0, "gpu": 1.0}
    assert concurrent(worker_resources(slots=8, gpu_mb=H200_MB), whole) == 1
    alone = task_resources(gpu=True, budget_mb=BUDGET_14H, kernels=8)
    assert concurrent(worker_resources(slots=8, gpu_mb=H200_MB), alone) == 1


def test_resources_flag_and_one_gpu_per_worker() -> None:
    assert resources_flag(worker_resources(slots=4, gpu_mb=81920)) == \
        "kernel=4,gpu=1,gpu_mb=81920"
    assert one_gpu_per_worker(None, [2, 3]) == [2, 3] == one_gpu_per_worker(2, [2, 3])
    with pytest.raises(ConfigError, match="local:2"):
        one_gpu_per_worker(4, [2, 3])
    with pytest.raises(ConfigError, match="twice"):
        one_gpu_per_worker(None, [1, 1])
    with pytest.raises(ConfigError):
        worker_resources(slots=0)


def _spec(tmp: Path, gpu: int | None) -> SandboxSpec:
    return SandboxSpec(workdir=tmp / "w", exchange=tmp / "x", home=tmp / "h", gpu=gpu,
                       limits=Limits(gpu_memory_mb=BUDGET_14H))


def test_each_kernel_sees_only_its_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    for name in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    none = kernel_env(_spec(tmp_path, 3), "none")
    assert none["CUDA_VISIBLE_DEVICES"] == "3"            # the host's index, no device binds
    assert kernel_env(_spec(tmp_path, 3), "bwrap")["CUDA_VISIBLE_DEVICES"] == "0"  # its node
    assert none["AG_GPU_MEMORY_MB"] == "3072" and "garbage_collection" in \
        none["PYTORCH_CUDA_ALLOC_CONF"]
    assert not any(k.startswith("CUDA_MPS") for k in none)
    cpu = kernel_env(_spec(tmp_path, None), "none")
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and "AG_GPU_MEMORY_MB" not in cpu


def test_mps_env_passes_through_and_its_pipe_is_bound(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, log = tmp_path / "mps-pipe", tmp_path / "mps-log"
    pipe.mkdir()
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(pipe))
    monkeypatch.setenv("CUDA_MPS_LOG_DIRECTORY", str(log))
    env = kernel_env(_spec(tmp_path, 1), "none")
    assert env["CUDA_MPS_PIPE_DIRECTORY"] == str(pipe)
    assert env["CUDA_MPS_LOG_DIRECTORY"] == str(log)
    assert env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=3072M"
    monkeypatch.setattr(sandbox, "_gpu_binds", lambda spec: [])  # no /dev/nvidia1 here
    args = sandbox._bwrap_args(_spec(tmp_path, 1))
    bind = args.index("--ro-bind", args.index(str(pipe)) - 1)
    assert args[bind:bind + 3] == ["--ro-bind", str(pipe), str(pipe)]
    tmpfs = max(i for i, a in enumerate(args) if a == "/tmp" and args[i - 1] in
                ("--tmpfs", "--bind"))
    assert bind > tmpfs, "the pipe must be bound after /tmp is made"
    assert "--ro-bind" not in sandbox._mps_binds(_spec(tmp_path, None))  # CPU kernel: none
    assert mps_pipe({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path / "absent")}) is None
    assert kernel_gpu_env(0, {}) == {"PYTORCH_CUDA_ALLOC_CONF": "garbage_collection_threshold:0.8"}


def test_worker_gpu_from_the_environment() -> None:
    assert worker_gpu({"AUTOGRADER_GPU": "2"}) == 2
    assert worker_gpu({}) is None
    with pytest.raises(ConfigError):
        worker_gpu({"AUTOGRADER_GPU": "GPU-1234"})


def _ag_startup() -> object:
    path = HERE.parent / "autograder" / "engine" / "kernel" / "sandbox_files" / "ag_startup.py"
    spec = importlib.util.spec_from_file_location("ag_startup_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernel_start_caps_torch_to_the_budget() -> None:
    calls: list[tuple[float, int]] = []
    cuda = SimpleNamespace(
        is_available=lambda: True,
        get_device_properties=lambda i: SimpleNamespace(total_memory=16 << 30),
        set_per_process_memory_fraction=lambda f, d: calls.append((f, d)))
    torch = SimpleNamespace(cuda=cuda)
    cap = _ag_startup().cap_gpu_memory  # type: ignore[attr-defined]
    env = {"AG_GPU_MEMORY_MB": "3072", "CUDA_VISIBLE_DEVICES": "0"}
    assert cap(env, torch) == pytest.approx(3072 / 16384)
    assert calls == [(pytest.approx(3072 / 16384), 0)]
    assert cap({"AG_GPU_MEMORY_MB": "3072", "CUDA_VISIBLE_DEVICES": ""}, torch) is None
    assert cap({"CUDA_VISIBLE_DEVICES": "0"}, torch) is None
    assert len(calls) == 1


@pytest.mark.slow
@pytest.mark.skipif(not sandbox.bwrap_available(), reason="needs bubblewrap")
def test_fake_gpus_on_a_local_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers own fake GPUs 3 and 5 of 2048 MB; a 1024 MB budget lets each run two
    kernels although it has four slots. Every kernel is given its worker's GPU."""
    pytest.importorskip("distributed")
    from autograder.engine import pool as batch
    from autograder.grading.batch import grade
    from autograder.grading.cluster.connect import parse_target

    root = tmp_path / "assignments"
    shutil.copytree(HERE / "assignments" / "02_n", root / "02_n")
    manifest = root / "02_n" / "assignment.toml"
    text = manifest.read_text(encoding="utf-8").replace('device = "cpu"', 'device = "cuda"')
    manifest.write_text(text + "\n[limits]\ngpu_memory_mb = 1024\n" if "[limits]" not in text
                        else text.replace("[limits]", "[limits]\ngpu_memory_mb = 1024"),
                        encoding="utf-8")
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(8):
        shutil.copy(HERE / "notebooks" / "add_correct.ipynb", subs / f"s{i}.ipynb")
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("AG_TEST_RECORD", str(record))
    monkeypatch.setattr(batch, "gpu_memory_mb", lambda: {3: 2048, 5: 2048})
    summary = grade(assignment_id="02_n", submissions=[subs], out=tmp_path / "out",
                    gradebook=tmp_path / "gb.sqlite", jobs=4, gpus=[3, 5], lang="en",
                    assignments_root=root, cluster=parse_target("local", None),
                    kernel_factory="cluster_kernels:FakeGpuKernel")
    assert [o.score for o in summary.graded_now] == [4.0] * 8
    seen = [json.loads(p.read_text()) for p in record.iterdir()]
    assert len(seen) == 8
    assert {s["gpu"] for s in seen} <= {3, 5}
    assert all(s["CUDA_VISIBLE_DEVICES"] == str(s["gpu"]) for s in seen)
    assert all(s["AG_GPU_MEMORY_MB"] == "1024" for s in seen)
    for gpu in (3, 5):
        spans = [(s["start"], s["end"]) for s in seen if s["gpu"] == gpu]
        most = max((sum(a <= t < b for a, b in spans) for t, _ in spans), default=0)
        assert most <= 2, f"GPU {gpu} ran {most} kernels at once"
