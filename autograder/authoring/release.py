"""``autograder release``: the student version of an assignment's source notebook.

The source notebook is in nbgraderformat (cell metadata ``nbgrader`` with ``grade_id`` and
``points``, ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and ``### BEGIN HIDDEN TESTS``
regions). Release checks the manifest and the source first (``check_source``: every
problem is refused with the cell it is in), then runs nbgrader's own preprocessors on the
notebook in the order ``nbgrader generate_assignment`` runs them, minus the ones that need
nbgrader's course directory and database (header/footer, test instantiation, saving cells
to the database). The result gets a first markdown cell with the title and the
instructions for Colab, and nothing else is written: no tests, no reference, no manifest.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from ..core import nbapi
from ..core.config import Assignment, load_assignment
from ..core.errors import ConfigError, NotebookError
from ..core.i18n import Lang, tr
from .source_check import cell_where, check_source, parse_code

HEADER_CELL_ID = "autograder-release-header"


def release(*, assignment_id: str, out: Path | None = None,
            assignments_root: Path | None = None, lang: Lang | None = None) -> Path:
    """Write ``OUT/<file>`` (the name students submit, ``[assignment] file``, default
    ``<id>.ipynb``; ``OUT`` default ``./release/<id>/``) and return its path."""
    assignment = load_assignment(assignment_id, assignments_root)
    source = read_source(assignment.source_notebook)
    check_source(source, assignment=assignment)
    student = student_version(source, assignment=assignment, lang=lang)
    target = (out if out is not None else Path.cwd() / "release" / assignment.id)
    path = target / assignment.submission_file
    if path.resolve() == assignment.source_notebook.resolve():
        raise ConfigError(tr(lang, ja="出力先が元のノートブックと同じです",
                             en="the output would overwrite the source notebook"),
                          where=str(path),
                          hint=tr(lang, ja="--out に別のフォルダを指定してください",
                                  en="pass another folder with --out"))
    _write_atomic(student, path)
    return path


def read_source(path: Path) -> NotebookNode:
    """The instructor's source notebook (trusted, but it may still be malformed)."""
    try:
        nb = nbapi.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookError(tr(ja="元のノートブックがありません", en="source notebook not found"),
                            where=str(path),
                            hint=tr(ja="課題フォルダに <id>.ipynb を置いてください",
                                    en="put <id>.ipynb in the assignment folder")) from None
    except Exception as exc:  # nbformat raises JSON, validation and version errors alike
        raise NotebookError(tr(ja=f"ノートブックとして読めません ({exc})",
                               en=f"not a readable notebook ({exc})"), where=str(path)) from None
    return upgrade_minor(nb)


def upgrade_minor(nb: NotebookNode) -> NotebookNode:
    """Raise a format 4.0–4.4 notebook to 4.5 in place: cell ids are part of 4.5 only,
    and the release adds a cell with one (nbgrader's own fixtures are 4.0 and 4.1).

    Ids are ``cell-<index>`` rather than random, so the same source always releases to
    the same bytes; a later format (4.5 and up) keeps its own ids.
    """
    if nb.nbformat_minor >= 5:
        return nb
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    nb.nbformat_minor = 5
    return nb


def student_version(source: NotebookNode, *, assignment: Assignment,
                    lang: Lang | None = None) -> NotebookNode:
    """Apply nbgrader's release preprocessors to a copy of ``source`` (already checked)."""
    from nbgrader.nbgraderformat import ValidationError

    nb = copy.deepcopy(source)
    resources: dict[str, Any] = {}
    try:
        for pre in _preprocessors():
            nb, resources = pre.preprocess(nb, resources)
    except (RuntimeError, ValueError, ValidationError) as exc:
        # check_source refuses all of these first; this is the last line of defence.
        raise NotebookError(str(exc), where=str(assignment.source_notebook)) from None
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)   # nbclient's timestamps
        cell.metadata.pop("autograder", None)  # a grader's execution record
        if cell.cell_type == "code":
            _check_stub(cell, cell_where(assignment.source_notebook, index, cell))
    nb.metadata = _colab_metadata(assignment)
    nb.cells.insert(0, header_cell(assignment, lang=lang))
    nbapi.validate(nb)
    return nb


def _check_stub(cell: NotebookNode, where: str) -> None:
    """The released text must still be Python: a marker indented wrong breaks the stub."""
    try:
        parse_code(cell.source)
    except SyntaxError as exc:
        raise NotebookError(
            tr(ja=f"配布版のセルが Python として正しくなくなります({exc.msg}, {exc.lineno} 行目)",
               en=f"the released cell is not valid Python ({exc.msg}, line {exc.lineno})"),
            where=where,
            hint=tr(ja="### BEGIN SOLUTION の行を、置き換える本体と同じ字下げにしてください",
                    en="indent ### BEGIN SOLUTION like the body it replaces")) from None


def _preprocessors() -> list[Any]:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    # nbgrader's GenerateAssignment order: checksums once before hidden tests are cleared
    # and once after, so the released checksums describe the released text.
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(),
            ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(),
            CheckCellMetadata()]


def _colab_metadata(assignment: Assignment) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
    }
    if assignment.device == "cuda":
        meta["accelerator"] = "GPU"
        meta["colab"]["gpuType"] = "T4"
    return meta


# (ja, en) steps of the release header; {name} is the file to submit.
_STEPS: tuple[tuple[str, str], ...] = (
    ("Google Colab で開いたら、「ファイル」→「ドライブにコピーを保存」で"
     "自分のドライブにコピーしてから作業します。",
     "In Google Colab, first save a copy to your Drive (File → Save a copy in Drive)."),
    ("上から順にセルを実行し、`# YOUR CODE HERE` と `raise NotImplementedError()` の"
     " 2 行を自分のコードに置き換えます。"
     "文章で答えるセルは `YOUR ANSWER HERE` を消して書きます。",
     "Run the cells from the top; replace `# YOUR CODE HERE` and "
     "`raise NotImplementedError()` with your code, `YOUR ANSWER HERE` with your text."),
    ("テストのセル（編集できないセル）は変更・削除しないでください。"
     "採点のときは元の内容に戻されます。",
     "Do not change or delete the test cells (they are locked); grading restores them."),
    ("追加のインストールは不要です"
     "（torch・torchvision・matplotlib だけを使います）。",
     "Nothing to install: only torch, torchvision and matplotlib are used."),
    ("提出前に「ランタイム」→「再起動してすべてのセルを実行」で、"
     "最後までエラーなく動くことを確かめます。",
     "Before submitting, use Runtime → Restart and run all: it must run to the end."),
    ("「ファイル」→「ダウンロード」→「.ipynb をダウンロード」で保存し、"
     "ファイル名 `{name}` のまま Moodle に提出します。",
     "Download it (File → Download → Download .ipynb) and submit it to Moodle as `{name}`."),
)
_GPU_STEP = ("「ランタイム」→「ランタイムのタイプを変更」で GPU（T4 GPU など）を選びます。",
             "Choose a GPU (e.g. T4) in Runtime → Change runtime type.")


def header_cell(assignment: Assignment, *, lang: Lang | None = None) -> NotebookNode:
    """The first cell of the release: title, file name to submit, how to work in Colab."""
    name = assignment.submission_file
    steps = list(_STEPS)
    if assignment.device == "cuda":
        steps.insert(1, _GPU_STEP)
    lines = [f"# {assignment.title(lang or 'ja')}", "",
             tr(lang, ja=f"**提出ファイル名：`{name}`**", en=f"**File to submit: `{name}`**"), ""]
    lines += [f"{i}. " + tr(lang, ja=ja, en=en).format(name=name)
              for i, (ja, en) in enumerate(steps, start=1)]
    cell = nbapi.new_markdown_cell("\n".join(lines))
    cell.id = HEADER_CELL_ID
    return cell


def _write_atomic(nb: NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbapi.write(nb, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
