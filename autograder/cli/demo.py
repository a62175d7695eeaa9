"""``autograder demo``: the whole round trip on sample submissions for 13_n.

Builds what an instructor downloads from Moodle 4.1+ — a "Download all submissions" zip
(correct, partially correct, broken, hostile, misnamed, a Colab ``.py`` export, Japanese and
English names), a team-submission zip with one group, and the grading worksheet — then
grades them, and exports the filled worksheet, the feedback zip and the class report.
"""

from __future__ import annotations

import copy
import csv
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from ..core import nbapi
from ..core.config import Assignment, load_assignment
from ..core.i18n import Lang, default_lang
from ..core.paths import assignments_dir
from ..export.command import ExportSummary, export
from ..grading.batch import grade
from ..grading.summary import GradeSummary

ASSIGNMENT = "13_n"
DATE = (2026, 11, 23, 10, 0, 0)


@dataclass(frozen=True)
class Sample:
    participant_id: int
    name: str
    email: str
    file_name: str
    kind: str  # correct | partial | broken | hostile | py | missing


SAMPLES = [
    Sample(1001, "山田 太郎", "yamada@example.ac.jp", "13_n.ipynb", "correct"),
    Sample(1002, "佐藤 花子", "sato@example.ac.jp", "13_n.ipynb", "partial"),
    Sample(1003, "John Smith", "smith@example.ac.jp", "13_n.ipynb", "broken"),
    Sample(1004, "Emily Brown", "brown@example.ac.jp", "13_n.ipynb", "hostile"),
    Sample(1005, "鈴木 一郎", "suzuki@example.ac.jp", "13_n (1).ipynb", "correct"),
    Sample(1006, "高橋 美咲", "takahashi@example.ac.jp", "13_n.py", "py"),
    Sample(1007, "田中 健", "tanaka@example.ac.jp", "", "missing"),
]
GROUP = ("Group A", 42, [(1008, "伊藤 翔", "ito@example.ac.jp"),
                         (1009, "Maria Garcia", "garcia@example.ac.jp")])

# Bugs for the partially correct student: XOR by inequality, a softmax that overflows.
PARTIAL_BUGS = {"def XOR": "def XOR(a, b):\n    return int(a != b)\n",
                "def softmax": "def softmax(a):\n    a = torch.as_tensor(a, dtype=torch.float32)\n"
                               "    e = torch.exp(a)\n    return e / e.sum(dim=-1, keepdim=True)\n"}
HOSTILE = ("import os\nfor path in ['/root', '../tests']:\n    try:\n        os.listdir(path)\n"
           "    except OSError:\n        pass\nos._exit(1)\n")


def _solution_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def student_notebook(source: NotebookNode, released: NotebookNode,
                     kind: str) -> NotebookNode:
    """The released notebook as a student of ``kind`` would hand it in."""
    nb = copy.deepcopy(released)
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in _solution_cells(source)}
    for cell in _solution_cells(nb):
        answer = answers.get(cell.metadata["nbgrader"]["grade_id"])
        if answer is None:
            continue
        text = _strip_markers(answer.source) if cell.cell_type == "code" else \
            "とても分かりやすかったです。XOR を二層で作れるのが面白かったです。"
        cell.source = _mutate(text, kind)
    if kind == "hostile":
        nb.cells.insert(1, nbapi.new_code_cell(HOSTILE))
    return nb


def _strip_markers(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def _mutate(code: str, kind: str) -> str:
    if kind == "partial":
        for head, replacement in PARTIAL_BUGS.items():
            if code.lstrip().startswith(head):
                return replacement
    if kind == "broken" and "def sigmoid" in code:
        return code.replace("def sigmoid(u):", "def sigmoid(u)")  # a syntax error
    return code


def _prefix(name: str, ident: int | None) -> str:
    base = name.replace("_", " ")
    return f"{base}_{ident}_assignsubmission_file" if ident is not None else \
        f"{base}_assignsubmission_file"


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, DATE)
            info.flag_bits |= 0x800
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def _submission_bytes(sample: Sample, source: NotebookNode,
                      released: NotebookNode) -> bytes:
    if sample.kind == "py":
        import jupytext

        nb = student_notebook(source, released, "correct")
        return str(jupytext.writes(nb, fmt="py:percent")).encode()
    return nbapi.writes(student_notebook(source, released, sample.kind)).encode()


def build_zips(folder: Path, assignment: Assignment, released_path: Path) -> list[Path]:
    source = nbapi.read(assignment.source_notebook, as_version=4)
    released = nbapi.read(released_path, as_version=4)
    entries = [(f"{_prefix(s.name, s.participant_id)}/{s.file_name}",
                _submission_bytes(s, source, released)) for s in SAMPLES if s.kind != "missing"]
    main = _zip(folder / f"DL2026-{ASSIGNMENT}-512.zip", entries)
    group_nb = nbapi.writes(student_notebook(source, released, "correct")).encode()
    groups = _zip(folder / f"DL2026-{ASSIGNMENT}-group-513.zip", [
        (f"{_prefix(GROUP[0], GROUP[1])}/13_n.ipynb", group_nb)])
    return [main, groups]


WORKSHEET_HEADER = ["Identifier", "Full name", "Email address", "Status", "Group", "Grade",
                    "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                    "Last modified (grade)", "Feedback comments"]


def build_worksheet(path: Path) -> Path:
    """A grading worksheet as Moodle 4.x writes it (English site, BOM, 100-point grade)."""
    rows = [(s.participant_id, s.name, s.email, "", s.kind) for s in SAMPLES]
    rows += [(pid, name, mail, GROUP[0], "correct") for pid, name, mail in GROUP[2]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(WORKSHEET_HEADER)
    for pid, name, email, group, kind in rows:
        status = "No submission" if kind == "missing" else "Submitted for grading"
        modified = "-" if kind == "missing" else "Monday, 23 November 2026, 10:00 AM"
        writer.writerow([f"Participant {pid}", name, email, status, group, "", "100.00", "Yes",
                         modified, "-", ""])
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
    return path


@dataclass
class DemoResult:
    graded: GradeSummary
    exported: ExportSummary
    out: Path


def demo(*, out: Path, jobs: int = 2, lang: Lang | None = None,
         assignments_root: Path | None = None) -> DemoResult:
    """Build the sample Moodle files in ``out/moodle``, grade them, export to ``out``."""
    from ..authoring.release import release

    root = assignments_root or assignments_dir()
    assignment = load_assignment(ASSIGNMENT, root)
    moodle = out / "moodle"
    moodle.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ag-demo-") as tmp:
        released = release(assignment_id=ASSIGNMENT, out=Path(tmp), assignments_root=root)
        zips = build_zips(moodle, assignment, released)
    worksheet = build_worksheet(moodle / f"Grades-DL2026-{ASSIGNMENT}-512.csv")
    gradebook = out / "gradebook.sqlite"
    graded = grade(assignment_id=ASSIGNMENT, submissions=zips[:1], out=out / "grading",
                   gradebook=gradebook, jobs=jobs, lang=lang or default_lang(),
                   assignments_root=root)
    teams = grade(assignment_id=ASSIGNMENT, submissions=zips[1:], out=out / "grading-teams",
                  gradebook=gradebook, jobs=jobs, lang=lang or default_lang(),
                  assignments_root=root, team_submission=True)
    graded.submission_ids += teams.submission_ids
    graded.graded_now += teams.graded_now
    exported = export(assignment_id=ASSIGNMENT, out=out, gradebook=gradebook,
                      worksheet=worksheet, lang=lang or default_lang(), assignments_root=root)
    return DemoResult(graded, exported, out)
