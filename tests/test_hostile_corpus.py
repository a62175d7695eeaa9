"""The hostile corpus (tests/notebooks/hostile/) graded in ONE --jobs 2 batch, twice:
with spawned kernels and with kernels forked from each worker's kernel template.

Every notebook is a 13_n submission with its own ``expect:`` header (README.md there):
the statuses it may end with and the most (and, for honest parts, the least) it may
score. The batch runs against a copy of 13_n with short limits, with listeners on
127.0.0.1, ::1 and unix sockets that must hear nothing, and a canary folder on the host
in which nothing may appear.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from autograder.engine.kernel import zygote
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.grading.batch import grade

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "notebooks" / "hostile"
sys.path.insert(0, str(CORPUS))
from corpus import expectation  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

# Seconds, not the course's minutes: the whole batch stays within a few minutes. Memory
# stays 13_n's own: the memory attacks are sized for it (a smaller limit would stop some
# of them earlier, at RLIMIT_AS, with a plain MemoryError instead of the cgroup's kill).
SHORT_LIMITS = {"cell_timeout_s": 10, "notebook_timeout_s": 60, "memory_mb": 3072,
                "processes": 128, "file_size_mb": 64, "output_kb": 512,
                "checks_timeout_s": 15, "disk_mb": 256, "inodes": 5000}
# A spawned kernel imports torch and matplotlib in the notebook's import cell itself (a
# forked one has them from its template): 4-6 s on an idle 2-core machine, and it once
# passed 10 s on a loaded CI runner, so that honest cell timed out. Twice the margin.
SPAWN_CELL_TIMEOUT_S = 20
STRAY = "pwned-by-hostile-notebook"


def _short_13n(root: Path, *, spawn: bool = False) -> Path:
    folder = root / "13_n"
    shutil.copytree(ROOT / "assignments" / "13_n", folder)
    manifest = folder / "assignment.toml"
    doc = tomlkit.parse(manifest.read_text(encoding="utf-8"))
    doc["limits"] = SHORT_LIMITS | ({"cell_timeout_s": SPAWN_CELL_TIMEOUT_S} if spawn else {})
    manifest.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return root


class Listeners:
    """Loopback TCP/UDP (v4 and v6) and unix sockets that record whoever reaches them."""

    def __init__(self, folder: Path):
        self.heard: list[str] = []
        self.sockets: list[socket.socket] = []
        self.tcp4 = self._tcp(socket.AF_INET, ("127.0.0.1", 0))
        self.tcp6 = self._tcp(socket.AF_INET6, ("::1", 0))
        self._udp(socket.AF_INET, ("127.0.0.1", self.tcp4))
        self._udp(socket.AF_INET6, ("::1", self.tcp6))
        self.unix = str(folder / "grader.sock")
        self.abstract = f"ag-hostile-{os.getpid()}-{secrets.token_hex(4)}"
        self._stream(socket.AF_UNIX, self.unix)
        self._stream(socket.AF_UNIX, "\0" + self.abstract)

    def _tcp(self, family: int, address: tuple[str, int]) -> int:
        sock = self._stream(family, address)
        return int(sock.getsockname()[1])

    def _stream(self, family: int, address: Any) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind(address)
        sock.listen(16)
        self._watch(sock, accept=True)
        return sock

    def _udp(self, family: int, address: tuple[str, int]) -> None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind(address)
        self._watch(sock, accept=False)

    def _watch(self, sock: socket.socket, *, accept: bool) -> None:
        self.sockets.append(sock)

        def run() -> None:
            while True:
                try:
                    if accept:
                        conn, _ = sock.accept()
                        self.heard.append(f"{sock.family.name} connection")
                        conn.close()
                    else:
                        sock.recvfrom(4096)
                        self.heard.append(f"{sock.family.name} datagram")
                except OSError:
                    return

        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture(scope="module", params=["spawn", "fork"])
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    fork = request.param == "fork"
    if fork and not zygote.available():
        pytest.skip(f"no forked kernels: {zygote.unavailable_reason()}")
    tmp = tmp_path_factory.mktemp("hostile")
    assignments = _short_13n(tmp / "assignments", spawn=not fork)
    subs = tmp / "subs"
    subs.mkdir()
    names = sorted(p.stem for p in CORPUS.glob("*.ipynb"))
    for name in names:
        shutil.copy(CORPUS / f"{name}.ipynb", subs / f"{name}.ipynb")
    canary = tmp / "canary"
    canary.mkdir(mode=0o777)
    canary.chmod(0o777)
    listeners = Listeners(tmp)
    gradebook = tmp / "gb.sqlite"
    params = {"AG_PORT": listeners.tcp4, "AG_PORT6": listeners.tcp6,
              "AG_UNIX": listeners.unix, "AG_ABSTRACT": listeners.abstract,
              "AG_GRADEBOOK": str(gradebook), "AG_TESTS": str(assignments / "13_n" / "tests"),
              "AG_OTHER": str(subs / "correct.ipynb"), "AG_PROJECT": str(ROOT),
              "AG_CANARY": str(canary)}
    t0 = time.monotonic()
    try:
        summary = grade(assignment_id="13_n", submissions=[subs], out=tmp / "out",
                        gradebook=gradebook, jobs=2, assignments_root=assignments,
                        params=params, lang="ja", fork=fork)
    finally:
        listeners.close()
    seconds = time.monotonic() - t0
    records = json.loads(Path(summary.results_json or "").read_text(encoding="utf-8"))
    print(f"\nhostile corpus ({request.param}): {len(names)} notebooks in {seconds:.0f} s")
    yield {"names": names, "records": records, "heard": listeners.heard, "canary": canary,
           "tmp": tmp}


def test_every_notebook_has_one_row(batch: dict[str, Any]) -> None:
    participants = [r["participant"] for r in batch["records"]]
    assert sorted(participants) == batch["names"]
    assert len(batch["names"]) >= 40


def test_each_ends_as_its_header_says(batch: dict[str, Any]) -> None:
    wrong = []
    for record in batch["records"]:
        expect = expectation(CORPUS / f"{record['participant']}.ipynb")
        score, status = record["score"], record["status"]
        if status not in expect["status"]:  # type: ignore[operator]
            wrong.append(f"{record['participant']}: status {status} ({record['reason']})")
        if score > float(expect["max_score"]):  # type: ignore[arg-type]
            wrong.append(f"{record['participant']}: {score} > max {expect['max_score']}")
        if score < float(expect.get("min_score", 0)):  # type: ignore[arg-type]
            failed = [c["name"] for c in record["checks"] if not c["passed"]]
            wrong.append(f"{record['participant']}: {score} < min {expect['min_score']}"
                         f" (failed: {failed})")
    assert wrong == []


def test_no_listener_heard_anything(batch: dict[str, Any]) -> None:
    assert batch["heard"] == []


def test_no_file_appeared_outside_the_sandbox(batch: dict[str, Any]) -> None:
    assert list(batch["canary"].iterdir()) == []
    for folder in ("/tmp", "/root", "/work", "/var/tmp", str(ROOT)):
        assert not (Path(folder) / STRAY).exists(), folder
