"""Before a cluster batch starts: can these workers grade it, and grade it the same?

Every worker reports (``cluster_worker.worker_report``) its autograder version, whether
it has bubblewrap, which of the assignment's datasets its data path lacks, and its GPU;
unpacking the assignment there is part of the report. What would make results differ
from the local pool's, or make tasks fail one by one, stops the batch here with one
error that names the workers; what the instructor should merely know becomes a notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.errors import ClusterError
from ...core.i18n import Lang, tr
from ...core.results import Notice
from .gpu_slots import GPU, KERNEL, concurrent

WAIT_FOR_WORKERS_S = 600.0  # a Slurm job may queue for a while before its worker joins


@dataclass(frozen=True)
class Workers:
    """The cluster's grading workers as the scheduler sees them: address → resources."""

    resources: Mapping[str, Mapping[str, float]]

    @property
    def any_gpu(self) -> bool:
        return any(GPU in res for res in self.resources.values())

    def most_slots(self, task: Mapping[str, float]) -> int:
        """The most kernel slots of a worker that can run ``task`` (a task that asks for
        that many runs alone there)."""
        able = [res.get(KERNEL, 0.0) for res in self.resources.values()
                if concurrent(res, task) > 0]
        return int(max(able, default=1.0))


def grading_workers(client: Any, *, timeout: float = WAIT_FOR_WORKERS_S) -> Workers:
    """Wait for a worker, then the workers that declare ``kernel`` slots."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception as exc:  # dask's TimeoutError, or the scheduler went away
        raise ClusterError(f"no Dask worker joined within {timeout:g} s ({exc})",
                           where=str(getattr(client, "scheduler", "") or "cluster"),
                           hint="check the workers (or the Slurm queue): docs/scale.md"
                           ) from None
    info = client.scheduler_info(n_workers=-1)["workers"]
    found = {addr: dict(w.get("resources") or {}) for addr, w in info.items()}
    usable = {addr: res for addr, res in found.items() if res.get(KERNEL, 0) >= 1}
    if not usable:
        raise ClusterError("no worker of the cluster declares kernel slots",
                           where=", ".join(sorted(found)) or "cluster",
                           hint="start workers with --resources kernel=N (docs/scale.md)")
    return Workers(usable)


def check_task_fits(workers: Workers, task: Mapping[str, float], *, budget_mb: int) -> None:
    if not any(concurrent(res, task) > 0 for res in workers.resources.values()):
        raise ClusterError(f"no worker can take a task that needs {dict(task)}",
                           where=f"gpu_memory_mb = {budget_mb}",
                           hint="give workers more gpu_mb, or lower the manifest's budget")


def check_reports(reports: Mapping[str, Any], *, version: str, here_missing: Sequence[str],
                  use_gpu: bool, lang: Lang) -> list[Notice]:
    """Raise ``ClusterError`` for what stops the batch; notices for the rest."""
    _stop_if(reports, lambda r: r.error, lang,
             ja="ワーカーで課題を展開できません", en="a worker cannot unpack the assignment")
    _stop_if(reports, lambda r: r.version != version and f"autograder {r.version}", lang,
             ja=f"ワーカーの autograder の版がこの端末 ({version}) と違います",
             en=f"a worker runs another autograder version than this machine ({version})")
    _stop_if(reports, lambda r: ", ".join(m for m in r.missing if m not in here_missing),
             lang, ja="ワーカーの共有データパスにデータセットがありません",
             en="a worker's shared data path lacks a dataset")
    if use_gpu:
        _stop_if(reports, lambda r: r.gpu is None and "AUTOGRADER_GPU", lang,
                 ja="GPU を宣言したワーカーに AUTOGRADER_GPU がありません",
                 en="a worker that declares a GPU has no AUTOGRADER_GPU")
    return _notices(reports, here_missing)


def _stop_if(reports: Mapping[str, Any], problem: Any, lang: Lang, *, ja: str, en: str
             ) -> None:
    bad = {addr: problem(r) for addr, r in reports.items() if problem(r)}
    if bad:
        where = "; ".join(f"{addr}: {why}" for addr, why in sorted(bad.items()))
        raise ClusterError(tr(lang, ja=ja, en=en), where=where,
                           hint=tr(lang, ja="docs/scale.md の「共有するもの」を参照してください",
                                   en="see “What must be shared” in docs/scale.md"))


def _notices(reports: Mapping[str, Any], here_missing: Sequence[str]) -> list[Notice]:
    out: list[Notice] = []
    unsandboxed = sorted(addr for addr, r in reports.items() if r.sandbox != "bwrap")
    if unsandboxed:
        out.append(Notice("cluster_no_sandbox",
                          f"⚠ bubblewrap のないワーカーがあります (サンドボックスなし): "
                          f"{', '.join(unsandboxed)}",
                          f"⚠ workers without bubblewrap grade WITHOUT a sandbox: "
                          f"{', '.join(unsandboxed)}"))
    absent = [name for name in here_missing
              if any(name in r.missing for r in reports.values())]
    if absent:
        names = ", ".join(absent)
        out.append(Notice("cluster_no_dataset",
                          f"データセット {names} はこの端末にもワーカーにもありません。"
                          "それを読むノートブックは失敗します",
                          f"dataset(s) {names} are neither here nor on the workers; "
                          "notebooks that read them will fail"))
    return out
