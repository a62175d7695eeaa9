"""Assignment manifests (``assignments/<id>/assignment.toml``), loaded in one place.

Every field is validated on load; an error names the file and the key and says what
is expected. The loaded objects are frozen dataclasses.

Example::

    [assignment]
    id = "14_n"              # letters, digits, _ . - (the folder's name)
    title = { ja = "畳み込みとプーリング", en = "Convolution and pooling" }
    lecture = 14             # optional; taken from an id of the form NN_n / NN_h
    level = "n"              # n (normal) | h (hard); optional, as lecture
    file = "14_n.ipynb"      # optional: the file name students submit (default <id>.ipynb)
    device = "cpu"           # cpu | cuda
    datasets = ["cifar10"]

    [limits]                 # see ``Limits`` for what each one bounds
    cell_timeout_s = 300
    notebook_timeout_s = 900
    checks_timeout_s = 600
    memory_mb = 4096
    processes = 256
    file_size_mb = 512
    disk_mb = 1024
    inodes = 20000
    output_kb = 1024
    gpu_memory_mb = 0        # GPU memory budget per submission (scheduling)

    [grading]                # injected after the cell tagged `parameters`
    EPOCHS = 1

    [thresholds]
    accuracy = 0.55          # each in [0, 1]

    [points]                 # check name -> points; overrides @pytest.mark.points
    test_conv2d_deck_example = 2

    [penalties]
    misnamed = 0.0           # points taken off for a near-miss file name

    [validate]               # what `autograder validate` accepts of the blank release
    release = "zero"         # zero: every graded item scores 0 (default) | not_full:
                             # nbgrader's `validate --invert`: at least one item fails
    release_may_pass = ["test_imports", "cell:check_setup"]   # items allowed to score

    [hand_grading]
    # Manually graded cells (nbgrader ``grade: true, solution: true``) wait for a person
    # (``autograder review``) and score nothing until then. The grade ids listed here
    # get completion credit instead: full points for any answer that is not empty and
    # not the released placeholder (the course's 質問・感想 cell).
    completion = ["comments"]

    [cell_requires]
    # A test cell whose verdict rests on names the student can rebind in the kernel
    # (a read-only cell's class, a loader, the student's own evaluate) earns its points
    # only when these pytest checks, which compute the same with the grader's own data,
    # pass too (docs/security.md, "In-notebook test cells").
    "cell:test_model" = ["test_model_accuracy"]

    [labels]                 # what students read instead of a check's id
    test_conv2d_deck_example = { ja = "conv2d：講義の例", en = "conv2d: the lecture's example" }
    "cell:test_conv2d" = { ja = "テストセル：conv2d", en = "Test cell: conv2d" }

    [[questions]]            # feedback rows grouped by question, in this order
    title = { ja = "問 2：conv2d", en = "Q2: conv2d" }
    checks = ["test_conv2d_deck_example", "cell:test_conv2d"]

The Moodle file-name rule (``moodle/naming.py``): an id of the form ``NN_n``/``NN_h``
whose ``file`` is the default keeps the lecture/level rule (``14n.ipynb``, ``14-N.ipynb``
are near misses, ``13_n.ipynb`` is another assignment's); any other id or ``file`` is
matched by name (``PS1.ipynb``, ``ps1 (1).ipynb`` are near misses of ``ps1.ipynb``).

``[labels]`` and ``[[questions]]`` name graded items: a pytest check's name, or
``cell:<grade_id>`` (in-notebook test cell), ``manual:<grade_id>`` (a cell graded by a
person). Names are checked where the items are known: pytest names when the checks are
collected (``checks/runner.py``, like ``[points]``), cell names against the source
notebook at release (``source_check.py``). Why ``[[questions]]`` is an array of tables
and not derived from the notebook: see ``autograder/engine/labels.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import tomllib

from .assignment_ids import LEVELS, VALID_ID, check_file_name, check_id, lecture_level
from .errors import ConfigError
from .i18n import tr
from .paths import assignments_dir

Device = Literal["cpu", "cuda"]
Scalar = bool | int | float | str

_DEVICES = ("cpu", "cuda")
ReleaseRule = Literal["zero", "not_full"]
_RELEASE_RULES: tuple[ReleaseRule, ...] = ("zero", "not_full")


@dataclass(frozen=True)
class Limits:
    """What one submission may use (``[limits]`` in the manifest; docs/security.md says
    how each is enforced).

    - ``cell_timeout_s``: wall time of one code cell.
    - ``notebook_timeout_s``: wall time of the whole notebook's execution.
    - ``checks_timeout_s``: wall time of all the pytest checks of one submission
      together; each check's own limit is cut to what is left, the checks after it fail
      at once and the submission is marked ``timeout``.
    - ``memory_mb``: everything the kernel's processes hold in memory: anonymous memory,
      shared mappings, memfds and the files in its tmpfs folders (``/tmp``, ``/dev/shm``
      and, with a root grader, its writable folders too).
    - ``processes``: processes and threads of the kernel.
    - ``file_size_mb``: the largest file the kernel may write.
    - ``disk_mb``, ``inodes``: bytes and files (inodes) of everything the kernel can
      write (``/content``, ``/tmp``, ``/dev/shm``, its home, the exchange folder),
      together. The assignments' datasets are mounted read-only and do not count.
    - ``output_kb``: outputs kept in the graded notebook.
    - ``gpu_memory_mb``: GPU memory budget per submission (scheduling only).
    """

    cell_timeout_s: float = 300.0
    notebook_timeout_s: float = 1200.0
    checks_timeout_s: float = 600.0
    memory_mb: int = 4096
    processes: int = 256
    file_size_mb: int = 1024
    disk_mb: int = 1024
    inodes: int = 20000
    output_kb: int = 1024
    gpu_memory_mb: int = 0


@dataclass(frozen=True)
class ValidateOptions:
    """What ``validate`` accepts of the untouched release (``[validate]``).

    - ``release``: ``"zero"``: every graded item scores 0 on the release (default);
      ``"not_full"``: nbgrader's ``validate --invert``: the release must fail at least one
      item, so cells that pass on it by design are fine.
    - ``release_may_pass``: items (check names, ``cell:<grade_id>``) that may score on the
      release by design (an import check, a test of given code); still full on the source.
    """

    release: ReleaseRule = "zero"
    release_may_pass: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assignment:
    id: str
    root: Path
    title_ja: str
    title_en: str
    lecture: int | None = None   # None: an id that is not NN_n / NN_h and no key given
    level: str | None = None
    device: Device = "cpu"
    datasets: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    grading: Mapping[str, Scalar] = field(default_factory=lambda: MappingProxyType({}))
    thresholds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    points: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    misnamed_penalty: float = 0.0
    file: str = ""               # the file students submit; "" is <id>.ipynb
    validation: ValidateOptions = field(default_factory=ValidateOptions)
    completion_cells: tuple[str, ...] = ()   # [hand_grading] completion
    labels: Mapping[str, Wording] = field(default_factory=lambda: MappingProxyType({}))
    questions: tuple[Question, ...] = ()
    # [cell_requires]: "cell:<grade_id>" -> pytest checks its points also need
    cell_requires: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}))

    @property
    def source_notebook(self) -> Path:
        return self.root / f"{self.id}.ipynb"

    @property
    def submission_file(self) -> str:
        """The name students submit on Moodle (and the release's file name)."""
        return self.file or f"{self.id}.ipynb"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def manifest_path(self) -> Path:
        return self.root / "assignment.toml"

    def title(self, lang: str = "ja") -> str:
        return self.title_en if lang == "en" else self.title_ja


@dataclass(frozen=True)
class Wording:
    """A short text in Japanese and English (a label, a question's title)."""

    ja: str
    en: str

    def text(self, lang: str = "ja") -> str:
        return self.en if lang == "en" else self.ja


@dataclass(frozen=True)
class Question:
    """One question of the notebook: its title and the graded items that belong to it."""

    title: Wording
    checks: tuple[str, ...]


class _Reader:
    """Typed access to one TOML table that names file and key in every error."""

    def __init__(self, path: Path, table: str, data: Any):
        self.path, self.table = path, table
        if not isinstance(data, dict):
            self.fail("", ja=f"表(テーブル)でなければなりません({type(data).__name__})",
                      en=f"must be a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def fail(self, key: str, *, ja: str, en: str) -> NoReturn:
        name = f"[{self.table}] {key}".strip() if key else f"[{self.table}]"
        raise ConfigError(tr(ja=ja, en=en), where=f"{self.path}: {name}",
                          hint=tr(ja="マニフェストを直してください"
                                     "(書式: autograder/core/config.py)",
                                  en="fix the manifest (schema: autograder/core/config.py)"))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                self.fail(key, ja="必須ですがありません", en="is required but missing")
            return default
        value = self.data[key]
        # bool is an int in Python; a flag where a number is wanted is a typo, not a value.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            self.fail(key, ja=f"{_kind_name(kind, 'ja')}でなければなりません(真偽値です)",
                      en=f"must be {_kind_name(kind, 'en')}, got a boolean")
        if not isinstance(value, kind):
            self.fail(key, ja=f"{_kind_name(kind, 'ja')}でなければなりません"
                              f"({type(value).__name__} {value!r})",
                      en=f"must be {_kind_name(kind, 'en')}, got {type(value).__name__} {value!r}")
        return value

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            known = ", ".join(sorted(allowed))
            self.fail(extra[0], ja=f"知らないキーです(使えるキー: {known})",
                      en=f"is not a known key (known: {known})")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_KIND_NAMES: dict[type, tuple[str, str]] = {
    int: ("整数", "an integer"), float: ("数", "a number"), str: ("文字列", "a string"),
    list: ("リスト", "a list"), dict: ("表", "a table"), bool: ("true か false", "true or false")}


def _kind_name(kind: type | tuple[type, ...], lang: str) -> str:
    index = 1 if lang == "en" else 0
    names = [_KIND_NAMES[k][index] if k in _KIND_NAMES else k.__name__ for k in _as_tuple(kind)]
    return " or ".join(names) if lang == "en" else "か".join(names)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(tr(ja="マニフェストがありません", en="manifest not found"),
                          where=str(path),
                          hint=tr(ja="`autograder new ID` で作るか、課題 ID を確かめてください",
                                  en="create it with `autograder new ID` or check the"
                                     " assignment id")) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(tr(ja=f"TOML として正しくありません ({exc})",
                             en=f"not valid TOML ({exc})"), where=str(path)) from None


def _limits(path: Path, raw: Any) -> Limits:
    r = _Reader(path, "limits", raw)
    r.unknown(set(Limits.__dataclass_fields__))
    values: dict[str, Any] = {}
    for name, spec in Limits.__dataclass_fields__.items():
        kind = (int, float) if spec.type in ("float",) else int
        value = r.get(name, kind, spec.default)
        if (value <= 0 and name != "gpu_memory_mb") or value < 0:
            r.fail(name, ja=f"正の数でなければなりません({value!r})",
                   en=f"must be positive, got {value!r}")
        values[name] = value
    return Limits(**values)


def _scalars(r: _Reader) -> dict[str, Scalar]:
    for key, value in r.data.items():
        if not isinstance(value, (bool, int, float, str)):
            r.fail(key, ja="数・文字列・真偽値のどれかでなければなりません"
                           f"({type(value).__name__})",
                   en=f"must be a number, string or boolean, got {type(value).__name__}")
    return dict(r.data)


def _thresholds(path: Path, raw: Any) -> dict[str, float]:
    r = _Reader(path, "thresholds", raw)
    out: dict[str, float] = {}
    for key in r.data:
        value = r.get(key, (int, float))
        if not 0.0 <= float(value) <= 1.0:
            r.fail(key, ja=f"[0, 1] の範囲でなければなりません({value!r})",
                   en=f"must be within [0, 1], got {value!r}")
        out[key] = float(value)
    return out


def _points(path: Path, raw: Any) -> dict[str, float]:
    r = _Reader(path, "points", raw)
    out = {key: float(r.get(key, (int, float))) for key in r.data}
    for key, value in out.items():
        if value < 0:
            r.fail(key, ja=f"負の数は使えません({value!r})",
                   en=f"must not be negative, got {value!r}")
    return out


def _string_list(r: _Reader, key: str) -> tuple[str, ...]:
    values = r.get(key, list, [])
    if not all(isinstance(v, str) for v in values):
        r.fail(key, ja="文字列のリストでなければなりません", en="must be a list of strings")
    return tuple(values)


MAX_WORDING = 200  # characters of one label or question title (one table cell)


def _wording(path: Path, table: str, raw: Any) -> Wording:
    """``{ ja = "...", en = "..." }``: one line each; either may be left out (the other
    is shown), not both."""
    r = _Reader(path, table, raw)
    r.unknown({"ja", "en"})
    texts = {lang: r.get(lang, str, "") for lang in ("ja", "en")}
    for lang, text in texts.items():
        if "\n" in text or len(text) > MAX_WORDING:
            r.fail(lang, ja=f"{MAX_WORDING} 文字以内の 1 行にしてください",
                   en=f"must be one line of at most {MAX_WORDING} characters")
    if not any(t.strip() for t in texts.values()):
        r.fail("", ja="ja か en の文を書いてください(両方あると両方の言語で表示されます)",
               en="needs ja or en text (both for a bilingual course)")
    ja, en = texts["ja"].strip(), texts["en"].strip()
    return Wording(ja=ja or en, en=en or ja)


def _labels(path: Path, raw: Any) -> dict[str, Wording]:
    r = _Reader(path, "labels", raw)
    return {key: _wording(path, f"labels.{key}", r.get(key, dict)) for key in r.data}


def _questions(path: Path, raw: Any) -> tuple[Question, ...]:
    if not isinstance(raw, list):
        raise ConfigError(tr(ja=f"テーブルの配列 ([[questions]]) にしてください"
                             f"({type(raw).__name__} でした)",
                             en=f"must be an array of tables ([[questions]]), got "
                                f"{type(raw).__name__}"), where=f"{path}: [[questions]]",
                          hint=tr(ja="問ごとに [[questions]] を 1 つ書いてください",
                                  en="write one [[questions]] block per question"))
    seen: dict[str, int] = {}
    out = []
    for number, entry in enumerate(raw, start=1):
        r = _Reader(path, f"questions #{number}", entry)
        r.unknown({"title", "checks"})
        checks = r.get("checks", list)
        if not checks or not all(isinstance(c, str) and c for c in checks):
            r.fail("checks", ja="チェック名の空でないリストにしてください",
                   en="must be a non-empty list of check names")
        for name in checks:
            if name in seen:
                r.fail("checks", ja=f"{name!r} はもう問 #{seen[name]} にあります",
                       en=f"{name!r} is already in question #{seen[name]}")
            seen[name] = number
        out.append(Question(_wording(path, f"questions #{number}.title", r.get("title", dict)),
                            tuple(checks)))
    return tuple(out)


def _header(path: Path, raw: Any, folder_id: str) -> dict[str, Any]:
    r = _Reader(path, "assignment", raw)
    r.unknown({"id", "title", "lecture", "level", "file", "device", "datasets"})
    ident = check_id(r.get("id", str), where=f"{path}: [assignment] id")
    if ident != folder_id:
        r.fail("id", ja=f"{ident!r} ですがフォルダ名は {folder_id!r} です。同じにしてください",
               en=f"is {ident!r} but the folder is {folder_id!r}; they must match")
    title = _Reader(path, "assignment.title", r.get("title", dict))
    device = r.get("device", str, "cpu")
    if device not in _DEVICES:
        r.fail("device", ja=f"{', '.join(_DEVICES)} のどれかです({device!r})",
               en=f"must be one of {', '.join(_DEVICES)}, got {device!r}")
    file = r.get("file", str, "")
    if file:
        check_file_name(file, where=f"{path}: [assignment] file")
    return {"id": ident, "title_ja": title.get("ja", str), "title_en": title.get("en", str),
            **_lecture_level(r, ident), "file": file, "device": device,
            "datasets": _string_list(r, "datasets")}


def _lecture_level(r: _Reader, ident: str) -> dict[str, Any]:
    """``lecture`` and ``level`` as given, else as an ``NN_n``/``NN_h`` id says; both
    stay ``None`` for another id (``ps1``) without them."""
    lecture, level = lecture_level(ident) or (None, None)
    lecture = r.get("lecture", int, lecture)
    if lecture is not None and not 1 <= lecture <= 99:
        r.fail("lecture", ja=f"1 から 99 までです({lecture!r})",
               en=f"must be between 1 and 99, got {lecture!r}")
    level = r.get("level", str, level)
    if level is not None and level not in LEVELS:
        r.fail("level", ja=f"'n'(ノーマル)か 'h'(ハード)です({level!r})",
               en=f"must be 'n' (normal) or 'h' (hard), got {level!r}")
    return {"lecture": lecture, "level": level}


def _validation(path: Path, raw: Any) -> ValidateOptions:
    r = _Reader(path, "validate", raw)
    r.unknown({"release", "release_may_pass"})
    rule = r.get("release", str, "zero")
    if rule not in _RELEASE_RULES:
        r.fail("release", ja=f"{' か '.join(_RELEASE_RULES)} です({rule!r})",
               en=f"must be one of {', '.join(_RELEASE_RULES)}, got {rule!r}")
    return ValidateOptions(release=rule, release_may_pass=_string_list(r, "release_may_pass"))


def _cell_requires(path: Path, raw: Any) -> dict[str, tuple[str, ...]]:
    """``"cell:<grade_id>" = ["test_a", ...]``: names are checked where the items are
    known (``core/item_names.py``), like ``[labels]``."""
    r = _Reader(path, "cell_requires", raw)
    out: dict[str, tuple[str, ...]] = {}
    for key in r.data:
        if not key.startswith("cell:"):
            r.fail(key, ja="キーはテストセルの名前 cell:<grade_id> にしてください",
                   en="keys must name a test cell, cell:<grade_id>")
        checks = _string_list(r, key)
        if not checks or any(not c or c.startswith(("cell:", "manual:")) for c in checks):
            r.fail(key, ja="pytest のチェック名の空でないリストにしてください",
                   en="must be a non-empty list of pytest check names")
        out[key] = checks
    return out


def _completion(path: Path, raw: Any) -> tuple[str, ...]:
    r = _Reader(path, "hand_grading", raw)
    r.unknown({"completion"})
    return _string_list(r, "completion")


_TABLES = {"assignment", "limits", "grading", "thresholds", "points", "penalties", "validate",
           "hand_grading", "labels", "questions", "cell_requires"}


def parse_manifest(path: Path, data: dict[str, Any]) -> Assignment:
    """Validate a manifest already read from TOML (``path`` is for messages)."""
    top = _Reader(path, "manifest", data)
    top.unknown(_TABLES)
    header = _header(path, top.get("assignment", dict), path.parent.name)
    penalties = _Reader(path, "penalties", top.get("penalties", dict, {}))
    penalties.unknown({"misnamed"})
    misnamed = float(penalties.get("misnamed", (int, float), 0.0))
    if misnamed < 0:
        penalties.fail("misnamed", ja=f"負の数は使えません({misnamed!r})",
                       en=f"must not be negative, got {misnamed!r}")
    return Assignment(
        root=path.parent,
        limits=_limits(path, top.get("limits", dict, {})),
        grading=MappingProxyType(_scalars(_Reader(path, "grading", top.get("grading", dict, {})))),
        thresholds=MappingProxyType(_thresholds(path, top.get("thresholds", dict, {}))),
        points=MappingProxyType(_points(path, top.get("points", dict, {}))),
        misnamed_penalty=misnamed,
        validation=_validation(path, top.get("validate", dict, {})),
        completion_cells=_completion(path, top.get("hand_grading", dict, {})),
        labels=MappingProxyType(_labels(path, top.get("labels", dict, {}))),
        questions=_questions(path, top.data.get("questions", [])),
        cell_requires=MappingProxyType(
            _cell_requires(path, top.get("cell_requires", dict, {}))),
        **header,
    )


def load_manifest(path: Path) -> Assignment:
    return parse_manifest(path, _read_toml(path))


def load_assignment(assignment_id: str, root: Path | None = None) -> Assignment:
    """Load ``<root>/<assignment_id>/assignment.toml`` (root: the assignments folder)."""
    base = root or assignments_dir()
    folder = base / assignment_id
    # an id is a plain name: never a path that leads out of the assignments folder
    if not VALID_ID.fullmatch(assignment_id) or not folder.is_dir():
        known = sorted(p.name for p in base.iterdir() if (p / "assignment.toml").is_file()) \
            if base.is_dir() else []
        raise ConfigError(tr(ja=f"課題 {assignment_id!r} がありません",
                             en=f"no assignment {assignment_id!r}"), where=str(base),
                          hint=tr(ja=f"ある課題: {', '.join(known) or 'なし'}"
                                     "(--assignments で課題フォルダを指定できます)",
                                  en=f"known assignments: {', '.join(known) or 'none'}"
                                     " (--assignments names the assignments folder)"))
    return load_manifest(folder / "assignment.toml")
