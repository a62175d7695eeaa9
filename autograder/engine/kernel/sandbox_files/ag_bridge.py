"""Kernel-side half of the grader's bridge (runs inside the student's kernel).

The grader (``autograder/engine/bridge/submission.py``) runs
``__import__("ag_bridge").serve({...})`` in the
kernel with a request written as a Python literal (or sends the request over the
bridge channel, ``ag_channel``, which calls the same ``serve``). ``serve`` looks names up
in the user namespace, calls student code on arguments rebuilt from plain data and writes
its answer to ``<exchange>/<rid>.json`` (plus ``<rid>-<n>.npy`` for arrays; the channel
carries a small answer in its reply instead of the JSON file). Values that
are not plain data stay here in a handle table and travel as ``{"t": "remote", "id": n}``.

Four files, all on the kernel's ``PYTHONPATH`` (``/opt/autograder``, read-only):

- ``ag_wire``: the pristine references, the JSON writer, the encoder of answers and the
  handle table;
- ``ag_requests``: name lookup, decoding a request's nodes, one handler per operation;
- ``ag_code``: fingerprints of the code each name holds (the ``codes`` request);
- ``ag_bridge`` (this file): ``serve``, the answer's envelope and its errors.

Importing this module imports the other three, so ``ag_startup``'s ``import ag_bridge``
(before any student code runs) takes every pristine reference of all three.

Nothing here is trusted by the grader: it validates every answer. This code only tries
not to be *fooled into* producing plain data from student objects, so it

- converts exact built-in types only (``type(x) is int``, never ``isinstance``): an ``int``
  subclass with a rigged ``__eq__`` becomes a handle, not a number;
- takes the built-in types from literals (``(0).__class__``) and writes JSON itself, so a
  notebook that rebinds ``builtins.type``/``isinstance``/``print`` or ``json.dumps``
  cannot change how answers are encoded (import this module at kernel start to also
  freeze ``os``/``open`` before any student code runs);
- imports nothing beyond the standard library; ``numpy``/``torch`` are used only when the
  student already imported them, or when the grader sends an array.

Wire grammar (both directions): JSON null/bool/int/float(NaN, Infinity)/str/list, and
tagged objects ``{"t": "tuple", "v": [...]}``, ``{"t": "dict", "v": [[k, v], ...]}``
(keys str or int), ``{"t": "array", "kind": "tensor"|"ndarray", "dtype", "shape",
"data"|"file"}`` and ``{"t": "remote", "id", "type"}``.
"""

from typing import Any

from ag_requests import _OPS
from ag_wire import (
    _HANDLES,
    _O_NEW,
    _BaseException,
    _exc_text,
    _json,
    _KeyboardInterrupt,
    _open,
    _os_open,
    _Refusal,
    _StudentFailure,
    _text,
)
from ag_wire import _Encoder as _Encoder  # the same class as before the split, by this name

_VERSION = 1


def _error(kind: str, message: str, type_name: str = "", name: str = "") -> dict[str, Any]:
    return {"v": _VERSION, "ok": False, "kind": kind, "name": _text(name, 200),
            "message": _text(message), "type": _text(type_name, 200)}


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    for ident in request.get("release", ()):
        _HANDLES.pop(ident, None)
    try:
        value = _OPS[request["op"]](request)
        return {"v": _VERSION, "ok": True, "value": value}
    except _Refusal as exc:
        return _error(exc.kind, exc.message, exc.type_name)
    except _StudentFailure as failure:
        name, text = _exc_text(failure.exc)
        return _error("student", text, name=name)
    except _KeyboardInterrupt:
        raise
    except _BaseException as exc:  # a bug here, or a kernel too broken to answer
        name, text = _exc_text(exc)
        return _error("bridge", text, name=name)


def serve(request: dict[str, Any]) -> None:
    """Answer one grader request; the answer lands in ``<dir>/<rid>.json``."""
    write_answer(request, answer_bytes(request))


def answer_bytes(request: dict[str, Any]) -> bytes:
    """The JSON answer to one grader request (the bridge channel may carry it inline)."""
    answer = _answer(request)
    answer["rid"] = request["rid"]
    out: list[str] = []
    _json(answer, out)
    return "".join(out).encode("ascii")


def write_answer(request: dict[str, Any], data: bytes) -> None:
    """Put an answer where the grader reads it: ``<dir>/<rid>.json``."""
    fd = _os_open(request["dir"] + "/" + request["rid"] + ".json", _O_NEW, 0o644)
    with _open(fd, "wb") as fh:
        fh.write(data)
