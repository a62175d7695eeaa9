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

This module is the public face (``Submission``'s entry points, and every name checks
import from here); the machinery is private: ``_client.py`` (one request's cycle: send,
wait, read and check the answer), ``_operations.py`` (the requests behind the handles
and the entry points), ``_wire.py``, ``_remote.py`` and ``_errors.py``.

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

import builtins
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...core.config import Assignment, Scalar
from ...core.errors import AutograderError
from ...core.i18n import Lang, tr
from ..kernel.api import KernelLike
from ._errors import (
    AutogradOn,
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
    clip,
    error_name,
    type_label,
)
from ._operations import KernelOperations, _checked_name, _rows
from ._remote import (
    KernelFunction,
    KernelModule,
    ModuleInfo,
    Remote,
    RemoteFunction,
    RemoteModel,
)
from ._wire import ALLOWED_DTYPES, read_regular_file
from .code_identity import CodeIdentity, LiveAnswer, parse_answer
from .kernel_code import ag_code
from .library_paths import request_paths, swapped
from .notebook_source import RUN_TIME, NotebookSource

_MAX_NAMES = 500    # names whose live code one request asks for
_BUILTIN_NAMES = frozenset(dir(builtins))
# what IPython itself puts in a kernel's namespace (never the notebook's text)
_KERNEL_NAMES = frozenset({"get_ipython", "display", "exit", "quit", "In", "Out"})


class Submission(KernelOperations):
    """The ``submission`` fixture: the student's work, reached through the kernel."""

    def __init__(self, kernel: KernelLike, *, assignment: Assignment | None = None,
                 params: Mapping[str, Scalar] | None = None, data_dir: Path | None = None,
                 lang: Lang | None = None, call_timeout: float = 120.0,
                 limits: BridgeLimits | None = None, notebook: NotebookSource | None = None):
        from ...core.paths import data_dir as default_data_dir

        super().__init__(kernel, call_timeout=call_timeout, limits=limits)
        self.notebook = notebook
        self._identity: CodeIdentity | None = None
        self.assignment = assignment
        self.params: Mapping[str, Scalar] = dict(params or {})
        self.data_dir = data_dir or default_data_dir()
        self.lang = lang

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
        name = _checked_name(name)
        found = self.notebook.definition(name) if self.notebook else None
        if found is None:
            raise SourceUnavailable("no definition in the notebook's text", what=name)
        if not self._runs_text(name.partition(".")[0]):
            raise SourceUnavailable("the name does not run its definition in the notebook's "
                                    "text (changed while the notebook ran)", what=name)
        return found

    def _runs_text(self, name: str) -> bool:
        """Whether ``name`` holds what its text compiles to (``code_identity``)."""
        return self.notebook is not None and self._live_code(name).runs_text(name)

    def _live_code(self, name: str) -> CodeIdentity:
        """The kernel's one ``codes`` answer (for every name with a text), kept."""
        assert self.notebook is not None
        if self._identity is None:
            names = self.notebook.names()[:_MAX_NAMES]
            if name not in names and self.notebook.definition(name) is not None:
                names.append(name)
            # lists only filled since (``holds_list``): their text is no definition
            names += [n for n in self.notebook.list_names() if n not in names][:_MAX_NAMES]
            origins = dict(list(self.notebook.origins().items())[:_MAX_NAMES])
            defaults = {n: found for n in names if (found := self.notebook.default_paths(n))}
            paths = request_paths(self.notebook, names, origins)
            names += [n for n in origins if n not in names]
            request = {"names": names, "origins": origins, "defaults": defaults,
                       "paths": paths}
            try:
                answer = parse_answer(self._send("codes", request, what=name, context="value"),
                                      names, paths)
            except AutograderError:   # no answer: no text is what runs
                answer = LiveAnswer(ag_code().CACHE_TAG, {})
            # another Python's bytecode is not comparable: then no text is taken away
            comparable = answer.python == ag_code().CACHE_TAG
            self._identity = CodeIdentity(self.notebook, answer.names if comparable else None,
                                          traced=answer.traced, shadowed=answer.shadowed,
                                          swapped=swapped(answer.paths, answer.intercepted,
                                                          paths) if comparable else frozenset())
        return self._identity

    def origin(self, name: str) -> str | None:
        """Where a name the notebook binds without a text comes from, by its text
        (``NotebookSource.origin``: ``"torch.sigmoid"``, ``RUN_TIME``, or None).
        ``RUN_TIME`` also where the run, not the text, decides what a name is: a name
        with a text it does not run (a helper rebound by ``exec``), a built-in name the
        notebook binds or the run shadowed or replaced (``int = pick``), and a name the
        text never binds that is neither built in nor the kernel's own (``exec("_d =
        operator.ne")``; after a star import, the name as that import gives it)."""
        if self.notebook is None:
            return None
        name = _checked_name(name)
        found = self.notebook.origin(name)
        if name in _KERNEL_NAMES:
            return found
        if name in _BUILTIN_NAMES:
            shadowed = self.notebook.binds(name) or name in self._live_code(name).shadowed
            return RUN_TIME if shadowed else None
        if found is not None:   # an import, an assignment, or an alias of an unbound name
            unbound = self.notebook.aliased(name) and found not in (RUN_TIME, name)
            if unbound and self.origin(found) == RUN_TIME:
                return RUN_TIME
            # what the text says it was bound to, if the run left it there
            held = found == RUN_TIME or self._live_code(name).holds_origin(name)
            return found if held else RUN_TIME
        if self.notebook.binds(name):   # with a text: is it what runs?
            return None if self._runs_text(name) else RUN_TIME
        return f"*.{name}" if self.notebook.star_imported else RUN_TIME

    def holds_list(self, name: str) -> bool:
        """Whether the notebook's text shows ``name`` to be a list whatever ran
        (``NotebookSource.holds_list``), and the run left it one (code identity: a
        ``globals()``, ``exec`` or ``%time`` rebinding to a list subclass whose
        ``append`` runs code of its own is not the text's list)."""
        name = _checked_name(name)
        return self.notebook is not None and self.notebook.holds_list(name) \
            and self._live_code(name).holds_list(name)

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
        """Cap every kernel request inside the block so that all of them end in time (never
        later than an enclosing block's limit: a check's own, inside the runner's)."""
        deadline = time.monotonic() + seconds
        previous = self._deadline
        self._deadline = deadline if previous is None else min(previous, deadline)
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

    @contextmanager
    def without_autograd(self) -> Iterator[None]:
        """Inside: each call runs in the kernel with autograd switched off (torch's
        inference mode, checked on by torch's C function before and after the call, the
        answer encoded inside it); a kernel that cannot switch it off raises
        ``AutogradOn``. What a call returns was then computed without autograd in that
        thread, whatever its text calls ``backward``: a handle it returns is read later
        with autograd on, so compare plain data only (docs/security.md)."""
        previous, self.autograd_off = self.autograd_off, True
        try:
            yield
        finally:
            self.autograd_off = previous

    def release(self, remote: Remote) -> None:
        """Let the kernel forget a handle (also happens when the ``Remote`` is collected)."""
        self._released.append(remote.id)

    @property
    def alive(self) -> bool:
        return self._broken is None


__all__ = [
    "ALLOWED_DTYPES",
    "AutogradOn",
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
