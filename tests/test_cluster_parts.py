"""The parts of a cluster batch that need no cluster: the packed assignment, the targets,
the checks on the workers' reports, and grading from plain data without a gradebook."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.core.config import load_assignment
from autograder.core.errors import ClusterError, ConfigError
from autograder.core.intake_record import IntakeRecord
from autograder.core.results import Status
from autograder.engine.grade_one import SubmissionInput, grade_input
from autograder.engine.pool import GradeTask
from autograder.export.feedback import render_feedback, status_text
from autograder.grading.cluster.connect import ClusterTarget, parse_target
from autograder.grading.cluster.pack import AssignmentPack, pack_assignment, unpack
from autograder.grading.cluster.preflight import Workers, check_reports
from autograder.grading.cluster.worker import WorkerReport

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"


def test_the_pack_names_the_content_and_unpacks_once(tmp_path: Path) -> None:
    folder = ASSIGNMENTS / "02_n"
    pack = pack_assignment(folder, "02_n")
    assert pack == pack_assignment(folder, "02_n")  # same bytes on every run
    root = unpack(pack, tmp_path / "cache")
    assert root.name == pack.sha256
    copied = sorted(p.relative_to(root / "02_n") for p in (root / "02_n").rglob("*")
                    if p.is_file())
    assert copied == sorted(p.relative_to(folder) for p in folder.rglob("*")
                            if p.is_file() and "__pycache__" not in p.parts)
    assert load_assignment("02_n", root).id == "02_n"
    (root / "02_n" / "marker").write_text("cached")
    assert unpack(pack, tmp_path / "cache") == root and (root / "02_n" / "marker").exists()
    assert os.stat(tmp_path / "cache").st_mode & 0o777 == 0o700


def test_a_damaged_or_foreign_pack_is_refused(tmp_path: Path) -> None:
    pack = pack_assignment(ASSIGNMENTS / "02_n", "02_n")
    damaged = replace(pack, data=pack.data[:-1] + bytes([pack.data[-1] ^ 1]))
    with pytest.raises(ClusterError, match="checksum"):
        unpack(damaged, tmp_path / "cache")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("elsewhere/evil.py")
        tar.addfile(info, io.BytesIO(b""))
    import hashlib

    data = raw.getvalue()
    foreign = AssignmentPack("02_n", hashlib.sha256(data).hexdigest(), data)
    with pytest.raises(ClusterError, match="unexpected entry"):
        unpack(foreign, tmp_path / "cache")


def test_a_cache_folder_of_someone_else_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    with pytest.raises(ClusterError, match="private"):
        unpack(pack_assignment(ASSIGNMENTS / "02_n", "02_n"), cache)


def test_targets() -> None:
    assert parse_target(None, None) is None
    assert parse_target("local:3", None) == ClusterTarget("local", 3)
    assert parse_target("local", None) == ClusterTarget("local", None)
    assert parse_target("slurm:2", None) == ClusterTarget("slurm", 2)
    assert parse_target(None, "10.0.0.5:8786") == ClusterTarget("scheduler",
                                                                address="tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "kubernetes"):
        with pytest.raises(ConfigError):
            parse_target(bad, None)
    with pytest.raises(ConfigError):
        parse_target("local:2", "tcp://h:1")


def _report(**kw: object) -> WorkerReport:
    base: dict[str, object] = {"version": "0.1.0", "python": "3.11", "sandbox": "bwrap",
                               "missing": (), "gpu": None}
    return WorkerReport(**{**base, **kw})  # type: ignore[arg-type]


def test_worker_reports_stop_the_batch_or_become_notices() -> None:
    ok = {"tcp://a:1": _report(), "tcp://b:1": _report()}
    assert check_reports(ok, version="0.1.0", here_missing=(), use_gpu=False, lang="en") == []
    lacking = {**ok, "tcp://b:1": _report(missing=("cifar10",))}
    with pytest.raises(ClusterError, match=r"tcp://b:1: cifar10"):
        check_reports(lacking, version="0.1.0", here_missing=(), use_gpu=False, lang="en")
    notices = check_reports(lacking, version="0.1.0", here_missing=("cifar10",),
                            use_gpu=False, lang="en")  # missing here too: same as local
    assert [n.code for n in notices] == ["cluster_no_dataset"]
    with pytest.raises(ClusterError, match=r"autograder 0\.0\.9"):
        check_reports({**ok, "tcp://a:1": _report(version="0.0.9")}, version="0.1.0",
                      here_missing=(), use_gpu=False, lang="en")
    with pytest.raises(ClusterError, match="AUTOGRADER_GPU"):
        check_reports(ok, version="0.1.0", here_missing=(), use_gpu=True, lang="en")
    with pytest.raises(ClusterError, match="daemonic"):
        check_reports({"tcp://a:1": _report(error="ClusterError: the worker process is "
                                                  "daemonic")},
                      version="0.1.0", here_missing=(), use_gpu=False, lang="en")
    bare = check_reports({"tcp://a:1": _report(sandbox="none")}, version="0.1.0",
                         here_missing=(), use_gpu=False, lang="ja")
    assert [n.code for n in bare] == ["cluster_no_sandbox"] and "tcp://a:1" in bare[0].message_ja


def test_the_task_that_runs_alone_asks_for_the_largest_worker() -> None:
    workers = Workers({"a": {"kernel": 2.0}, "b": {"kernel": 4.0, "gpu": 1.0, "gpu_mb": 8e3}})
    assert workers.any_gpu
    assert workers.most_slots({"kernel": 1.0}) == 4
    assert workers.most_slots({"kernel": 1.0, "gpu_mb": 3072.0}) == 4
    assert Workers({"a": {"kernel": 2.0}}).most_slots({"kernel": 1.0, "gpu": 1.0}) == 1


def test_grade_input_needs_no_gradebook(tmp_path: Path) -> None:
    """What a worker does: plain data in, result out (a row intake decided: no kernel)."""
    missing_book = tmp_path / "nowhere" / "gb.sqlite"
    task = GradeTask(submission_id=1, gradebook=str(missing_book), assignment_id="02_n",
                     assignments_root=str(ASSIGNMENTS), run_id=1, lang="en")
    sub = SubmissionInput(participant="1001", file="", sha256="e3b0", content=b"",
                          intake=IntakeRecord(status=Status.MISSING, reason="nothing submitted"))
    result = grade_input(task, sub)
    assert result.status is Status.MISSING and result.reason == "nothing submitted"
    assert result.checks and result.score == 0
    assert not missing_book.parent.exists()


def test_crashed_has_words_and_its_reason_in_the_feedback() -> None:
    from autograder.core.results import SubmissionResult
    from autograder.engine.crashed import crashed_reason
    from autograder.export.class_report import REVIEW_STATUSES

    assert status_text(Status.CRASHED, "ja") != status_text(Status.CRASHED, "en")
    assert Status.CRASHED in REVIEW_STATUSES
    result = SubmissionResult(participant="1", file="x.ipynb", sha256="h",
                              status=Status.CRASHED, reason=crashed_reason("en"))
    html = render_feedback(result, assignment_title="t", participant="p", lang="en")
    assert "grading worker crashed" in html and "died twice" in html


def test_the_slurm_job_script_carries_tls_resources_and_a_non_daemonic_worker(
        tmp_path: Path) -> None:
    """Built from a jobqueue configuration like docs/scale.md's; no job is submitted."""
    pytest.importorskip("dask_jobqueue")
    pytest.importorskip("cryptography")
    import dask

    from autograder.grading.cluster.connect import CLUSTER_CONFIG, slurm_cluster

    config = {"jobqueue.slurm.cores": 8, "jobqueue.slurm.memory": "16GB",
              "jobqueue.slurm.processes": 1, "jobqueue.slurm.queue": "gpu",
              "jobqueue.slurm.shared-temp-directory": str(tmp_path),
              "jobqueue.slurm.job-extra-directives": ["--gres=gpu:1"],
              "jobqueue.slurm.job-script-prologue": ["export AUTOGRADER_GPU=$SLURM_JOB_GPUS"],
              "jobqueue.slurm.worker-extra-args": ["--resources",
                                                   "kernel=4,gpu=1,gpu_mb=40960"],
              "jobqueue.slurm.scheduler-options": {"host": "127.0.0.1"}}
    with dask.config.set({**config, **CLUSTER_CONFIG}):
        cluster = slurm_cluster()
        try:
            script = cluster.job_script()
            assert cluster.scheduler.allowed_failures == 0
            assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        finally:
            cluster.close()
    assert "#SBATCH --gres=gpu:1" in script and "#SBATCH -p gpu" in script
    assert "export AUTOGRADER_GPU=$SLURM_JOB_GPUS" in script
    assert "export DASK_DISTRIBUTED__WORKER__DAEMON=False" in script
    assert "--resources kernel=4,gpu=1,gpu_mb=40960" in script
    assert "--tls-key" in script and "--tls-ca-file" in script


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    import socket

    from autograder.grading.cluster.connect import _joined

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"), \
            _joined(f"tcp://127.0.0.1:{port}", timeout_s=2):
        pass


@pytest.mark.parametrize(("fork", "gpu", "available", "started"), [
    (True, None, True, True),      # a CPU task: the slot forks its kernels
    (False, None, True, False),    # --no-fork
    (True, 0, True, False),        # a GPU kernel is spawned
    (True, None, False, False),    # no root or no bubblewrap
])
def test_a_slot_process_forks_cpu_kernels_from_a_template(
        monkeypatch: pytest.MonkeyPatch, fork: bool, gpu: int | None, available: bool,
        started: bool) -> None:
    from autograder.engine.kernel import template, zygote
    from autograder.grading.cluster import worker

    calls: list[object] = []
    monkeypatch.setattr(template, "start", lambda spec: calls.append(spec))
    monkeypatch.setattr(template, "stop", lambda: calls.append("stop"))
    monkeypatch.setattr(zygote, "available", lambda: available)
    monkeypatch.setattr(worker, "_SPECS", {})
    task = GradeTask(submission_id=1, gradebook="", assignment_id="02_n",
                     assignments_root=str(ASSIGNMENTS), run_id=1, fork=fork)
    worker._use_template(task, gpu)
    worker._use_template(task, gpu)
    if started:
        assert len(calls) == 2 and calls[0] == calls[1] != "stop"
        assert len(worker._SPECS) == 1, "the spec is made once per assignment"
    else:
        assert calls == ["stop", "stop"]
