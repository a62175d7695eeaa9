"""``autograder new``: a new assignment folder from the templates in ``templates/new_assignment/``.

Every ``*.j2`` file there is rendered with jinja2 (strict: an unknown variable is an
error) to the same relative path without ``.j2``; ``__id__`` in a file name becomes the
assignment id. The result is a source notebook in nbgrader's format (a parameters cell,
one solution cell with its test cell, the free-text cell), a manifest and
``tests/test_example.py``. It is rendered into a hidden folder beside the target, checked
(the manifest loads, the notebook passes the release checks) and only then renamed into
place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core import nbapi
from ..core.assignment_ids import check_id, lecture_level
from ..core.config import load_manifest
from ..core.errors import ConfigError
from ..core.i18n import tr
from ..core.paths import assignments_dir, templates_dir

DEVICES = ("cpu", "cuda")
TEMPLATE_FOLDER = "new_assignment"


def new_assignment(*, assignment_id: str, root: Path | None = None,
                   title_ja: str | None = None, title_en: str | None = None,
                   device: str = "cpu", datasets: Sequence[str] = (),
                   templates: Path | None = None) -> Path:
    """Create ``<root>/<assignment_id>/`` and return it (root: the assignments folder)."""
    check_id(assignment_id, where=assignment_id)
    lecture, level = lecture_level(assignment_id) or (None, None)
    if device not in DEVICES:
        raise ConfigError(tr(ja=f"device は cpu か cuda です({device!r})",
                             en=f"device must be cpu or cuda, got {device!r}"),
                          where="--device")
    base = root if root is not None else assignments_dir()
    target = base / assignment_id
    if target.exists():
        raise ConfigError(tr(ja="この課題のフォルダはすでにあります",
                             en="the assignment folder already exists"),
                          where=str(target),
                          hint=tr(ja="別の ID を選ぶか、既存のフォルダを編集してください",
                                  en="choose another id or edit the existing folder"))
    values = {
        "id": assignment_id, "lecture": lecture, "level": level, "device": device,
        "datasets": list(datasets),
        "title_ja": title_ja or _default_title(assignment_id, "ja"),
        "title_en": title_en or _default_title(assignment_id, "en"),
    }
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".new-{assignment_id}-", dir=base))
    try:
        folder = staging / assignment_id
        _render_tree(templates or templates_dir() / TEMPLATE_FOLDER, folder, values)
        _self_check(folder)
        folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _default_title(assignment_id: str, lang: str) -> str:
    found = lecture_level(assignment_id)
    if found is None:
        return f"Assignment {assignment_id}" if lang == "en" else f"課題 {assignment_id}"
    lecture, level = found
    if lang == "en":
        return f"Lecture {lecture} ({'normal' if level == 'n' else 'hard'})"
    return f"第{lecture}回 {'ノーマル' if level == 'n' else 'ハード'}課題"


def _render_tree(source: Path, folder: Path, values: dict[str, Any]) -> None:
    import jinja2

    if not source.is_dir():
        raise ConfigError(tr(ja="雛形のフォルダがありません", en="template folder not found"),
                          where=str(source))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(source)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    # TOML basic strings accept JSON's escapes; ensure_ascii=False keeps Japanese readable.
    env.filters["toml"] = lambda text: json.dumps(str(text), ensure_ascii=False)
    for path in sorted(source.rglob("*.j2")):
        relative = path.relative_to(source).as_posix()
        out = folder / relative[: -len(".j2")].replace("__id__", values["id"])
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            text = env.get_template(relative).render(**values)
        except jinja2.TemplateError as exc:
            raise ConfigError(tr(ja=f"雛形を展開できません({exc})",
                                 en=f"the template cannot be rendered ({exc})"),
                              where=str(path)) from None
        if out.suffix == ".ipynb":
            # Round-trip through nbformat: validated, cell ids added, canonical layout.
            nb = nbapi.reads(text, as_version=4)
            nb.nbformat_minor = max(nb.nbformat_minor, 5)
            for cell in nb.cells:
                cell.setdefault("id", nbapi.random_cell_id())
            nbapi.validate(nb)
            text = nbapi.writes(nb)
        out.write_text(text, encoding="utf-8")


def _self_check(folder: Path) -> None:
    """The scaffold must itself be a releasable assignment."""
    from .release import read_source
    from .source_check import check_source

    assignment = load_manifest(folder / "assignment.toml")
    check_source(read_source(assignment.source_notebook), assignment=assignment)
