"""The bridge's operations: one request each, its fields built and its answer checked.

``KernelOperations`` adds to the request cycle (``_client.BridgeClient``) what the public
``Submission`` and the handles of ``_remote.py`` call: probing a name, calling, reading
an attribute or item, iterating, measuring, running a model. It is the ``Owner`` a
handle talks to, so every method the ``_remote.Owner`` protocol names is here.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...core.errors import BridgeError
from ._client import BridgeClient
from ._errors import ModelOutputError, clip
from ._remote import ModuleInfo, Remote, RemoteModel
from ._wire import _Incoming, _Outgoing

if TYPE_CHECKING:
    import torch



class KernelOperations(BridgeClient):
    """Every kernel request of a submission except the public entry points."""

    def _prepare(self, build: Callable[[_Outgoing], dict[str, Any]]
                 ) -> tuple[str, dict[str, Any]]:
        """A request id and the request's fields, whose arrays may go to files."""
        rid = "r" + secrets.token_hex(12)
        try:
            return rid, build(_Outgoing(self, rid))
        except BaseException:
            self._cleanup(rid)
            raise

    def _decoder(self, what: str, remote_ok: bool) -> Callable[[Any, str], Any]:
        return lambda raw, rid: _Incoming(self, rid, what, remote_ok).value(raw, 0)

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

    def _call(self, target: dict[str, Any], args: Sequence[Any], kwargs: Mapping[str, Any],
              *, what: str) -> Any:
        rid, fields = self._prepare(lambda out: {
            "target": target, "args": out.enc(list(args)),
            "kwargs": [[str(k), out.enc(v)] for k, v in kwargs.items()],
            **({"autograd": False} if self.autograd_off else {})})
        return self._send("call", fields, what=what, context="function", rid=rid,
                          then=self._decoder(f"{what}(…)", True))

    def _attr(self, remote: Remote, name: str) -> Any:
        self._own(remote)
        if not isinstance(name, str) or not name.isidentifier():
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


def _rows(batch: Any) -> int | None:
    """Batch size of a tensor/array input (``None`` for other inputs)."""
    shape = getattr(batch, "shape", None)
    return int(shape[0]) if isinstance(shape, tuple | Sequence) and len(shape) > 0 else None


def _checked_name(name: str) -> str:
    """``name`` (``"f"`` or ``"Class.method"``) as Python spells it: any identifier a
    student may write (``学習率``), in the NFKC form the parser gives it (``ｘ`` is ``x``)."""
    if not isinstance(name, str):
        raise ValueError(f"not a Python name: {name!r}")
    normal = unicodedata.normalize("NFKC", name)
    if not all(part.isidentifier() for part in normal.split(".")):
        raise ValueError(f"not a Python name: {name!r}")
    return normal


def _module_infos(raw: Any, what: str) -> tuple[ModuleInfo, ...]:
    if not isinstance(raw, list) or len(raw) > 10_000:
        raise BridgeError("malformed module list from the kernel", where=what)
    infos = []
    for row in raw:
        if not (isinstance(row, list) and len(row) == 3 and all(isinstance(s, str) for s in row)):
            raise BridgeError("malformed module list from the kernel", where=what)
        infos.append(ModuleInfo(*(clip(s, 500) for s in row)))
    return tuple(infos)
