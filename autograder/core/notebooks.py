"""Reading untrusted notebooks: any nbformat 4 minor, nbformat 3 converted, garbage refused.

A submission is whatever a student uploaded: a Colab download, a notebook saved by
JupyterLab or VS Code, an nbformat 3 file from an old template, or something else renamed
``.ipynb`` (a PNG, an HTML page, a Python script, a truncated upload). ``read_notebook``
accepts every real notebook without stripping anything the student wrote and refuses the
rest with ``InvalidNotebook`` whose message says, in the student's words, what is wrong
(and for broken JSON where: line and column).

What reading does to a notebook that is accepted:

* nbformat 3 is converted to 4 with ``nbformat.convert``; the result carries a notice.
* nbformat 4.0–4.4 is brought to 4.5: every cell gets a valid, unique ``id`` (Colab writes
  4.0 without ids); missing or duplicate ids in 4.5+ are repaired the same way.
* Missing structural fields that carry no content (cell ``metadata``, code-cell
  ``outputs`` / ``execution_count``, ``source``) are filled with their empty defaults.
* Lone UTF-16 surrogates (``"\\ud800"`` escapes, which cannot be written back as UTF-8)
  become U+FFFD.
* Metadata of any kind (``colab``, ``accelerator``, ``widgets``, ``gpuClass``, output
  ``metadata.colab``...) is kept as is; the schema allows it.

Limits (``ReadLimits``) bound the work a hostile file can cause before validation: file
size, number of cells, nesting depth, and number of JSON containers.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from . import nbapi
from .errors import InvalidNotebook, NotebookError
from .i18n import Lang, tr
from .results import Notice

MiB = 1024 * 1024
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf", "7z"),
    (b"Rar!", "RAR"),
)


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a submitted file may cost to read (all configurable)."""

    max_bytes: int = 50 * MiB
    max_cells: int = 10_000
    max_depth: int = 100
    max_containers: int = 2_000_000


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True)
class ReadResult:
    """A readable notebook (nbformat 4.5+) and what the student should be told about it."""

    nb: NotebookNode
    notices: tuple[Notice, ...] = ()
    original_nbformat: tuple[int, int] = (4, 5)

    @property
    def converted(self) -> bool:
        return self.original_nbformat[0] != 4


class NotebookReadError(InvalidNotebook):
    """``InvalidNotebook`` with a machine-readable ``code`` (see ``REASON_CODES``)."""

    def __init__(self, code: str, message: str, *, where: str | None = None,
                 hint: str | None = None):
        self.code = code
        super().__init__(message, where=where, hint=hint)


REASON_CODES = (
    "too_large", "empty", "binary", "html", "not_utf8", "not_json", "corrupted_json",
    "not_notebook", "unsupported_version", "too_complex", "schema", "conversion_failed",
)


def read_notebook(path: Path, *, limits: ReadLimits = DEFAULT_LIMITS,
                  lang: Lang | None = None) -> ReadResult:
    """Read the notebook file at ``path`` (untrusted) or raise ``InvalidNotebook``.

    A file that cannot be opened at all (missing, a directory, no permission) raises
    ``NotebookError``: that is the caller's problem, not the notebook's.
    """
    where = str(path)
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise NotebookError(
            tr(lang, ja=f"ファイルを開けません ({exc.strerror or exc})",
               en=f"cannot open the file ({exc.strerror or exc})"),
            where=where, hint=tr(lang, ja="パスを確認してください", en="check the path"),
        ) from None
    return read_notebook_bytes(data, name=where, limits=limits, lang=lang)


def read_notebook_bytes(data: bytes, *, name: str, limits: ReadLimits = DEFAULT_LIMITS,
                        lang: Lang | None = None) -> ReadResult:
    """Read notebook ``data`` (untrusted bytes); ``name`` is used in error messages."""
    fail = _Failer(name, lang)
    text = _decode(data, limits, fail)
    obj = _parse_json(text, limits, fail)
    major, minor = _version_of(obj, fail)
    _check_structure(obj, major, limits, fail, fix_surrogates=bool(
        _SURROGATE_ESCAPE.search(text)))
    notices: list[Notice] = []
    if major == 3:
        obj = _convert_v3(obj, fail)
        notices.append(Notice(
            code="converted_nbformat3",
            message_ja="古い形式 (nbformat 3) のノートブックだったため、"
                       "形式 4 に変換して採点しました",
            message_en="the notebook was in the old nbformat 3 and was converted to"
                       " nbformat 4 for grading"))
    _repair_v4(obj, minor if major == 4 else 5, fail)
    _validate(obj, fail)
    nb = nbapi.v4_to_notebook(obj)
    return ReadResult(nb=nb, notices=tuple(notices), original_nbformat=(major, minor))


class _Failer:
    """Builds the ``NotebookReadError`` for one file in the chosen language."""

    def __init__(self, name: str, lang: Lang | None):
        self.name, self.lang = name, lang

    def __call__(self, code: str, *, ja: str, en: str, hint_ja: str | None = None,
                 hint_en: str | None = None) -> NotebookReadError:
        hint = tr(self.lang, ja=hint_ja or _HINT_JA, en=hint_en or _HINT_EN)
        return NotebookReadError(code, tr(self.lang, ja=ja, en=en), where=self.name, hint=hint)


_HINT_JA = ("Colab の「ファイル → ダウンロード → .ipynb をダウンロード」で保存したファイルを"
            "そのまま提出してください")
_HINT_EN = "submit the file saved by Colab's File → Download → Download .ipynb, unchanged"


def _decode(data: bytes, limits: ReadLimits, fail: _Failer) -> str:
    size = len(data)
    if size > limits.max_bytes:
        mb, limit_mb = size / MiB, limits.max_bytes / MiB
        raise fail("too_large",
                   ja=f"ファイルが大きすぎます ({mb:.1f} MB 以上、上限 {limit_mb:.0f} MB)",
                   en=f"the file is too large (at least {mb:.1f} MB, limit {limit_mb:.0f} MB)",
                   hint_ja="「編集 → 出力をすべてクリア」してから保存し直して提出してください",
                   hint_en="clear all outputs (Edit → Clear all outputs), save and submit again")
    if not data.strip():
        raise fail("empty", ja="ファイルが空です", en="the file is empty")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise fail("binary", ja=f"ノートブックではなく {kind} ファイルです",
                       en=f"this is a {kind} file, not a notebook")
    if b"\x00" in data:  # JSON text never holds a raw NUL byte
        raise fail("binary", ja="ノートブックではなくバイナリファイルです",
                   en="this is a binary file, not a notebook")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail("not_utf8",
                   ja=f"文字コードが UTF-8 ではありません ({exc.start + 1} バイト目)",
                   en=f"the text is not UTF-8 (byte {exc.start + 1})") from None


def _parse_json(text: str, limits: ReadLimits, fail: _Failer) -> Any:
    head = text.lstrip()[:200].lower()
    if head.startswith("<"):
        raise fail("html", ja="ノートブックではなく HTML (Web ページ) のファイルです",
                   en="this is an HTML (web page) file, not a notebook")
    if not head.startswith(("{", "[")):
        raise fail("not_json", ja="ノートブック (JSON) ではないテキストファイルです",
                   en="this is a text file but not a notebook (JSON)")
    if text.count("{") + text.count("[") > limits.max_containers:
        raise _too_complex(fail)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail("corrupted_json",
                   ja=f"JSON が壊れています ({exc.lineno} 行 {exc.colno} 列目: {exc.msg})",
                   en=f"the JSON is corrupted (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                   ) from None
    except RecursionError:
        raise _too_complex(fail) from None
    except ValueError as exc:  # e.g. an integer literal with more than 4300 digits
        raise fail("corrupted_json", ja=f"JSON が読めません ({exc})",
                   en=f"the JSON cannot be read ({exc})") from None


def _too_complex(fail: _Failer) -> NotebookReadError:
    return fail("too_complex",
                ja="ノートブックの構造が異常に複雑です (入れ子が深すぎる、要素が多すぎる)",
                en="the notebook's structure is pathologically complex (nesting too deep or"
                   " too many elements)")


def _version_of(obj: Any, fail: _Failer) -> tuple[int, int]:
    if not isinstance(obj, dict):
        raise fail("not_notebook", ja="JSON ですがノートブックではありません",
                   en="this is JSON but not a notebook")
    major, minor = obj.get("nbformat"), obj.get("nbformat_minor", 0)
    if not _is_int(major) or not _is_int(minor) or minor < 0:
        raise fail("not_notebook",
                   ja="JSON ですがノートブックではありません (nbformat の番号がありません)",
                   en="this is JSON but not a notebook (no nbformat version number)")
    if major not in (3, 4):
        raise fail("unsupported_version",
                   ja=f"ノートブック形式 nbformat {major} には対応していません (対応: 3, 4)",
                   en=f"nbformat {major} is not supported (supported: 3 and 4)")
    key = "cells" if major == 4 else "worksheets"
    if not isinstance(obj.get(key), list):
        raise fail("not_notebook",
                   ja=f"JSON ですがノートブックではありません ('{key}' がありません)",
                   en=f"this is JSON but not a notebook (no '{key}' list)")
    return major, minor


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_structure(obj: dict[str, Any], major: int, limits: ReadLimits, fail: _Failer,
                     *, fix_surrogates: bool) -> None:
    if major == 4:
        n_cells = len(obj["cells"])
    else:
        n_cells = sum(len(ws.get("cells", [])) if isinstance(ws, dict)
                      and isinstance(ws.get("cells"), list) else 0 for ws in obj["worksheets"])
    if n_cells > limits.max_cells:
        raise fail("too_complex",
                   ja=f"セルが多すぎます ({n_cells} 個、上限 {limits.max_cells} 個)",
                   en=f"too many cells ({n_cells}, limit {limits.max_cells})")
    if _depth_exceeds(obj, limits.max_depth):
        raise _too_complex(fail)
    if fix_surrogates:
        _replace_surrogates(obj)


def _depth_exceeds(obj: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def _clean(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text)


def _replace_surrogates(obj: Any) -> None:
    """Replace lone surrogates (valid JSON escapes, invalid UTF-8) in place with U+FFFD."""
    stack: list[Any] = [obj]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            if isinstance(key, str) and not key.isascii():
                del node[key]
                key = _clean(key)
            node[key] = _clean(value) if isinstance(value, str) else value
            if isinstance(value, (dict, list)):
                stack.append(value)


def _convert_v3(obj: dict[str, Any], fail: _Failer) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb3 = nbapi.v3_to_notebook(obj)
            nb4 = nbapi.convert(nb3, 4)
    except Exception as exc:  # nbformat's converter trusts its input; any failure is the file's
        raise fail("conversion_failed",
                   ja=f"nbformat 3 のノートブックを変換できません ({type(exc).__name__})",
                   en=f"the nbformat 3 notebook cannot be converted ({type(exc).__name__})",
                   ) from None
    # Back to plain JSON data so the v4 path below repairs and validates it like any other.
    converted: dict[str, Any] = json.loads(json.dumps(nb4))
    return converted


def _repair_v4(obj: dict[str, Any], minor: int, fail: _Failer) -> None:
    """Fill content-free required fields and give every cell a valid, unique id (4.5)."""
    obj["nbformat"], obj["nbformat_minor"] = 4, max(minor, 5)
    obj.setdefault("metadata", {})
    seen: set[str] = set()
    for index, cell in enumerate(obj["cells"]):
        if not isinstance(cell, dict):
            raise fail("schema",
                       ja=f"ノートブックの構造が壊れています (cells[{index}] がセルではありません)",
                       en=f"the notebook's structure is broken (cells[{index}] is not a cell)")
        cell.setdefault("metadata", {})
        cell.setdefault("source", "")
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in seen:
            cell_id = _fresh_id(seen)
            cell["id"] = cell_id
        seen.add(cell_id)


def _fresh_id(taken: set[str]) -> str:
    while True:
        cell_id = nbapi.random_cell_id()
        if cell_id not in taken:
            return cell_id


def _validate(obj: dict[str, Any], fail: _Failer) -> None:
    """Validate against the nbformat schema; metadata that breaks it is dropped, not fatal.

    Tools write metadata the schema rejects (a ``kernelspec`` without ``display_name``,
    ``outputs`` on a markdown cell); none of it is the student's work, so it goes. What is
    still invalid after that is a broken file.
    """
    if _is_valid(obj):
        return
    for cell in obj["cells"]:
        if cell.get("cell_type") in ("markdown", "raw"):
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, repaired = nbapi.normalize(obj, strip_invalid_metadata=True)
    obj.clear()
    obj.update(repaired)
    if _is_valid(obj):
        return
    where, detail = _first_schema_error(obj)
    at = f"{where}: " if where else ""
    raise fail("schema", ja=f"ノートブックの構造が壊れています ({at}{detail})",
               en=f"the notebook's structure is broken ({at}{detail})")


def _is_valid(obj: dict[str, Any]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbapi.isvalid(obj)


def _first_schema_error(obj: dict[str, Any]) -> tuple[str, str]:
    """The first schema error as (JSON path, short detail), via jsonschema's clearer errors."""
    minor = obj["nbformat_minor"]
    validator = nbapi.get_validator(version=4, version_minor=minor, name="jsonschema")
    error = next(iter(validator.iter_errors(obj)), None) if validator else None
    if error is None:
        return "", "schema validation failed"
    error = nbapi.better_validation_error(error, 4, minor)
    where = _json_path(error.relative_path)
    if error.validator == "oneOf":
        return where, f"unexpected value {_short(repr(error.instance), 60)}"
    return where, _short(str(error.message))


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
