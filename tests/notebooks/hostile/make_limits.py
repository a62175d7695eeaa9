"""Generate the hostile notebooks that go after the limits: memory the watchdog of old did
not count (memfd, shared mappings, tmpfs), disk and inode floods, functions that are slow
only when the grader calls them, display floods, and a cell that costs IPython's
transformer minutes (also in the grader, which parses the student's cells).

Run ``PYTHONPATH=. python tests/notebooks/hostile/make_limits.py`` from the project root
to rewrite them (the .ipynb files are committed too). Each attack is written twice:

- ``limits_<name>.ipynb`` here: a 13_n submission for the hostile corpus (README.md),
  sized for 13_n's limits (3072 MB memory and the default quota of 1024 MB / 20000 files),
  and still stopped under any smaller limits of the corpus's copy of 13_n;
- ``02_n/<name>.ipynb``: the same attack as a submission of the tiny test assignment
  02_n, sized for the short limits in ``02_n/limits.json``, which the limit tests of the
  engine (tests/test_limits.py) grade with.

Nothing of either assignment is implemented honestly, so every one may score 0 at most.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from autograder.core.config import load_assignment  # noqa: E402
from autograder.authoring.release import read_source, student_version  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """The limits an attack is sized for."""

    memory_mb: int
    disk_mb: int
    inodes: int
    output_kb: int


SIZES_13_N = Sizes(memory_mb=3072, disk_mb=1024, inodes=20000, output_kb=1024)
# The short limits the engine's limit tests run 02_n with (also written to 02_n/limits.json).
# A full quota (tmpfs: memory too) still leaves room for torch, which the checks import.
# The checks' budget leaves room for that import in the kernel (the first tensor a check
# sends imports torch there: seconds on a loaded 2-core machine).
LIMITS_02_N = {"cell_timeout_s": 20, "notebook_timeout_s": 60, "checks_timeout_s": 15,
               "memory_mb": 768, "processes": 64, "file_size_mb": 64, "disk_mb": 256,
               "inodes": 2000, "output_kb": 256}
SIZES_02_N = Sizes(memory_mb=768, disk_mb=256, inodes=2000, output_kb=256)
FUNCTIONS = {"13_n": ("step", "perceptron", "AND", "OR", "NAND", "XOR", "sigmoid", "relu",
                      "tanh", "softmax", "cross_entropy"),
             "02_n": ("add", "double")}


# ---------------------------------------------------------------- the attacks


def memfd(s: Sizes) -> str:
    return ("import os\n"
            "chunk = b'\\x01' * (16 << 20)\n"
            "fds = []  # memfds: in no folder, mapped by nobody; 48 MB each, below any\n"
            "# file-size limit (RLIMIT_FSIZE applies to a memfd as to any file)\n"
            f"for i in range({2 * s.memory_mb} // 48):\n"
            "    fds.append(os.memfd_create(f'hold{i}'))\n"
            "    for _ in range(3):\n"
            "        os.write(fds[-1], chunk)\n"
            "print('held', len(fds) * 48, 'MB in memfds')")


def shared_mapping(s: Sizes) -> str:
    # 1.5 times the limit: over it, yet within RLIMIT_AS (limit + 6 GB) beside the ~3.9 GB
    # of address space torch and matplotlib reserve in a 13_n kernel (twice the limit
    # made the mmap itself fail with ENOMEM, and the kernel was never over its memory)
    return ("import mmap\n"
            f"size = {3 * s.memory_mb // 2} << 20\n"
            "m = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)\n"
            "chunk = b'\\x01' * (16 << 20)\n"
            "for start in range(0, size, len(chunk)):\n"
            "    m[start:start + len(chunk)] = chunk\n"
            "print('touched', size >> 20, 'MB of a shared mapping')")


def tmpfs(folder: str) -> Callable[[Sizes], str]:
    def attack(s: Sizes) -> str:
        # anonymous memory stays 64 MB below the memory limit, with the tmpfs files it is
        # above: only a limit that counts tmpfs stops it. The anonymous part is sized from
        # what the tmpfs really took (a smaller quota takes less), so the sum is over the
        # limit even for a kernel whose own memory is not charged to it (a forked kernel
        # shares the template's pages)
        in_tmpfs = min(3 * s.disk_mb // 4, s.memory_mb // 2)
        return ("import os\n"
                "chunk = b'\\x01' * (16 << 20)\n"
                "written = 0\n"
                "try:\n"
                f"    for i in range({in_tmpfs} // 16):\n"
                f"        with open(f'{folder}/hold{{i}}', 'wb') as fh:\n"
                "            fh.write(chunk)\n"
                "        written += 16\n"
                "except OSError as exc:  # a smaller quota: the memory below still counts\n"
                "    print('tmpfs full:', exc)\n"
                f"hold = [bytearray(chunk) for _ in range(({s.memory_mb} - 64 - written // 2)"
                " // 16)]\n"
                "print('held', len(hold) * 16, 'MB besides the tmpfs files')")
    return attack


def disk_fallocate(s: Sizes) -> str:
    return ("import os\n"
            "made = 0\n"
            "for i in range(5120 // 60):  # 5 GB in files below any file-size limit\n"
            "    fd = os.open(f'/content/fill{i}', os.O_CREAT | os.O_WRONLY, 0o644)\n"
            "    try:\n"
            "        os.posix_fallocate(fd, 0, 60 << 20)\n"
            "    finally:\n"
            "        os.close(fd)\n"
            "    made += 60\n"
            "print('reserved', made, 'MB')")


def disk_write(s: Sizes) -> str:
    return ("import os\n"
            "chunk = os.urandom(16 << 20)\n"
            "for i in range(5120 // 48):  # 5 GB of data, 48 MB per file\n"
            "    with open(f'/content/data{i}.bin', 'wb') as fh:\n"
            "        for _ in range(3):\n"
            "            fh.write(chunk)\n"
            "print('wrote 5 GB')")


def inode_flood(folder: str) -> Callable[[Sizes], str]:
    def attack(s: Sizes) -> str:
        return ("import os\n"
                f"folder = {folder}\n"
                "os.makedirs(folder, exist_ok=True)\n"
                "for i in range(300_000):\n"
                "    os.close(os.open(f'{folder}/f{i}', os.O_CREAT | os.O_WRONLY, 0o644))\n"
                "print('made 300000 files')")
    return attack


def slow_when_graded(ignore_interrupt: bool) -> Callable[[Sizes, tuple[str, ...]], str]:
    def attack(s: Sizes, names: tuple[str, ...]) -> str:
        body = ("    if GRADER_CALLS:\n"
                + ("        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ipykernel puts its\n"
                   "        # own handler back before each request, so here, in the call\n"
                   if ignore_interrupt else "")
                + "        time.sleep(10**6)\n"
                  "    raise NotImplementedError\n")
        return ("import signal, time\n\n"
                "GRADER_CALLS = False  # True once the notebook has run: then the grader calls\n\n"
                "def slow(*args, **kwargs):\n" + body + "\n"
                + " = ".join(names) + " = slow")
    return attack


def display_flood(s: Sizes) -> str:
    kb = min(100, s.output_kb * 2 // 5)  # fits the output limit, one at a time
    return ("from IPython.display import clear_output, display\n"
            f"payload = 'x' * ({kb} << 10)\n"
            "for i in range(2000):\n"
            "    display({'text/plain': payload}, raw=True, display_id=f'd{i}')\n"
            "    clear_output()\n"
            "print('done')")


def transform_flood(s: Sizes) -> str:
    # IPython's transformer rewrites one escape line per pass over the whole cell: in the
    # kernel that is the cell's own time, but the grader parses the student's cells too
    return ("# 400 shell escapes among 20,000 lines\n" + "!true\n" * 400
            + "pass\n" * 20_000)


@dataclass(frozen=True)
class Attack:
    name: str
    category: str
    what: str
    statuses: tuple[str, ...]
    code: Callable[..., str]  # (sizes) or, for time attacks, (sizes, function names)
    last: str = ""  # a final cell


QUOTA = ("graded", "killed")  # quota tmpfs: the student's own OSError; watchdog: killed
ATTACKS = (
    Attack("memfd", "memory", "memfds twice the limit that no process maps", ("killed",),
           memfd),
    Attack("shared_mapping", "memory", "a MAP_SHARED|MAP_ANONYMOUS mapping 1.5 times the limit",
           ("killed",), shared_mapping),
    Attack("tmpfs_shm", "memory", "files in /dev/shm plus anonymous memory, each under the "
           "limit, together over it", ("killed",), tmpfs("/dev/shm")),
    Attack("tmpfs_tmp", "memory", "files in /tmp plus anonymous memory, each under the limit, "
           "together over it", ("killed",), tmpfs("/tmp")),
    Attack("disk_fallocate", "disk", "fallocate 5 GB in /content", QUOTA, disk_fallocate),
    Attack("disk_write", "disk", "write 5 GB of data into /content", QUOTA, disk_write),
    Attack("inodes_content", "disk", "300,000 empty files in /content", QUOTA,
           inode_flood("'/content/flood'")),
    Attack("inodes_tmp", "disk", "300,000 empty files in /tmp", QUOTA,
           inode_flood("'/tmp/flood'")),
    Attack("inodes_exchange", "disk", "300,000 empty files in the exchange folder",
           QUOTA, inode_flood("os.environ['AG_EXCHANGE']")),
    Attack("slow_when_graded", "time", "every function sleeps only when the grader calls it",
           ("timeout",), slow_when_graded(False), last="GRADER_CALLS = True"),
    Attack("slow_when_graded_sigint", "time", "like slow_when_graded, and ignores the "
           "interrupt", ("timeout",), slow_when_graded(True), last="GRADER_CALLS = True"),
    Attack("display_flood", "output", "2000 large displays with display ids, each cleared at "
           "once", ("graded",), display_flood),
    Attack("transform_flood", "time", "a cell of 400 shell escapes among 20,000 lines, which "
           "IPython's transformer rewrites one pass per escape (minutes of the grader's own "
           "time when it parsed the cell)", ("timeout",), lambda s, names: transform_flood(s)),
)


# ---------------------------------------------------------------- writing


def header(attack: Attack, assignment_id: str) -> nbformat.NotebookNode:
    statuses = list(attack.statuses)
    if assignment_id == "13_n" and attack.category == "memory":
        # the corpus runs 13_n with a 10 s cell limit: on a loaded machine, filling
        # 3 GB may take longer than that, and the cell stops at its time limit first
        statuses.append("timeout")
    expect = json.dumps({"status": statuses, "max_score": 0})
    return new_markdown_cell(f"**hostile** · {attack.category} · {attack.what}\n\n"
                             f"expect: {expect}")


def render(attack: Attack, assignment_id: str, sizes: Sizes) -> nbformat.NotebookNode:
    assignment = load_assignment(assignment_id, _assignments_root(assignment_id))
    nb = student_version(read_source(assignment.source_notebook), assignment=assignment,
                         lang="ja")
    names = FUNCTIONS[assignment_id]
    source = attack.code(sizes, names) if attack.category == "time" else attack.code(sizes)
    added = [header(attack, assignment_id), new_code_cell(source)]
    if attack.last:
        added.append(new_code_cell(attack.last))
    for number, cell in enumerate(added):
        cell.id = f"hostile-{attack.name}-{number}"  # the same files on every run
    nb.cells = [added[0], *nb.cells, *added[1:]]
    return nb


def _assignments_root(assignment_id: str) -> Path:
    return ROOT / ("tests/assignments" if assignment_id == "02_n" else "assignments")


def main() -> None:
    small = HERE / "02_n"
    small.mkdir(exist_ok=True)
    for attack in ATTACKS:
        nbformat.write(render(attack, "13_n", SIZES_13_N), HERE / f"limits_{attack.name}.ipynb")
        nbformat.write(render(attack, "02_n", SIZES_02_N), small / f"{attack.name}.ipynb")
    (small / "limits.json").write_text(json.dumps(LIMITS_02_N, indent=2) + "\n")


if __name__ == "__main__":
    main()
