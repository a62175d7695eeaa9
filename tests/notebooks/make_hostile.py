"""Generate the sandbox's sample notebooks (benign and hostile) as nbformat v4 files.

Run ``python tests/notebooks/make_hostile.py`` to rewrite them; the .ipynb files are
committed too. Every path or port a notebook attacks comes from its cell tagged
``parameters``; the tests replace that cell with the real target (a file that exists on
the host, a port the test listens on), so each notebook tries the real thing.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def params(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": ["parameters"]})


def probe(target_var: str, result_var: str) -> str:
    """A cell that tries to read ``target_var`` and re-raises after recording the outcome."""
    return (f"try:\n"
            f"    with open({target_var}, 'rb') as fh:\n"
            f"        {result_var} = fh.read(100)\n"
            f"except OSError as exc:\n"
            f"    {result_var} = type(exc).__name__\n"
            f"    raise\n")


NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    "hello": [
        new_markdown_cell("A benign submission."),
        params("GREETING = 'hello'"),
        new_code_cell("import os\nUID = os.getuid()\nCWD = os.getcwd()\nprint(GREETING)"),
        new_code_cell("def add(a, b):\n    return a + b\n\nadd(2, 3)"),
    ],
    "infinite_loop": [
        new_code_cell("BEFORE = 1"),
        new_code_cell("while True:\n    pass"),
        new_code_cell("AFTER = 1"),
    ],
    "sleep_forever": [
        new_markdown_cell("Sleeps and swallows the interrupt, so the grader must kill it."),
        new_code_cell("import time\n"
                      "while True:\n"
                      "    try:\n"
                      "        time.sleep(10**6)\n"
                      "    except KeyboardInterrupt:\n"
                      "        pass"),
        new_code_cell("AFTER = 1"),
    ],
    "memory_hog": [
        params("GIGABYTES = 4"),
        new_code_cell("chunks = []\n"
                      "for _ in range(GIGABYTES * 10):\n"
                      "    chunks.append(b'\\x01' * (100 * 2**20))  # written, so resident\n"
                      "print(len(chunks))"),
        new_code_cell("AFTER = 1"),
    ],
    "fork_bomb": [
        new_markdown_cell("Bounded: at most MAX_PROCS forks within SECONDS; "
                                      "each child exits after a second."),
        params("MAX_PROCS = 5000\nSECONDS = 5"),
        new_code_cell("import os, time\n"
                      "STARTED, BLOCKED, children = 0, False, []\n"
                      "t0 = time.monotonic()\n"
                      "while STARTED < MAX_PROCS and time.monotonic() - t0 < SECONDS:\n"
                      "    try:\n"
                      "        pid = os.fork()\n"
                      "    except OSError:\n"
                      "        BLOCKED = True\n"
                      "        break\n"
                      "    if pid == 0:\n"
                      "        time.sleep(1)\n"
                      "        os._exit(0)\n"
                      "    children.append(pid)\n"
                      "    STARTED += 1\n"
                      "for pid in children:\n"
                      "    os.waitpid(pid, 0)\n"
                      "print(STARTED, BLOCKED)"),
    ],
    "print_100mb": [
        new_code_cell("line = 'x' * 1023\n"
                      "for _ in range(100 * 1024):\n"
                      "    print(line)"),
        new_code_cell("print('after the flood')\nAFTER = 1"),
    ],
    "sys_exit": [
        new_code_cell("import sys\nsys.exit(3)"),
        new_code_cell("exit()  # IPython's exit: must not stop the kernel either"),
        new_code_cell("import time\ntime.sleep(0.5)  # a kernel on its way out dies here\n"
                      "AFTER = 1"),
    ],
    "os_exit": [
        new_code_cell("import os\nos._exit(1)"),
        new_code_cell("AFTER = 1"),
    ],
    "segfault": [
        new_code_cell("import ctypes\nctypes.string_at(0)"),
        new_code_cell("AFTER = 1"),
    ],
    "read_tests_folder": [
        params("TARGET = 'assignments/14_n/tests/test_hidden.py'"),
        new_code_cell(probe("TARGET", "RESULT")),
    ],
    "read_gradebook": [
        params("TARGET = '.autograder/gradebook.sqlite'"),
        new_code_cell(probe("TARGET", "RESULT")),
    ],
    "read_other_submission": [
        params("TARGET = 'submissions/other_student/14_n.ipynb'"),
        new_code_cell("import glob\nOTHER_KERNELS = glob.glob('/tmp/agk-*')"),
        new_code_cell(probe("TARGET", "RESULT")),
    ],
    "read_root": [
        params("TARGET = '/root/.bashrc'"),
        new_code_cell("import os\nROOT_LISTING = sorted(os.listdir('/root'))"),
        new_code_cell(probe("TARGET", "RESULT")),
    ],
    "connect_host_port": [
        params("PORT = 8888"),
        new_code_cell("import socket\n"
                      "CONNECTED = False\n"
                      "with socket.create_connection(('127.0.0.1', PORT), timeout=3):\n"
                      "    CONNECTED = True"),
    ],
    "write_outside": [
        params("TARGETS = ['/usr/ag_probe', '/opt/autograder/ag_probe.py', '/work/ag_probe']"),
        new_code_cell("RESULTS = {}\n"
                      "for target in TARGETS:\n"
                      "    try:\n"
                      "        with open(target, 'w') as fh:\n"
                      "            fh.write('pwned')\n"
                      "        RESULTS[target] = 'written'\n"
                      "    except OSError as exc:\n"
                      "        RESULTS[target] = type(exc).__name__"),
        new_code_cell("written = [t for t, r in RESULTS.items() if r == 'written']\n"
                      "if written:\n"
                      "    raise RuntimeError(f'wrote outside the sandbox: {written}')"),
    ],
    "colab_and_pip": [
        new_code_cell("!pip install -q torchinfo"),
        new_code_cell("%pip install torchinfo"),
        new_code_cell("!apt-get install -y graphviz && echo installed"),
        new_code_cell("from google.colab import drive\ndrive.mount('/content/drive')"),
        new_code_cell("from google.colab import files\nUPLOADED = files.upload()"),
        new_code_cell("!echo shell-still-works"),
    ],
}


def build(name: str, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{index}"
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = build(name, cells)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
