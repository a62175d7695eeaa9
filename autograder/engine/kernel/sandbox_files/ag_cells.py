"""A notebook cell run for the grader over the bridge channel (kernel side).

A cell sent as Jupyter's ``execute_request`` costs the kernel about 3.5 ms of messaging
on top of the cell itself (ipykernel's shell thread handing the message to the main
thread, the request's signature, ``execute_input``, the reply, their serialisation) and
the grader about 2 ms more; a notebook has twenty cells. The grader therefore sends a
notebook's cells down the bridge channel (``ag_channel``) as ``{"rid", "cell",
"msg_id"}``, and ``execute`` runs each through ipykernel's own ``do_execute``, so that a
cell runs exactly as an ``execute_request`` would have run it (IPython's transforms and
magics, top-level ``await``, ``input()`` refused, the inline backend's figures, the
reply's status, error name and value, execution count). Its outputs go to IOPub as ever,
under a parent header whose ``msg_id`` is the grader's, followed by an idle status (the
grader's sign that the cell's outputs are all in; nobody reads a busy one, so none is
sent); the channel's reply frame carries what the ``execute_reply`` would have said.

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
    try:
        content = await kernel.do_execute(str(request.get("cell", "")), False,
                                          store_history=True, user_expressions={},
                                          allow_stdin=False)
    finally:
        _signal.signal(_signal.SIGINT, previous)
        for stream in (_sys.stdout, _sys.stderr):
            if stream is not None:
                stream.flush()
        kernel._publish_status("idle", "shell", parent)
    return _reply(content)


def _parent(kernel, msg_id):
    """An ``execute_request`` as a Jupyter client would have sent it."""
    header = kernel.session.msg_header("execute_request")
    header["msg_id"] = msg_id or _uuid.uuid4().hex
    content = {"code": "", "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": False}
    return {"header": header, "msg_id": header["msg_id"], "msg_type": "execute_request",
            "parent_header": {}, "metadata": {}, "content": content, "buffers": []}


def _reply(content):
    status = content.get("status") if isinstance(content, dict) else None
    count = content.get("execution_count") if isinstance(content, dict) else None
    reply = {"status": "ok" if status == "ok" else "error",
             "execution_count": count if isinstance(count, int) else None}
    if reply["status"] == "error":
        reply["ename"] = str(content.get("ename", "Error"))[:TEXT_MAX]
        reply["evalue"] = str(content.get("evalue", ""))[:TEXT_MAX]
    return _json.dumps(reply).encode("utf-8")
