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

import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from ...core.config import Assignment, Scalar
from ...core.errors import BridgeError
from ...core.i18n import Lang, tr
from ..kernel.api import CodeResult, KernelLike
from ._errors import (
    BridgeLimits,
    BridgeTimeout,
    KernelDead,
    MissingName,
    ModelOutputError,
    NotAModel,
    NotCallable,
    NotPlainData,
    SourceUnavailable,
    StudentError,
    ValueTooLarge,
    _StudentFacing,
    clip,
    error_name,
    type_label,
)
from ._remote import (
    KernelFunction,
    KernelModule,
    ModuleInfo,
    Remote,
    RemoteFunction,
    RemoteModel,
)
from ._wire import ALLOWED_DTYPES, _Incoming, _literal, _Outgoing, read_regular_file
from .notebook_source import NotebookSource

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


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

    @overload
    def _send(self, op: str, fields: dict[str, Any], *, what: str, context: str,
              rid: str | None = None, then: None = None) -> Any: ...

    @overload
    def _send(self, op: str, fields: dict[str, Any], *, what: str, context: str,
              rid: str | None = None, then: Callable[[Any, str], _T]) -> _T: ...

    def _send(self, op: str, fields: dict[str, Any], *, what: str, context: str,
              rid: str | None = None, then: Callable[[Any, str], _T] | None = None,
              ) -> _T | Any:
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
        # an optional method of some kernels, not part of KernelLike
        serve = cast("Callable[..., CodeResult | None] | None",
                     getattr(self.kernel, "serve_bridge", None))
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


__all__ = [
    "ALLOWED_DTYPES",
    "BridgeLimits",
    "BridgeTimeout",
    "KernelDead",
    "KernelFunction",
    "KernelModule",
    "MissingName",
    "ModelOutputError",
    "ModuleInfo",
    "NotAModel",
    "NotCallable",
    "NotPlainData",
    "Remote",
    "RemoteFunction",
    "RemoteModel",
    "SourceUnavailable",
    "StudentError",
    "Submission",
    "ValueTooLarge",
    "clip",
    "error_name",
    "read_regular_file",
    "type_label",
]
