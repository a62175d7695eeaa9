"""Checks on an assignment's source notebook before it is released.

nbgrader itself accepts a few things that make a broken assignment: a test cell that is
nothing but hidden tests (its released text is empty and passes), a grade cell without
points. A code solution cell without ``### BEGIN SOLUTION`` is *not* one of them: nbgrader
replaces the whole cell by the stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``),
existing nbgrader assignments are written that way, and ``validate`` shows whether the
checks still work on such a release. Each problem here is refused with the cell it is in
(``where``: the notebook, the cell index, its ``grade_id``) and what to do (``hint``).
The manifest is checked against the notebook too: every ``[grading]`` override must be a
name the ``parameters`` cell defines, every ``[points]`` key a check that exists, every
``cell:``/``manual:`` name in ``[labels]`` and ``[[questions]]`` a graded cell.
"""

from __future__ import annotations

import ast
import math
import re
import sys
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from ..core.config import Assignment
from ..core.errors import ConfigError, NotebookError
from ..core.i18n import tr
from ..core.released_text import HIDDEN_MARKERS as HIDDEN
from ..core.released_text import SOLUTION_MARKERS as SOLUTION
from ..engine.labels import check_named_cells

MARK_SCHEME = ("BEGIN MARK SCHEME", "END MARK SCHEME")
PARAMETERS_TAG = "parameters"
# What a Colab runtime has without installing anything, as far as this course relies on.
COLAB_MODULES = frozenset({"torch", "torchvision", "matplotlib", "mpl_toolkits", "numpy", "PIL"})
_FLAGS = ("grade", "solution", "locked")
_MAGIC = re.compile(r"^\s*[%!]")
_INSTALL = re.compile(r"^\s*(!|%(pip|conda|mamba|micromamba)\b)")


def check_source(nb: NotebookNode, *, assignment: Assignment) -> None:
    """Raise ``NotebookError`` / ``ConfigError`` for the first problem found."""
    path = assignment.source_notebook
    language = nb.metadata.get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise NotebookError(tr(ja=f"カーネルの言語が {language!r} です(python のみ対応)",
                               en=f"kernel language is {language!r}; only python is supported"),
                            where=str(path))
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = cell_where(path, index, cell)
        meta = _nbgrader_meta(cell, where)
        _check_regions(cell, meta, where)
        if meta is not None:
            _check_identity(meta, index, seen, where)
        if cell.cell_type == "code":
            check_imports(cell.source, where)
    _check_parameters(nb, assignment)
    _check_points_names(nb, assignment)
    check_named_cells(assignment, nb)  # [labels] / [[questions]] cell names (engine/labels.py)


def cell_where(path: Path, index: int, cell: NotebookNode) -> str:
    gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
    label = f"cell {index}" + (f" [{gid}]" if isinstance(gid, str) and gid else "")
    return f"{path}: {label}"


def _fail(where: str, *, ja: str, en: str, hint_ja: str, hint_en: str) -> NotebookError:
    return NotebookError(tr(ja=ja, en=en), where=where, hint=tr(ja=hint_ja, en=hint_en))


def _nbgrader_meta(cell: NotebookNode, where: str) -> dict[str, Any] | None:
    meta = cell.metadata.get("nbgrader")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise _fail(where, ja="nbgrader のメタデータが辞書ではありません",
                    en="nbgrader metadata is not a mapping",
                    hint_ja="nbgrader の Create Assignment で設定し直してください",
                    hint_en="set the cell up again with nbgrader's Create Assignment")
    if meta.get("schema_version") != 3:
        raise _fail(where, ja=f"nbgrader のスキーマ {meta.get('schema_version')!r} は未対応です",
                    en=f"nbgrader schema_version {meta.get('schema_version')!r} is not 3",
                    hint_ja="nbgrader 0.9 以降で一度開いて保存し、schema_version 3 にしてください",
                    hint_en="open and save it with nbgrader ≥ 0.9 to upgrade it to version 3")
    for flag in _FLAGS:
        if not isinstance(meta.get(flag), bool):
            raise _fail(where, ja=f"nbgrader の {flag} が true/false ではありません",
                        en=f"nbgrader flag {flag!r} must be true or false",
                        hint_ja="セルの種類を nbgrader の Create Assignment で設定し直してください",
                        hint_en="set the cell type again with nbgrader's Create Assignment")
    return meta


def _check_identity(meta: dict[str, Any], index: int, seen: dict[str, int], where: str) -> None:
    if not (meta["grade"] or meta["solution"] or meta["locked"] or meta.get("task")):
        return
    gid = meta.get("grade_id")
    if not isinstance(gid, str) or not gid.strip():
        raise _fail(where, ja="grade_id がありません", en="the cell has no grade_id",
                    hint_ja="課題内で重複しない grade_id を付けてください",
                    hint_en="give the cell a grade_id unique in the notebook")
    if gid in seen:
        raise _fail(where, ja=f"grade_id {gid!r} がセル {seen[gid]} と重複しています",
                    en=f"grade_id {gid!r} duplicates cell {seen[gid]}",
                    hint_ja="どちらかの grade_id を変えてください",
                    hint_en="rename one of them")
    seen[gid] = index
    if meta["grade"] or meta.get("task"):
        points = meta.get("points")
        if (not isinstance(points, (int, float)) or isinstance(points, bool)
                or not math.isfinite(points) or points <= 0):
            raise _fail(where, ja=f"採点セルの points が正の数ではありません({points!r})",
                        en=f"graded cell has no positive points ({points!r})",
                        hint_ja="nbgrader のメタデータに points(正の数)を設定してください",
                        hint_en="set a positive number as points in its nbgrader metadata")


def _regions(source: str, markers: tuple[str, str], where: str) -> list[list[str]]:
    """The lines inside each ``markers`` region; unbalanced or nested regions raise."""
    begin, end = markers
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in source.split("\n"):
        if begin in line:
            if current is not None:
                raise _unbalanced(where, begin, nested=True)
            current = []
        elif end in line:
            if current is None:
                raise _unbalanced(where, end, nested=False)
            found.append(current)
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise _unbalanced(where, begin, nested=False)
    return found


def _unbalanced(where: str, marker: str, *, nested: bool) -> NotebookError:
    what = (tr(ja=f"### {marker} が入れ子になっています", en=f"nested ### {marker}") if nested
            else tr(ja=f"### {marker} に対応する行がありません", en=f"### {marker} is not matched"))
    return NotebookError(what, where=where,
                         hint=tr(ja="BEGIN と END を 1 組ずつ、入れ子にせずに書いてください",
                                 en="write each BEGIN with its END, without nesting"))


def _check_regions(cell: NotebookNode, meta: dict[str, Any] | None, where: str) -> None:
    solution = bool(meta and meta["solution"])
    grade = bool(meta and meta["grade"])
    task = bool(meta and meta.get("task"))
    solutions = _regions(cell.source, SOLUTION, where)
    hidden = _regions(cell.source, HIDDEN, where)
    marks = _regions(cell.source, MARK_SCHEME, where)
    if solutions and not solution:
        raise _fail(where, ja="解答セルではないセルに BEGIN SOLUTION があります",
                    en="BEGIN SOLUTION in a cell that is not a solution cell",
                    hint_ja="セルを解答セル(solution)にするか、マーカーを消してください",
                    hint_en="make it a solution cell or remove the markers")
    if hidden and not grade:
        raise _fail(where, ja="テストセルではないセルに BEGIN HIDDEN TESTS があります",
                    en="BEGIN HIDDEN TESTS in a cell that is not a grade cell",
                    hint_ja="セルをテストセル(grade)にするか、マーカーを消してください",
                    hint_en="make it a grade cell or remove the markers")
    if marks and not task:
        raise _fail(where, ja="タスクセルではないセルに BEGIN MARK SCHEME があります",
                    en="BEGIN MARK SCHEME in a cell that is not a task cell",
                    hint_ja="マーカーを消すかタスクセルにしてください",
                    hint_en="remove the markers or make it a task cell")
    if hidden and cell.cell_type == "code" and not _has_code(_outside(cell.source, HIDDEN)):
        raise _fail(where, ja="テストセルが隠しテストだけで、配布版では空になります",
                    en="the test cell is all hidden tests: its released text is empty",
                    hint_ja="公開するテストを少なくとも1行書いてください",
                    hint_en="keep at least one visible test line")


def _outside(source: str, markers: tuple[str, str]) -> str:
    kept, inside = [], False
    for line in source.split("\n"):
        if markers[0] in line:
            inside = True
        elif markers[1] in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def _has_code(source: str) -> bool:
    return any(s and not s.startswith("#") for s in (ln.strip() for ln in source.split("\n")))


def parse_code(source: str) -> ast.Module:
    """Parse a code cell; IPython magics and shell lines are blanked first."""
    return ast.parse("\n".join("" if _MAGIC.match(ln) else ln for ln in source.split("\n")))


def check_imports(source: str, where: str) -> None:
    """Refuse syntax errors, shell commands and imports a bare Colab runtime lacks."""
    if any(_INSTALL.match(ln) for ln in source.split("\n")):
        raise _fail(where, ja="シェルコマンドかインストール(! や %pip で始まる行)があります",
                    en="shell command or install (a line starting with ! or %pip)",
                    hint_ja="Colab で追加のインストールなしに動くよう、消してください",
                    hint_en="remove it: the notebook must run in Colab without installing")
    try:
        tree = parse_code(source)
    except SyntaxError as exc:
        raise _fail(where, ja=f"Python として正しくありません({exc.msg}, {exc.lineno} 行目)",
                    en=f"not valid Python ({exc.msg}, line {exc.lineno})",
                    hint_ja="セルのコードを直してください", hint_en="fix the cell's code") from None
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        for name in names:
            top = name.split(".")[0]
            if top not in COLAB_MODULES and top not in sys.stdlib_module_names:
                raise _fail(where, ja=f"モジュール {top!r} は Colab でそのまま使えるとは限りません",
                            en=f"module {top!r} is not available in a bare Colab runtime",
                            hint_ja="torch・torchvision・matplotlib と"
                                    "標準ライブラリだけを使ってください",
                            hint_en="use only torch, torchvision, matplotlib and the "
                                    "standard library")


def parameter_names(nb: NotebookNode, path: Path) -> set[str] | None:
    """Names the cell tagged ``parameters`` assigns (``None`` when there is no such cell)."""
    cells = [(i, c) for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if not cells:
        return None
    if len(cells) > 1:
        raise _fail(cell_where(path, cells[1][0], cells[1][1]),
                    ja=f"parameters タグのセルが {len(cells)} 個あります",
                    en=f"{len(cells)} cells are tagged parameters",
                    hint_ja="1 つにまとめてください", hint_en="keep exactly one")
    index, cell = cells[0]
    meta = cell.metadata.get("nbgrader") or {}
    if cell.cell_type != "code" or any(meta.get(f) for f in _FLAGS):
        raise _fail(cell_where(path, index, cell),
                    ja="parameters のセルは nbgrader の印のない普通のコードセルにしてください",
                    en="the parameters cell must be a plain code cell (no nbgrader flags)",
                    hint_ja="nbgrader の種類を「なし」にしてください",
                    hint_en="set its nbgrader type to none")
    names: set[str] = set()
    for node in parse_code(cell.source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _check_parameters(nb: NotebookNode, assignment: Assignment) -> None:
    names = parameter_names(nb, assignment.source_notebook)
    for key in assignment.grading:
        if names is None or key not in names:
            raise ConfigError(
                tr(ja=f"ノートブックの parameters セルに {key} がありません",
                   en=f"{key} is not assigned in the notebook's parameters cell"),
                where=f"{assignment.manifest_path}: [grading] {key}",
                hint=tr(ja="parameters タグのセルで定義するか、[grading] から消してください",
                        en="define it in the cell tagged parameters or drop it from [grading]"))


def check_names(tests_dir: Path) -> set[str]:
    """Names of the pytest check functions in ``tests_dir/test_*.py``."""
    found: set[str] = set()
    for file in sorted(tests_dir.glob("test_*.py")):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        except SyntaxError as exc:
            raise ConfigError(tr(ja=f"Python として正しくありません({exc.msg})",
                                 en=f"not valid Python ({exc.msg})"),
                              where=f"{file}:{exc.lineno}") from None
        found.update(n.name for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name.startswith("test"))
    return found


def _check_points_names(nb: NotebookNode, assignment: Assignment) -> None:
    if not assignment.points:
        return
    known = check_names(assignment.tests_dir) if assignment.tests_dir.is_dir() else set()
    known |= {str((c.metadata.get("nbgrader") or {}).get("grade_id")) for c in nb.cells}
    for key in assignment.points:
        if key not in known:
            raise ConfigError(
                tr(ja=f"{key} という名前のチェックがありません",
                   en=f"there is no check named {key}"),
                where=f"{assignment.manifest_path}: [points] {key}",
                hint=tr(ja="tests/ の test_ 関数名か、ノートブックの grade_id を書いてください",
                        en="use a test_ function name from tests/ or a grade_id of the notebook"))
