"""Handles on objects kept in the kernel: ``Remote``, callable proxies, ``RemoteModel``.

Each handle talks to the kernel through its owner (the ``Submission``), described here
by the ``Owner`` protocol so that this module does not import the submission's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..kernel.api import KernelLike
from ._errors import BridgeLimits, NotPlainData

if TYPE_CHECKING:
    import torch


class Owner(Protocol):
    """What a handle (and the wire) needs of the submission that made it."""

    kernel: KernelLike
    limits: BridgeLimits
    native_arrays: bool
    _released: list[int]

    def _call(self, *args: Any, **kwargs: Any) -> Any: ...
    def _attr(self, *args: Any, **kwargs: Any) -> Any: ...
    def _item(self, *args: Any, **kwargs: Any) -> Any: ...
    def _iter(self, remote: Remote) -> Iterator[Any]: ...
    def _len(self, remote: Remote) -> int: ...
    def _forward(self, *args: Any, **kwargs: Any) -> Any: ...
    def _state_dict(self, model: RemoteModel) -> dict[str, torch.Tensor]: ...
    def _own(self, *args: Any, **kwargs: Any) -> Any: ...
    def _touch(self, *args: Any, **kwargs: Any) -> Any: ...


class Remote:
    """An object kept in the kernel. It can be passed back, called, or asked for an
    attribute; it is equal only to itself and refuses truth tests and iteration, so a
    student object can never stand in for a value a check compares."""

    __slots__ = ("__weakref__", "_owner", "id", "type_name", "what")

    def __init__(self, owner: Owner, ident: int, type_name: str, what: str):
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

    def __init__(self, owner: Owner, name: str):
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

    def __init__(self, owner: Owner, handle: Remote, *, name: str, num_parameters: int,
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
