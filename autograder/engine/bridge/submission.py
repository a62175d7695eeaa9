"""Grader-side half of the bridge: plain data across the kernel boundary.

Checks reach a submission only through ``Submission`` (the ``submission`` fixture). Each
call becomes one request run in the kernel as
``__import__('ag_bridge').serve({...})`` (the request is a Python literal built here from
grader data); the kernel-side half (``sandbox_files/ag_bridge.py``) writes its answer to
the exchange directory as JSON plus ``.npy`` files. The answer is read with ``json`` and
``numpy.lib.format`` (``allow_pickle=False``) and validated node by node against the wire
grammar documented in ``ag_bridge`` (types, nesting depth, element count, bytes, dtypes,
shapes, file names). Arrays arrive as ``torch.Tensor``; anything else the kernel kept
comes back as a ``Remote`` handle that can only be passed back. Nothing is unpickled or
evaluated, and a request id unknown to the kernel ties each answer to its request, so a
notebook that tampered with its kernel gets a ``BridgeError``, never a passing value.

Trained models: forward calls through the kernel, not ``torch.export``.
``torch.export.load`` in torch 2.14 (``torch/export/pt2_archive/_package.py``) reads
per-weight payload configs from the archive and, where the archive says ``use_pickle``,
calls ``torch.load(..., weights_only=False)`` (weights and tensor constants) or
``pickle.loads`` (opaque constants); the legacy path in ``_export/serde/serialize.py``
falls back to ``weights_only=False`` as well. The archive would be written by the
student's kernel, so loading it could run student code in the grader. Instead
``RemoteModel.forward`` sends input batches as ``.npy`` to the kernel, which runs
``model(batch)`` in eval mode under ``torch.no_grad()`` on the model's own device and
writes the outputs back as ``.npy``; checks compute accuracy from those outputs.
``RemoteModel.state_dict()`` brings the weights back as plain tensors, so a check may load
them into a grader-side module of the reference architecture (``load_into``) and evaluate
it on the grader's GPU.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ...core.config import Assignment, Scalar
from ...core.errors import AutograderError, BridgeError
from ...core.i18n import Lang, tr
from ..kernel.api import CodeResult, KernelLike
from .notebook_source import NotebookSource

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger(__name__)

ALLOWED_DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64",
                            "float16", "float32", "float64"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class BridgeLimits:
    """Bounds on one answer from the kernel (and on batches sent to it)."""

    max_answer_bytes: int = 16 << 20   # the JSON file
    max_bytes: int = 512 << 20         # arrays + strings in one answer
    max_depth: int = 32
    max_nodes: int = 200_000
    inline: int = 64                   # arrays up to this many elements travel inside JSON
    max_batch_bytes: int = 32 << 20    # model inputs sent per forward request

    def for_kernel(self) -> dict[str, int]:
        return {"max_bytes": self.max_bytes, "max_depth": self.max_depth,
                "max_nodes": self.max_nodes, "inline": self.inline}


def clip(text: str, limit: int = 300) -> str:
    """Untrusted text made safe to show: no control characters, bounded length."""
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text.replace("\n", " ").strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _builtin_names(kind: type) -> frozenset[str]:
    import builtins

    return frozenset(n for n, v in vars(builtins).items()
                     if isinstance(v, type) and issubclass(v, kind))


# Names the kernel may report that carry nothing of the student's choosing: an exception
# or type name outside these shows as a generic word (a student-made class name could
# spell out a hidden input the student's code captured).
_BUILTIN_ERRORS = _builtin_names(BaseException)
_KNOWN_TYPES = _builtin_names(object) | frozenset({
    "Tensor", "Parameter", "ndarray", "Module", "Sequential", "ModuleList", "ModuleDict",
    "DataLoader", "Dataset", "Subset", "TensorDataset", "Figure", "Axes", "OrderedDict",
    "defaultdict", "Counter", "deque", "function", "method", "builtin_function_or_method",
    "generator", "NoneType", "module", "dtype", "device", "Size", "Generator",
    "Compose", "ToTensor", "Normalize", "RandomHorizontalFlip", "RandomCrop"})


def error_name(name: str) -> str:
    """A built-in exception name as reported by the kernel, or ``Exception``."""
    return name if name in _BUILTIN_ERRORS else "Exception"


def type_label(name: str) -> str:
    """A type name as reported by the kernel when it is a well-known one, else ``object``."""
    return name if name in _KNOWN_TYPES else "object"


# ---------------------------------------------------------------- errors

class StudentError(AutograderError):
    """Student code raised (or the notebook lacks what a check needs): a failed check."""

    context = "function"

    def __init__(self, *, what: str, error_name: str = "", error_message: str = "",
                 context: str | None = None):
        self.what = clip(what, 120)
        # Only the built-in exception type reaches the student: the text of an exception
        # raised by student code during a grader call could carry the grader's inputs.
        self.error_name = clip(error_name, 120)
        self.error_message = clip(error_message)
        self.context = context or self.context
        super().__init__(self.student_message("en"), where=self.what)

    def detail(self) -> str:
        return error_name(self.error_name)

    def student_message(self, lang: Lang | None = None) -> str:
        what, detail = self.what, self.detail()
        texts = {
            "function": (f"関数 {what} の実行中にエラー: {detail}",
                         f"error while running function {what}: {detail}"),
            "value": (f"{what} の取得中にエラー: {detail}",
                      f"error while reading {what}: {detail}"),
            "expression": (f"式 {what} の評価中にエラー: {detail}",
                           f"error while evaluating {what}: {detail}"),
            "model": (f"モデル {what} の実行中にエラー: {detail}",
                      f"error while running model {what}: {detail}"),
        }
        ja, en = texts.get(self.context, texts["function"])
        return tr(lang, ja=ja, en=en)


class MissingName(StudentError):
    """The notebook does not define a name a check needs."""

    def student_message(self, lang: Lang | None = None) -> str:
        return tr(lang, ja=f"`{self.what}` が定義されていません",
                  en=f"`{self.what}` is not defined")


class NotCallable(StudentError):
    def student_message(self, lang: Lang | None = None) -> str:
        kind = type_label(self.error_name)
        return tr(lang, ja=f"`{self.what}` は関数ではありません (型: {kind})",
                  en=f"`{self.what}` is not a function (type: {kind})")


class NotAModel(StudentError):
    def student_message(self, lang: Lang | None = None) -> str:
        kind = type_label(self.error_name)
        return tr(lang, ja=f"`{self.what}` は torch.nn.Module ではありません (型: {kind})",
                  en=f"`{self.what}` is not a torch.nn.Module (type: {kind})")


class ModelOutputError(StudentError):
    """The model's output is not one tensor with a row per input."""

    def __init__(self, *, what: str, got: str, batch: int | None = None):
        self.got, self.batch = clip(got, 120), batch
        super().__init__(what=what, context="model")

    def student_message(self, lang: Lang | None = None) -> str:
        if self.batch is None:
            return tr(lang, ja=f"モデル {self.what} の出力がテンソルではありません ({self.got})",
                      en=f"the output of model {self.what} is not a tensor ({self.got})")
        return tr(lang, ja=f"モデル {self.what} に {self.batch} 件の入力を与えると出力が "
                           f"{self.got} になりました (1 件につき 1 行のテンソルが必要です)",
                  en=f"model {self.what} returned {self.got} for a batch of {self.batch} "
                     f"(one row per input is needed)")


class _StudentFacing(BridgeError):
    """A bridge failure with a message meant for the student's feedback."""

    ja = en = ""

    def __init__(self, message: str, *, what: str = "", type_name: str = "",
                 hint: str | None = None):
        self.what, self.type_name = clip(what, 120), clip(type_name, 120)
        super().__init__(message, where=self.what or None, hint=hint)

    def student_message(self, lang: Lang | None = None) -> str:
        fields = {"what": self.what, "type": type_label(self.type_name)}
        return tr(lang, ja=self.ja.format(**fields), en=self.en.format(**fields))


class NotPlainData(_StudentFacing):
    ja = ("{what} の値 (型: {type}) は採点に使える形式 "
          "(数値・文字列・リスト・タプル・辞書・テンソル) ではありません")
    en = ("the value of {what} (type: {type}) is not plain data "
          "(numbers, strings, lists, tuples, dicts, tensors)")


class ValueTooLarge(_StudentFacing):
    ja = "{what} の値が大きすぎて受け取れません"
    en = "the value of {what} is too large to receive"


class SourceUnavailable(_StudentFacing):
    ja = "{what} のソースコードを取得できませんでした"
    en = "the source code of {what} is not available"


class BridgeTimeout(_StudentFacing):
    ja = "{what} が時間内に終わりませんでした"
    en = "{what} did not finish in time"


class KernelDead(_StudentFacing):
    ja = "カーネルが停止しているため実行できませんでした"
    en = "the kernel is no longer running"


# ---------------------------------------------------------------- handles and proxies

class Remote:
    """An object kept in the kernel. It can be passed back, called, or asked for an
    attribute; it is equal only to itself and refuses truth tests and iteration, so a
    student object can never stand in for a value a check compares."""

    __slots__ = ("__weakref__", "_owner", "id", "type_name", "what")

    def __init__(self, owner: Submission, ident: int, type_name: str, what: str):
        self._owner, self.id, self.type_name, self.what = owner, ident, type_name, what

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._owner._call({"remote": self.id}, args, kwargs, what=self.what)

    def attr(self, name: str) -> Any:
        """``getattr(obj, name)`` in the kernel: plain data or another ``Remote``."""
        return self._owner._attr(self, name)

    def item(self, key: Any) -> Any:
        """``obj[key]`` in the kernel: plain data or another ``Remote``."""
        return self._owner._item(self, key)

    def length(self) -> int:
        """``len(obj)`` as the kernel reports it (an exact, non-negative int)."""
        return self._owner._len(self)

    def items(self) -> Iterator[Any]:
        """Iterate the object in the kernel (``Remote`` itself refuses ``iter``, so that
        it cannot pose as a sequence in a comparison)."""
        return self._owner._iter(self)

    def _refuse(self) -> NotPlainData:
        return NotPlainData("not plain data", what=self.what, type_name=self.type_name)

    def __bool__(self) -> bool:
        raise self._refuse()

    def __iter__(self) -> Iterator[Any]:
        raise self._refuse()

    def __repr__(self) -> str:
        return f"<Remote {self.type_name} #{self.id} from {self.what}>"

    def __del__(self) -> None:
        owner = getattr(self, "_owner", None)
        if owner is not None:
            owner._released.append(self.id)


class RemoteFunction:
    """A callable proxy for a name in the student's namespace (looked up at each call)."""

    def __init__(self, owner: Submission, name: str):
        self._owner, self.name = owner, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._owner._call({"name": self.name}, args, kwargs, what=self.name)

    def __repr__(self) -> str:
        return f"<RemoteFunction {self.name}>"


@dataclass(frozen=True)
class KernelFunction:
    """Instructor-written code to be defined in the kernel and passed to a student
    function (a test cell's ``lambda v: (v ** 2).sum()``). ``env`` binds the names its
    text uses that the grader holds (plain data, ``Remote`` handles, modules, other
    ``KernelFunction``s); other names resolve in the student's namespace."""

    kind: str                           # "lambda" (an expression) or "def" (a statement)
    name: str                           # the def's name ("" for a lambda)
    source: str
    env: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class KernelModule:
    """A module passed by name (``torch``, ``torch.nn.functional``): imported in the kernel."""

    name: str


class ModuleInfo(NamedTuple):
    name: str        # qualified name, '' for the model itself
    type_name: str
    extra_repr: str


class RemoteModel:
    """A trained ``torch.nn.Module`` that stays in the kernel (see the module docstring)."""

    def __init__(self, owner: Submission, handle: Remote, *, name: str, num_parameters: int,
                 modules: tuple[ModuleInfo, ...], output_shape: tuple[int, ...]):
        self._owner, self._handle, self.name = owner, handle, name
        self.num_parameters = num_parameters
        self.modules = modules
        self.output_shape = output_shape

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Outputs of ``model(batch)`` in eval mode, computed in the kernel in chunks."""
        import torch

        if not isinstance(batch, torch.Tensor) or batch.dim() == 0:
            raise TypeError("RemoteModel.forward needs a tensor with a batch dimension")
        per_item = max(1, batch[:1].numel() * batch.element_size())
        step = max(1, self._owner.limits.max_batch_bytes // per_item)
        outputs = [self._owner._forward(self, batch[i:i + step])
                   for i in range(0, len(batch), step)]
        return torch.cat(outputs) if outputs else torch.empty((0, *self.output_shape[1:]))

    __call__ = forward

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The model's parameters and buffers as plain tensors."""
        return self._owner._state_dict(self)

    def load_into(self, module: torch.nn.Module) -> torch.nn.Module:
        """Load the student's weights into a grader-side module (strict key match)."""
        module.load_state_dict(self.state_dict())
        return module

    @property
    def handle_id(self) -> int:
        return self._handle.id

    def __repr__(self) -> str:
        return f"<RemoteModel {self.name}: {self.num_parameters} parameters>"


# ---------------------------------------------------------------- the fixture object

class Submission:
    """The ``submission`` fixture: the student's work, reached through the kernel."""

    def __init__(self, kernel: KernelLike, *, assignment: Assignment | None = None,
                 params: Mapping[str, Scalar] | None = None, data_dir: Path | None = None,
                 lang: Lang | None = None, call_timeout: float = 120.0,
                 limits: BridgeLimits | None = None, notebook: NotebookSource | None = None):
        from ...core.paths import data_dir as default_data_dir

        self.kernel = kernel
        self.notebook = notebook
        self.assignment = assignment
        self.params: Mapping[str, Scalar] = dict(params or {})
        self.data_dir = data_dir or default_data_dir()
        self.lang = lang
        self.call_timeout = call_timeout
        self.limits = limits or BridgeLimits()
        self._deadline: float | None = None
        self._broken: BridgeError | None = None
        self._released: list[int] = []
        self._touched: dict[str, list[str]] = {}
        # numpy arrays arrive as tensors (what checks compare), or as numpy arrays while
        # ``native()`` is on (test cells: a value the student's code made goes back to it
        # as the same kind)
        self.native_arrays = False
        self._missing: dict[str, None] = {}

    # -- public API (docs/architecture.md) --------------------------------

    @property
    def missing_names(self) -> tuple[str, ...]:
        """Names reported undefined so far, in order (the feedback explains them:
        ``explain.py``; the kernel's word, so never used for a point)."""
        return tuple(self._missing)

    def has(self, name: str) -> bool:
        return bool(self._probe(name)["defined"])

    def value(self, name: str, *, remote_ok: bool = False) -> Any:
        return self._send("value", {"name": _checked_name(name), "remote_ok": remote_ok},
                          what=name, context="value", then=self._decoder(name, remote_ok))

    def function(self, name: str) -> RemoteFunction:
        probe = self._probe(name)
        if not probe["defined"]:
            self._missing[clip(name, 120)] = None
            raise MissingName(what=name)
        if not probe["callable"]:
            raise NotCallable(what=name, error_name=probe["type"])
        return RemoteFunction(self, name)

    def source(self, name: str) -> str:
        """Text of ``name``'s definition, read from the submitted notebook (never from the
        kernel; see ``notebook_source``). ``SourceUnavailable`` when it has none."""
        found = self.notebook.definition(_checked_name(name)) if self.notebook else None
        if found is None:
            raise SourceUnavailable("no definition in the notebook's text", what=name)
        return found

    def evaluate(self, expr: str, *, remote_ok: bool = False, what: str | None = None) -> Any:
        """``expr`` evaluated in the kernel. Messages name ``what`` (default: a generic
        label), never the expression: it is the check's own text."""
        label = what or tr(self.lang, ja="確認用の式", en="a check expression")
        return self._send("evaluate", {"expr": expr, "remote_ok": remote_ok},
                          what=label, context="expression",
                          then=self._decoder(label, remote_ok))

    def model(self, name: str | Remote, example_input: Any) -> RemoteModel:
        """Put the model in eval mode, run it once on ``example_input``, keep a handle."""
        target, what = self._target_of(name)
        rid, fields = self._prepare(lambda out: {"target": target,
                                                 "example": out.enc(example_input)})
        rows = _rows(example_input)
        return self._send("model", fields, what=what, context="model", rid=rid,
                          then=lambda raw, rid: self._model_from(raw, rid=rid, what=what,
                                                                 rows=rows))

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Cap every kernel request inside the block so that all of them end in time."""
        previous, self._deadline = self._deadline, time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = previous

    @contextmanager
    def native(self) -> Iterator[None]:
        """Inside: numpy arrays from the kernel stay numpy arrays (see ``native_arrays``)."""
        previous, self.native_arrays = self.native_arrays, True
        try:
            yield
        finally:
            self.native_arrays = previous

    def release(self, remote: Remote) -> None:
        """Let the kernel forget a handle (also happens when the ``Remote`` is collected)."""
        self._released.append(remote.id)

    @property
    def alive(self) -> bool:
        return self._broken is None

    # -- requests ---------------------------------------------------------

    def _probe(self, name: str) -> dict[str, Any]:
        raw = self._send("probe", {"name": _checked_name(name)}, what=name, context="value")
        if not (isinstance(raw, dict) and set(raw) == {"defined", "callable", "type"}
                and type(raw["defined"]) is bool and type(raw["callable"]) is bool
                and isinstance(raw["type"], str)):
            raise BridgeError("malformed probe answer from the kernel", where=name)
        return raw

    def _target_of(self, name: str | Remote) -> tuple[dict[str, Any], str]:
        if isinstance(name, Remote):
            self._own(name)
            return {"remote": name.id}, name.what
        return {"name": _checked_name(name)}, name

    def _own(self, remote: Remote) -> None:
        if remote._owner is not self:
            raise BridgeError("a Remote handle was used with another submission",
                              where=remote.what, hint="handles belong to one kernel")

    def _prepare(self, build: Callable[[_Outgoing], dict[str, Any]]
                 ) -> tuple[str, dict[str, Any]]:
        """A request id and the request's fields, whose arrays may go to files."""
        rid = "r" + secrets.token_hex(12)
        try:
            return rid, build(_Outgoing(self, rid))
        except BaseException:
            self._cleanup(rid)
            raise

    def _call(self, target: dict[str, Any], args: Sequence[Any], kwargs: Mapping[str, Any],
              *, what: str) -> Any:
        rid, fields = self._prepare(lambda out: {
            "target": target, "args": out.enc(list(args)),
            "kwargs": [[str(k), out.enc(v)] for k, v in kwargs.items()]})
        return self._send("call", fields, what=what, context="function", rid=rid,
                          then=self._decoder(f"{what}(…)", True))

    def _attr(self, remote: Remote, name: str) -> Any:
        self._own(remote)
        if not _NAME.fullmatch(name) or "." in name:
            raise ValueError(f"not an attribute name: {name!r}")
        what = f"{remote.what}.{name}"
        return self._send("attr", {"target": {"remote": remote.id}, "name": name},
                          what=what, context="value", then=self._decoder(what, True))

    def _item(self, remote: Remote, key: Any) -> Any:
        """``obj[key]`` in the kernel (``key`` is plain data): plain data or a ``Remote``."""
        self._own(remote)
        what = f"{remote.what}[…]"
        rid, fields = self._prepare(lambda out: {"target": {"remote": remote.id},
                                                 "key": out.enc(key)})
        return self._send("item", fields, what=what, context="value", rid=rid,
                          then=self._decoder(what, True))

    def _iter(self, remote: Remote) -> Iterator[Any]:
        """Iterate a kernel object; every item is plain data or a ``Remote``."""
        self._own(remote)
        iterator = self._send("iter", {"target": {"remote": remote.id}}, what=remote.what,
                              context="value", then=self._decoder(remote.what, True))
        if not isinstance(iterator, Remote):
            raise BridgeError("iter() answer is not a handle", where=remote.what)
        while True:
            step = self._send("next", {"target": {"remote": iterator.id}},
                              what=remote.what, context="value",
                              then=self._decoder(remote.what, True))
            if not (isinstance(step, list) and len(step) == 2 and type(step[0]) is bool):
                raise BridgeError("malformed next() answer", where=remote.what)
            if not step[0]:
                return
            yield step[1]

    def _len(self, remote: Remote) -> int:
        self._own(remote)
        size = self._send("len", {"target": {"remote": remote.id}}, what=remote.what,
                          context="value")
        if type(size) is not int or size < 0:
            raise BridgeError("len() answer is not a non-negative int", where=remote.what)
        return size

    def _forward(self, model: RemoteModel, chunk: torch.Tensor) -> torch.Tensor:
        import torch

        rid, fields = self._prepare(lambda out: {"handle": model.handle_id,
                                                 "input": out.enc(chunk)})
        result = self._send("forward", fields, what=model.name, context="model", rid=rid,
                            then=self._decoder(model.name, False))
        if not isinstance(result, torch.Tensor):
            raise ModelOutputError(what=model.name, got=type(result).__name__)
        if result.dim() == 0 or result.shape[0] != chunk.shape[0]:
            raise ModelOutputError(what=model.name, got=f"shape {tuple(result.shape)}",
                                   batch=len(chunk))
        return result

    def _state_dict(self, model: RemoteModel) -> dict[str, torch.Tensor]:
        import torch

        result = self._send("state_dict", {"handle": model.handle_id}, what=model.name,
                            context="model", then=self._decoder(model.name, False))
        if not (isinstance(result, dict) and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in result.items())):
            raise BridgeError("state_dict is not a dict of tensors", where=model.name)
        return result

    def _model_from(self, raw: Any, *, rid: str, what: str, rows: int | None) -> RemoteModel:
        import torch

        if not (isinstance(raw, dict) and set(raw) == {"handle", "num_parameters", "modules",
                                                       "output"}
                and type(raw["handle"]) is int):
            raise BridgeError("malformed model answer from the kernel", where=what)
        handle = Remote(self, raw["handle"], "Module", what)
        count = _Incoming(self, rid, what, False).value(raw["num_parameters"], 0)
        output = _Incoming(self, rid, what, False).value(raw["output"], 0)
        if type(count) is not int or count < 0:
            raise BridgeError("parameter count is not a non-negative int", where=what)
        if not isinstance(output, torch.Tensor):
            raise ModelOutputError(what=what, got=type(output).__name__)
        if rows is not None and (output.dim() == 0 or output.shape[0] != rows):
            raise ModelOutputError(what=what, got=f"shape {tuple(output.shape)}", batch=rows)
        return RemoteModel(self, handle, name=what, num_parameters=count,
                           modules=_module_infos(raw["modules"], what),
                           output_shape=tuple(output.shape))

    def _decoder(self, what: str, remote_ok: bool) -> Callable[[Any, str], Any]:
        return lambda raw, rid: _Incoming(self, rid, what, remote_ok).value(raw, 0)

    def _send(self, op: str, fields: dict[str, Any], *, what: str, context: str,
              rid: str | None = None, then: Callable[[Any, str], Any] | None = None) -> Any:
        """Run one request in the kernel; return its raw value, or ``then(raw, rid)``
        (which may read the answer's array files before they are removed)."""
        rid = rid or "r" + secrets.token_hex(12)
        try:
            if self._broken is not None:
                raise self._broken
            released, self._released = self._released, []
            request = {"v": 1, "rid": rid, "op": op, "dir": self.kernel.kernel_exchange_dir,
                       "limits": self.limits.for_kernel(), "release": released, **fields}
            result = self._run(request, what=what)
            answer = self._read_answer(rid, result, what=what)
            raw = _raise_for(answer, what=what, context=context)
            return then(raw, rid) if then else raw
        except MissingName as exc:
            self._missing[exc.what] = None
            raise
        finally:
            self._cleanup(rid)

    def _run(self, request: dict[str, Any], *, what: str) -> CodeResult:
        timeout = self._timeout(what)
        try:
            result = self._deliver(request, timeout)
        except Exception as exc:
            # e.g. a kernel whose messages no longer parse (the notebook broke ``json``)
            self._broken = KernelDead(f"the kernel connection failed ({type(exc).__name__})",
                                      what=what)
            raise self._broken from exc
        except BaseException:
            # Interrupted mid-request (e.g. the check's hard time limit): the kernel may
            # still be running it, so later answers could not be trusted to be in order.
            self._broken = KernelDead("kernel state unknown after an interrupted request",
                                      what=what)
            raise
        if result.kernel_died:
            self._broken = KernelDead("the kernel died", what=what)
            raise self._broken
        if result.timed_out:
            raise BridgeTimeout(f"no answer within {timeout:.0f} s", what=what)
        return result

    def _deliver(self, request: dict[str, Any], timeout: float) -> CodeResult:
        """Over the kernel's bridge channel where it has one (``bridge_channel``), else as
        code run in a cell: ``ag_bridge.serve`` runs the same either way."""
        serve = getattr(self.kernel, "serve_bridge", None)
        result = serve(request, timeout=timeout) if serve is not None else None
        if result is not None:
            return result
        code = f"__import__('ag_bridge').serve({_literal(request)})"
        return self.kernel.run_code(code, timeout=timeout)

    def _timeout(self, what: str) -> float:
        if self._deadline is None:
            return self.call_timeout
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BridgeTimeout("the check's time limit is used up", what=what)
        return min(self.call_timeout, left)

    def _read_answer(self, rid: str, result: CodeResult, *, what: str) -> dict[str, Any]:
        if not result.ok:
            log.warning("bridge request for %s failed in the kernel: %s: %s", what,
                        clip(result.error_name), clip(result.error_value))
            raise BridgeError("the kernel-side bridge failed", where=what,
                              hint="the notebook may have replaced or broken the kernel-side "
                                   "bridge (or its disk quota is full)")
        path = Path(self.kernel.exchange_dir) / f"{rid}.json"
        data = read_regular_file(path, self.limits.max_answer_bytes)
        try:
            answer = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_pairs)
        except (ValueError, RecursionError):
            raise BridgeError("the kernel's answer is not valid JSON", where=what) from None
        if not (isinstance(answer, dict) and answer.get("v") == 1 and answer.get("rid") == rid
                and type(answer.get("ok")) is bool):
            raise BridgeError("the kernel's answer does not match the request", where=what)
        return answer

    def _touch(self, rid: str, name: str) -> None:
        """Remember a file of request ``rid`` in the exchange folder, to remove it after."""
        self._touched.setdefault(rid, []).append(name)

    def _cleanup(self, rid: str) -> None:
        """Remove this request's files by name: never list the folder, which the kernel
        may have filled with any number of files."""
        folder = Path(self.kernel.exchange_dir)
        for name in [f"{rid}.json", *self._touched.pop(rid, [])]:
            with suppress(OSError):
                os.unlink(folder / name)


def _rows(batch: Any) -> int | None:
    """Batch size of a tensor/array input (``None`` for other inputs)."""
    shape = getattr(batch, "shape", None)
    return int(shape[0]) if isinstance(shape, tuple | Sequence) and len(shape) > 0 else None


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"not a Python name: {name!r}")
    return name


def _module_infos(raw: Any, what: str) -> tuple[ModuleInfo, ...]:
    if not isinstance(raw, list) or len(raw) > 10_000:
        raise BridgeError("malformed module list from the kernel", where=what)
    infos = []
    for row in raw:
        if not (isinstance(row, list) and len(row) == 3 and all(isinstance(s, str) for s in row)):
            raise BridgeError("malformed module list from the kernel", where=what)
        infos.append(ModuleInfo(*(clip(s, 500) for s in row)))
    return tuple(infos)


_ERRORS: dict[str, type[StudentError]] = {
    "missing": MissingName, "notcallable": NotCallable, "notmodel": NotAModel,
}
_FACING: dict[str, type[_StudentFacing]] = {
    "notplain": NotPlainData, "limit": ValueTooLarge, "nosource": SourceUnavailable,
}


def _raise_for(answer: dict[str, Any], *, what: str, context: str) -> Any:
    """The answer's value, or the error it reports raised as the matching exception."""
    if answer["ok"]:
        if set(answer) != {"v", "rid", "ok", "value"}:
            raise BridgeError("malformed answer from the kernel", where=what)
        return answer["value"]
    fields = {k: answer.get(k) for k in ("kind", "name", "message", "type")}
    if set(answer) != {"v", "rid", "ok", *fields} or not all(
            isinstance(v, str) for v in fields.values()):
        raise BridgeError("malformed error answer from the kernel", where=what)
    kind, name, message, type_name = (str(fields[k]) for k in ("kind", "name", "message",
                                                                 "type"))
    if kind == "student":
        raise StudentError(what=what, error_name=name, error_message=message, context=context)
    if kind == "missing":
        raise MissingName(what=_missing_part(message, what))
    if kind in _ERRORS:
        raise _ERRORS[kind](what=what, error_name=type_name)
    if kind in _FACING:
        raise _FACING[kind](clip(message), what=what, type_name=type_name)
    log.warning("kernel-side bridge failure for %s: %s: %s", what, clip(name), clip(message))
    raise BridgeError("the kernel-side bridge failed", where=what)


def _missing_part(reported: str, what: str) -> str:
    """The undefined part of a dotted name: the kernel's word, if it is a prefix of the
    name that was asked for (anything else is not the kernel's to say)."""
    parts = what.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return reported if reported in prefixes else what


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return out


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a file the kernel wrote, refusing links, devices, FIFOs and oversize files."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BridgeError(f"no answer file from the kernel ({exc.strerror})",
                          where=path.name) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BridgeError("answer is not a regular file", where=path.name)
        if info.st_size > max_bytes:
            raise BridgeError(f"answer file is larger than {max_bytes} bytes", where=path.name)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BridgeError(f"answer file is larger than {max_bytes} bytes", where=path.name)
    return data


# ---------------------------------------------------------------- grader → kernel

def _literal(obj: Any) -> str:
    """Python source for a request built from dict/list/str/int/float/bool/None."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return repr(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return "(1e999-1e999)"
        if math.isinf(obj):
            return "(1e999)" if obj > 0 else "(-1e999)"
        return repr(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(_literal(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in obj.items()) + "}"
    raise TypeError(f"not a request literal: {type(obj).__name__}")


class _Outgoing:
    """Encodes grader values as wire nodes; large arrays go to ``<rid>-in-<n>.npy``."""

    def __init__(self, owner: Submission, rid: str):
        self.owner, self.rid, self.files = owner, rid, 0

    def enc(self, obj: Any, depth: int = 0) -> Any:
        if depth > self.owner.limits.max_depth:
            raise ValueError("argument nested too deeply for the bridge")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, Remote):
            self.owner._own(obj)
            return {"t": "remote", "id": obj.id}
        if isinstance(obj, RemoteFunction):
            return {"t": "name", "v": obj.name}
        if isinstance(obj, KernelFunction):
            return {"t": "fn", "kind": obj.kind, "name": obj.name, "src": obj.source,
                    "env": [[k, self.enc(v, depth + 1)] for k, v in obj.env]}
        if isinstance(obj, KernelModule):
            return {"t": "module", "v": obj.name}
        if isinstance(obj, list):
            return [self.enc(x, depth + 1) for x in obj]
        if isinstance(obj, tuple):
            return {"t": "tuple", "v": [self.enc(x, depth + 1) for x in obj]}
        if isinstance(obj, dict):
            return self.mapping(obj, depth)
        return self.array_or_scalar(obj)

    def mapping(self, obj: dict[Any, Any], depth: int) -> dict[str, Any]:
        for key in obj:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"dict keys sent to the kernel must be str or int: {key!r}")
        return {"t": "dict", "v": [[k, self.enc(v, depth + 1)] for k, v in obj.items()]}

    def array_or_scalar(self, obj: Any) -> Any:
        import numpy as np

        if isinstance(obj, np.generic):
            return self.enc(obj.item())
        if isinstance(obj, np.ndarray):
            return self.array(obj, "ndarray")
        torch = _torch_if_loaded()
        if torch is not None and isinstance(obj, torch.Tensor):
            tensor = obj.detach().cpu().resolve_conj().resolve_neg()
            if tensor.dtype is torch.bfloat16:
                tensor = tensor.float()
            return self.array(tensor.contiguous().numpy(), "tensor")
        raise TypeError(f"cannot send a {type(obj).__name__} to the kernel")

    def array(self, arr: np.ndarray, kind: str) -> dict[str, Any]:
        import numpy as np

        if arr.dtype.name not in ALLOWED_DTYPES:
            raise TypeError(f"cannot send an array of dtype {arr.dtype} to the kernel")
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        node: dict[str, Any] = {"t": "array", "kind": kind, "dtype": arr.dtype.name,
                                "shape": list(arr.shape)}
        if arr.size <= self.owner.limits.inline:
            node["data"] = arr.ravel().tolist()
            return node
        name = f"{self.rid}-in-{self.files}.npy"
        self.files += 1
        self.owner._touch(self.rid, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(Path(self.owner.kernel.exchange_dir) / name, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        node["file"] = name
        return node


def _torch_if_loaded() -> Any:
    import sys

    return sys.modules.get("torch")


# ---------------------------------------------------------------- kernel → grader

_TAG_KEYS = {"tuple": {"t", "v"}, "dict": {"t", "v"}, "remote": {"t", "id", "type"}}


class _Incoming:
    """Validates one answer's value node by node and rebuilds it (arrays → tensors)."""

    def __init__(self, owner: Submission, rid: str, what: str, remote_ok: bool):
        self.owner, self.rid, self.what, self.remote_ok = owner, rid, what, remote_ok
        self.limits = owner.limits
        self.nodes = 0
        self.bytes = 0
        self.file_prefix = rid + "-"

    def fail(self, message: str) -> BridgeError:
        return BridgeError(f"invalid value from the kernel: {message}", where=self.what)

    def count(self, nbytes: int) -> None:
        self.bytes += nbytes
        if self.bytes > self.limits.max_bytes:
            raise ValueTooLarge(f"more than {self.limits.max_bytes} bytes", what=self.what)

    def value(self, node: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes or depth > self.limits.max_depth:
            raise ValueTooLarge("too many elements or nested too deeply", what=self.what)
        kind = type(node)
        if node is None or kind in (bool, int, float):
            return node
        if kind is str:
            self.count(len(node))
            return node
        if kind is list:
            return [self.value(x, depth + 1) for x in node]
        if kind is not dict:
            raise self.fail(f"unexpected {kind.__name__}")
        return self.tagged(node, depth)

    def tagged(self, node: dict[str, Any], depth: int) -> Any:
        tag = node.get("t")
        if tag == "array":
            return self.array(node)
        if tag not in _TAG_KEYS or set(node) != _TAG_KEYS[tag]:
            raise self.fail(f"unknown or malformed tag {clip(str(tag), 40)!r}")
        if tag == "remote":
            return self.remote(node)
        if type(node["v"]) is not list:
            raise self.fail(f"{tag} without a list")
        if tag == "tuple":
            return tuple(self.value(x, depth + 1) for x in node["v"])
        return self.mapping(node["v"], depth)

    def mapping(self, pairs: list[Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise self.fail("malformed dict entry")
            if pair[0] in out:
                raise self.fail("duplicate dict key")
            out[self.value(pair[0], depth + 1)] = self.value(pair[1], depth + 1)
        return out

    def remote(self, node: dict[str, Any]) -> Remote:
        if type(node["id"]) is not int or type(node["type"]) is not str:
            raise self.fail("malformed remote handle")
        if not self.remote_ok:
            raise NotPlainData("not plain data", what=self.what, type_name=node["type"])
        return Remote(self.owner, node["id"], clip(node["type"], 120), self.what)

    def array(self, node: dict[str, Any]) -> Any:
        import numpy as np
        import torch

        dtype, shape = self.array_header(node)
        numel = math.prod(shape)
        self.count(numel * np.dtype(dtype).itemsize)
        if "data" in node:
            arr = self.inline(node["data"], dtype, shape, numel)
        else:
            arr = self.from_file(node["file"], dtype, shape)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if self.owner.native_arrays and node["kind"] == "ndarray":
            return arr
        return torch.from_numpy(arr)

    def array_header(self, node: dict[str, Any]) -> tuple[str, tuple[int, ...]]:
        keys = set(node) - {"data", "file"}
        if keys != {"t", "kind", "dtype", "shape"} or len(set(node) & {"data", "file"}) != 1:
            raise self.fail("malformed array")
        dtype, shape = node["dtype"], node["shape"]
        if node["kind"] not in ("tensor", "ndarray") or dtype not in ALLOWED_DTYPES:
            raise self.fail(f"array of unsupported dtype {clip(str(dtype), 40)!r}")
        if type(shape) is not list or len(shape) > 32 or not all(
                type(s) is int and 0 <= s < 2**40 for s in shape):
            raise self.fail("malformed array shape")
        return dtype, tuple(shape)

    def inline(self, data: Any, dtype: str, shape: tuple[int, ...], numel: int) -> np.ndarray:
        import numpy as np

        wanted: tuple[type, ...] = (bool,) if dtype == "bool" else \
            (float,) if dtype.startswith("float") else (int,)
        if type(data) is not list or len(data) != numel or not all(
                type(x) in wanted for x in data):
            raise self.fail("inline array data does not match its dtype and shape")
        try:
            return np.array(data, dtype=dtype).reshape(shape)
        except (OverflowError, ValueError):
            raise self.fail("inline array values out of range for their dtype") from None

    def answer_file(self, name: str) -> bool:
        """``<rid>-<n>.npy`` (1 to 6 ASCII digits): a file of this answer's."""
        digits = name[len(self.file_prefix):-4]
        return (name.startswith(self.file_prefix) and name.endswith(".npy")
                and 1 <= len(digits) <= 6 and digits.isascii() and digits.isdigit())

    def from_file(self, name: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        if type(name) is not str or not self.answer_file(name):
            raise self.fail("array file name does not belong to this answer")
        self.owner._touch(self.rid, name)
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        data = read_regular_file(Path(self.owner.kernel.exchange_dir) / name, nbytes + 65536)
        return _parse_npy(data, dtype, shape, fail=self.fail)


def _parse_npy(data: bytes, dtype: str, shape: tuple[int, ...], *, fail: Any) -> np.ndarray:
    """An ``.npy`` image checked against the dtype and shape its JSON node declared."""
    import numpy as np
    from numpy.lib import format as npy

    fh = io.BytesIO(data)
    try:
        version = npy.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"version {version}")
        header = npy.read_array_header_1_0(fh) if version == (1, 0) else \
            npy.read_array_header_2_0(fh)
    except (ValueError, OSError, SyntaxError) as exc:
        raise fail(f"unreadable .npy header ({clip(str(exc), 80)})") from None
    found_shape, fortran, found_dtype = header
    if found_dtype.name != dtype or found_dtype.hasobject or tuple(found_shape) != shape:
        raise fail("array file does not match its declared dtype and shape")
    nbytes = math.prod(shape) * found_dtype.itemsize
    if len(data) - fh.tell() != nbytes:
        raise fail("array file has the wrong size for its header")
    flat = np.frombuffer(data, dtype=found_dtype, count=math.prod(shape), offset=fh.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()
