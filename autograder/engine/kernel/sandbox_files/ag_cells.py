"""A notebook cell run for the grader over the bridge channel (kernel side).

A cell sent as Jupyter's ``execute_request`` costs the kernel about 3.5 ms of messaging
on top of the cell itself (ipykernel's shell thread handing the message to the main
thread, the request's signature, ``execute_input``, the reply, their serialisation) and
the grader about 2 ms more; a notebook has twenty cells. The grader therefore sends a
notebook's cells down the bridge channel (``ag_channel``) as ``{"rid", "cell",
"msg_id"}``, and ``execute`` runs each through ipykernel's own ``do_execute``, so that a
cell runs exactly as an ``execute_request`` would have run it (IPython's transforms and
magics, top-level ``await``, ``input()`` refused, the inline backend's figures, the
reply's status, error name and value, execution count; with an error also the line of
the cell's code where it arose, ``line``: the statements above it ran). Its outputs go
to IOPub as ever, under a parent header whose ``msg_id`` is the grader's, followed by
an idle status (the grader's sign that the cell's outputs are all in; nobody reads a
busy one, so none is sent); the channel's reply frame carries what the
``execute_reply`` would have said.

Nothing here is a boundary: it runs inside the student's process, which can forge any of
it, as it could forge an ``execute_reply``. The grader caps what it reads and grades
nothing it says.
"""

import json as _json
import signal as _signal
import sys as _sys
import uuid as _uuid

TEXT_MAX = 2000   # characters of an error's name and value (the grader keeps as many)


async def execute(kernel, request):
    """Run ``request["cell"]`` as the grader's ``execute_request`` would; the reply's
    content (status, execution_count, ename, evalue) as JSON bytes."""
    parent = _parent(kernel, str(request.get("msg_id", "")))
    kernel.set_parent([], parent, "shell")
    previous = _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    _sys.last_traceback = None   # IPython sets it again for this cell's error, if any
    line = None
    try:
        with _IPythonOnce(kernel.shell):
            content = await kernel.do_execute(str(request.get("cell", "")), False,
                                              store_history=True, user_expressions={},
                                              allow_stdin=False)
        line = _stopped_at(kernel.shell)
    finally:
        _signal.signal(_signal.SIGINT, previous)
        for stream in (_sys.stdout, _sys.stderr):
            if stream is not None:
                stream.flush()
        kernel._publish_status("idle", "shell", parent)
    return _reply(content, line)


class _IPythonOnce:
    """While a cell starts, its second ``transform_cell`` and ``should_run_async`` are
    answered from the first. ipykernel's ``do_execute`` asks both, then runs the cell
    through the shell's ``run_cell``, which asks both again for the same text: the input
    transformers tokenize the cell in pure Python (13 ms a notebook of lecture 13, each
    time), and ``should_run_async`` compiles it. Only IPython's own code runs between the
    two askings. At ``pre_execute``, before the cell's code runs, everything here is
    undone (answers, wrappers, the event callback): the cell's code sees IPython as it is,
    and gets IPython's own answers if it changes the transformers or asks them itself."""

    _NAMES = ("transform_cell", "should_run_async")

    def __init__(self, shell):
        self.shell, self.answers, self.wrappers = shell, {}, {}

    def __enter__(self):
        if self.shell is not None:
            for name in self._NAMES:
                if name not in vars(self.shell):  # never over what a student's code set
                    self.wrappers[name] = self._remembering(name, getattr(self.shell, name))
                    setattr(self.shell, name, self.wrappers[name])
            self.shell.events.register("pre_execute", self.undo)
        return self

    def __exit__(self, *exc):
        self.undo()

    def undo(self):
        self.answers.clear()
        if self.shell is None:
            return
        for name, wrapper in self.wrappers.items():
            if vars(self.shell).get(name) is wrapper:
                delattr(self.shell, name)
        self.wrappers.clear()
        if self.undo in self.shell.events.callbacks["pre_execute"]:
            self.shell.events.unregister("pre_execute", self.undo)

    def _remembering(self, name, method):
        def remembering(raw_cell, **kwargs):
            key = (name, raw_cell, kwargs.get("transformed_cell"))
            if kwargs.get("preprocessing_exc_tuple") is not None \
                    or not isinstance(raw_cell, str) or not self.wrappers:
                return method(raw_cell, **kwargs)
            if key in self.answers:
                return self.answers.pop(key)
            answer = self.answers[key] = method(raw_cell, **kwargs)
            return answer

        return remembering


def _parent(kernel, msg_id):
    """An ``execute_request`` as a Jupyter client would have sent it."""
    header = kernel.session.msg_header("execute_request")
    header["msg_id"] = msg_id or _uuid.uuid4().hex
    content = {"code": "", "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": False}
    return {"header": header, "msg_id": header["msg_id"], "msg_type": "execute_request",
            "parent_header": {}, "metadata": {}, "content": content, "buffers": []}


def _stopped_at(shell):
    """The line of the cell's own code where its error arose, or None: in the traceback
    IPython showed, the innermost top-level frame over the notebook's namespace (under
    ``%%time`` the body's own, whose lines the grader reads too)."""
    tb = getattr(_sys, "last_traceback", None)
    namespace = getattr(shell, "user_ns", None)
    line = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "<module>" and frame.f_globals is namespace:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line if isinstance(line, int) and line > 0 else None


def _reply(content, line=None):
    status = content.get("status") if isinstance(content, dict) else None
    count = content.get("execution_count") if isinstance(content, dict) else None
    reply = {"status": "ok" if status == "ok" else "error",
             "execution_count": count if isinstance(count, int) else None}
    if reply["status"] == "error":
        reply["ename"] = str(content.get("ename", "Error"))[:TEXT_MAX]
        reply["evalue"] = str(content.get("evalue", ""))[:TEXT_MAX]
        if line is not None:
            reply["line"] = line
    return _json.dumps(reply).encode("utf-8")
