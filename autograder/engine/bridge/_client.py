"""One bridge request, start to end: send it to the kernel, wait, read and check the answer.

``BridgeClient`` is the request cycle ``Submission`` is built on (``_operations.py`` adds
the operations, ``submission.py`` the public face). A request goes over the kernel's
bridge channel where it has one, else as ``__import__('ag_bridge').serve({...})`` run in
a cell; either way the answer is ``<rid>.json`` (plus ``.npy`` files) in the exchange
folder, read here without following links, or, where small, carried in the channel's
reply frame (``CodeResult.answer``); it is size-checked, parsed with ``json`` (duplicate
keys refused) and checked against the request; its value is decoded by the caller
(``then``, with ``_wire._Incoming``). A failed, forged or malformed answer is a ``BridgeError``; an
error the kernel reports becomes the matching student-facing error (``_errors.py``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar, cast, overload

from ...core.errors import BridgeError
from ..kernel.api import CodeResult, KernelLike
from ._errors import (
    AutogradOn,
    BridgeLimits,
    BridgeTimeout,
    KernelDead,
    MissingName,
    NotAModel,
    NotCallable,
    NotPlainData,
    SourceUnavailable,
    StudentError,
    ValueTooLarge,
    _StudentFacing,
    clip,
)
from ._wire import _literal, read_regular_file

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class BridgeClient:
    """The state of a submission's requests and the cycle every request goes through."""

    def __init__(self, kernel: KernelLike, *, call_timeout: float,
                 limits: BridgeLimits | None) -> None:
        self.kernel = kernel
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
        # calls run with autograd switched off in the kernel while ``without_autograd()``
        # is on (gradients a check wants computed by the student's own code)
        self.autograd_off = False
        self._missing: dict[str, None] = {}

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
        answer_file = True  # whether <rid>.json may be in the exchange folder
        try:
            if self._broken is not None:
                raise self._broken
            released, self._released = self._released, []
            request = {"v": 1, "rid": rid, "op": op, "dir": self.kernel.kernel_exchange_dir,
                       "limits": self.limits.for_kernel(), "release": released, **fields}
            result = self._run(request, what=what)
            answer_file = result.answer is None
            answer = self._read_answer(rid, result, what=what)
            raw = _raise_for(answer, what=what, context=context)
            return then(raw, rid) if then else raw
        except MissingName as exc:
            self._missing[exc.what] = None
            raise
        finally:
            self._cleanup(rid, answer_file=answer_file)

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
        data = result.answer
        if data is None:
            path = Path(self.kernel.exchange_dir) / f"{rid}.json"
            data = read_regular_file(path, self.limits.max_answer_bytes)
        elif len(data) > self.limits.max_answer_bytes:
            raise BridgeError(f"answer is larger than {self.limits.max_answer_bytes} bytes",
                              where=what)
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

    def _cleanup(self, rid: str, *, answer_file: bool = True) -> None:
        """Remove this request's files by name: never list the folder, which the kernel
        may have filled with any number of files. (An answer the channel carried left no
        ``<rid>.json``; whatever else the kernel writes goes with its folder.)"""
        names = [f"{rid}.json"] if answer_file else []
        names += self._touched.pop(rid, [])
        if not names:
            return
        folder = str(self.kernel.exchange_dir)
        for name in names:
            with suppress(OSError):
                os.unlink(os.path.join(folder, name))


_ERRORS: dict[str, type[StudentError]] = {
    "missing": MissingName, "notcallable": NotCallable, "notmodel": NotAModel,
}
_FACING: dict[str, type[_StudentFacing]] = {
    "notplain": NotPlainData, "limit": ValueTooLarge, "nosource": SourceUnavailable,
    "autograd": AutogradOn,
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
