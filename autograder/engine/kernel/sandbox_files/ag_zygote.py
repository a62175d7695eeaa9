"""The kernel template ("zygote") of one grading worker: imports once, forks per submission.

Started by the grader (``autograder/engine/kernel/zygote.py``) inside bubblewrap, as root in
bubblewrap's pid, network, IPC, UTS and cgroup namespaces with five capabilities only
(SYS_ADMIN, SETUID, SETGID, SETPCAP, NET_ADMIN: what making a child's namespaces,
mounts and uid takes). It imports Python's heavy modules once (``AG_ZYGOTE_PRELOAD``:
IPython, ipykernel, numpy, torch, ... and the kernel-side bridge), then waits for the
grader's requests on the control socket it inherited (``AG_ZYGOTE_FD``). It never runs
student code: every request is the grader's, and the only thing it does for one is to
fork a child, which confines itself (``ag_confine``) and only then becomes an ipykernel.

Per request ("fork"), with the file descriptors the grader sent alongside (the kernel's
folders as detached mounts, its cgroups' ``cgroup.procs``, its log, its bridge socket):

- the template makes a new pid namespace for its next child and forks; the child
  (pid 1 there) joins its cgroups, makes its other namespaces and mounts, forks the
  kernel (pid 2, as under bubblewrap) and stays as that namespace's reaper; both drop
  every privilege before anything else runs (the kernel then starts ``IPKernelApp``);
- the template closes the request's descriptors at once (no later child inherits them)
  and answers with a pidfd of the child, by which the grader finds, signals and waits
  for it. "status" tells how a child ended (as ``Popen.returncode``).

Forking needs a single-threaded template with no ZMQ context (``_fork_safe``): a child
of a multi-threaded process inherits locks held by threads that do not exist in it.

"compact" (the grader sends it once the template has forked a few kernels) moves the
template's anonymous memory (torch's: about 300 MB) into transparent huge pages, a few
MiB whenever no request is waiting (``Compaction``). A fork copies one page-table entry
per 2 MiB instead of 512, and the two exits of a child's processes unmap as few:
24 -> 8 ms of system time per fork and exit here. A child that writes into such a page
still copies only the 4 KiB it writes (the kernel splits its mapping, never the
template's page), so copy-on-write isolates it as before.
"""

import contextlib
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import threading
import traceback

import ag_confine

MAX_MESSAGE = 1 << 16
MAX_FDS = 32
STAGING = "/run/ag-data"         # datasets, read-only, as the template sees them
# As launch.py's spawned kernels: ``_execute_sleep`` is ipykernel's 0.5 ms pause before each
# reply, for clients that stop at the reply; the grader waits for the idle status after it.
# No history database (a sqlite insert and a thread's wake-up after every cell).
KERNEL_ARGS = ["--IPKernelApp.extensions=ag_startup", "--HistoryManager.enabled=False",
               "--IPythonKernel._execute_sleep=0"]
# What every kernel imports while it starts (IPKernelApp, its shell, its debugger: 0.6 s
# of debugpy alone), what IPython imports for the first traceback a cell shows (stack_data
# and pygments' terminal formatter: 14 ms in every kernel whose notebook has an error),
# psutil (jupyter_client imports it to list the kernel's addresses while it reads the
# connection file: 12 ms of every kernel's start) and the grader's own kernel-side modules.
ALWAYS = ["ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "psutil",
          "ipykernel.debugger", "IPython.core.completerlib", "IPython.core.debugger",
          "IPython.core.oinspect", "IPython.extensions.storemagic", "IPython.core.logger",
          "stack_data", "pygments.formatters.terminal256", "faulthandler", "sqlite3", "pdb",
          "pydoc", "mimetypes", "tornado.platform.asyncio", "tornado.queues", "tornado.locks",
          "tornado.gen", "ag_code", "ag_wire", "ag_requests", "ag_bridge", "ag_channel", "ag_cells",
          "ag_figures", "ag_startup"]
_STATUS_KEPT = 4096
IMPORT_ENV: dict[str, str] = {}  # environment variables the preloaded modules set


# ---------------------------------------------------------------- messages


def send(sock, message, fds=()):
    data = json.dumps(message).encode("utf-8")
    socket.send_fds(sock, [data], list(fds))


def receive(sock):
    """The next request and its descriptors; (None, []) once the grader is gone."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if not data:
        return None, fds
    return json.loads(data.decode("utf-8")), fds


# ---------------------------------------------------------------- the template


class Template:
    def __init__(self, ctl, pidns):
        self.ctl, self.pidns = ctl, pidns
        self.children = {}      # request id -> pid
        self.status = {}        # request id -> returncode (once reaped)
        self.compaction = None  # once the grader asked for it

    def serve(self):
        while True:
            work = self.compaction if self.compaction and self.compaction.left() else None
            ready, _, _ = select.select([self.ctl], [], [], 0.5 if work is None else 0)
            self.reap()
            if not ready:
                if work is not None:
                    work.step()   # only while no request waits
                continue
            request, fds = receive(self.ctl)
            if request is None:
                return
            try:
                self.handle(request, fds)
            finally:
                for fd in fds:
                    _close(fd)

    def handle(self, request, fds):
        op = request.get("op")
        if op == "fork":
            self.fork(request, fds)
        elif op == "status":
            self.reap()
            send(self.ctl, {"ok": True, "status": self.status.get(request["id"])})
        elif op == "compact":
            if self.compaction is None:
                self.compaction = Compaction()
            send(self.ctl, {"ok": True, "left": self.compaction.left()})
        else:
            send(self.ctl, {"ok": False, "error": f"unknown request {op!r}"})

    def fork(self, request, fds):
        unsafe = _fork_safe()
        if unsafe:
            send(self.ctl, {"ok": False, "error": unsafe})
            return
        ag_confine.unshare(ag_confine.CLONE_NEWPID)   # the next child is pid 1 of its own
        try:
            pid = os.fork()
            if pid == 0:
                _child(request, fds)                  # never returns
        finally:
            ag_confine.setns(self.pidns, ag_confine.CLONE_NEWPID)
        self.children[request["id"]] = pid
        pidfd = os.pidfd_open(pid)
        try:
            send(self.ctl, {"ok": True, "id": request["id"], "pid": pid}, [pidfd])
        finally:
            os.close(pidfd)

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for ident, child in list(self.children.items()):
                if child == pid:
                    del self.children[ident]
                    self.status[ident] = _returncode(status)
            while len(self.status) > _STATUS_KEPT:
                self.status.pop(next(iter(self.status)))


MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20
COMPACT_STEP = 4 << 20   # collapsed per idle moment (a few ms): a fork waits at most that


class Compaction:
    """The template's private anonymous memory (and its heap), 2 MiB-aligned, collapsed
    into transparent huge pages one ``COMPACT_STEP`` at a time (``MADV_COLLAPSE`` only:
    the mappings keep their flags, so a child's own new memory faults in as before). A
    step the kernel refuses (no ``MADV_COLLAPSE`` before Linux 6.1, huge pages off, a
    mapping that cannot have them) leaves that piece as it was: only ever a speed-up."""

    def __init__(self, maps="/proc/self/maps"):
        self.chunks = list(_anonymous_chunks(maps))

    def left(self):
        return len(self.chunks)

    def step(self):
        start, size = self.chunks.pop(0)
        _madvise(start, size, MADV_COLLAPSE)


def _anonymous_chunks(maps):
    """(start, size) of the 2 MiB-aligned parts of every private writable anonymous
    mapping and of the heap, in ``COMPACT_STEP`` pieces."""
    with open(maps, encoding="ascii") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (fields[5:] not in ([], ["[heap]"])):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start = (low + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1)
        end = high & ~(HUGE_PAGE - 1)
        while start < end:
            size = min(COMPACT_STEP, end - start)
            yield start, size
            start += size


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def _madvise(start, size, advice):
    return _LIBC.madvise(start, size, advice)


def _returncode(status):
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _fork_safe():
    """Why forking now would be unsafe ('' if it is not)."""
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1 or threading.active_count() != 1:
        return f"the template has {threads} threads"
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        return "the template has a ZMQ context"
    return ""


def _close(fd):
    with contextlib.suppress(OSError):
        os.close(fd)


# ---------------------------------------------------------------- the child


def _child(request, fds):
    """pid 1 of the kernel's pid namespace: confine, fork the kernel, reap."""
    try:
        keep = _keep_only(request, fds)
        ag_confine.join_cgroups([keep[i] for i in request["cgroups"]])
        ag_confine.new_namespaces()
        folders = [(keep[i], target) for i, target in request["folders"]]
        ag_confine.mount_private(folders, request["scratch_bytes"], request["datasets"],
                                 STAGING)
        ag_confine.loopback_up()
        ag_confine.set_rlimits(request["rlimits"])
        os.chdir("/content")
        os.setsid()
        kernel = os.fork()
        if kernel == 0:
            _kernel(request, keep[request["bridge"]])
        _close(keep[request["bridge"]])
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ag_confine.drop_privileges(request["uid"])
        ag_confine.die_with_parent(signal.SIGKILL)
        ag_confine.set_name("ag-init")
        os._exit(_reap_until(kernel))
    except BaseException:
        _fail()


def _keep_only(request, fds):
    """Close every descriptor of the template's except stdio and this request's; stdout
    and stderr go to the kernel's log. Returns the request's descriptors by index."""
    log = fds[request["log"]]
    os.dup2(log, 1)
    os.dup2(log, 2)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    wanted = sorted(set(fds) - {0, 1, 2})
    low = 3
    for fd in wanted:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)
    return fds


def _reap_until(kernel):
    """Reap every process that ends here; exit as bubblewrap does when the kernel ends:
    its status, or 128 + the signal that killed it."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == kernel:
            return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) \
                else os.WEXITSTATUS(status)


def _kernel(request, bridge):
    """pid 2: drop every privilege, take the kernel's environment, become ipykernel."""
    try:
        os.dup2(bridge, 3)
        os.closerange(4, 1 << 20)
        ag_confine.drop_privileges(request["uid"])
        ag_confine.set_dumpable()
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.update(IMPORT_ENV)   # what the template's imports set (a spawned kernel's
        os.environ.update({"AG_BRIDGE_FD": "3", "PWD": "/content"})  # imports set it too)
        _fresh_state(int(request["threads"]))
        _start_kernel(request["connection_file"])
    except BaseException:
        _fail()
    os._exit(0)


def _fresh_state(threads):
    """What a freshly started interpreter would have: its own random seeds (``random``
    reseeds itself after a fork), its share of threads."""
    numpy_random = sys.modules.get("numpy.random")  # not imported yet: seeded when it is
    if numpy_random is not None:
        numpy_random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(1, threads))
    # The template's objects stay frozen (never collected): a collection that walked
    # them would copy every page of the template into this kernel.


def _start_kernel(connection_file):
    from ipykernel.kernelapp import IPKernelApp

    if sys.path and sys.path[0] == "":
        del sys.path[0]   # as ipykernel_launcher does; IPython adds the working folder back
    argv = ["-f", connection_file, *KERNEL_ARGS]
    launcher = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [launcher.origin if launcher and launcher.origin else "", *argv]
    app = IPKernelApp.instance()
    app.initialize(argv)
    app.start()


def _fail():
    try:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(125)


# ---------------------------------------------------------------- start-up


def preload(names):
    """Import ``names`` (each optional), then the modules every kernel needs; note the
    environment variables those imports set (``IMPORT_ENV``)."""
    before = dict(os.environ)
    loaded, skipped = [], []
    for name in [*ALWAYS, *names]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a module that fails here is imported by the kernel itself
            skipped.append(f"{name}: {type(exc).__name__}")
    IMPORT_ENV.update({k: v for k, v in os.environ.items() if before.get(k) != v})
    return loaded, skipped


def warm_matplotlib(loaded):
    """Render one small figure to memory where the preloads include matplotlib: a
    kernel's first plot otherwise loads fonts, builds text layouts and imports the PNG
    writer (about half its time on 13_n). Through the object API, so pyplot's state
    (figure numbers, the current figure) stays as a fresh interpreter's."""
    if not any(name == "matplotlib" or name.startswith("matplotlib.") for name in loaded):
        return
    import io

    with contextlib.suppress(Exception):  # only ever a speed-up
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3, 2))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot([0.0, 1.0], [0.0, 1.0], label="x")
        ax.set_title("warm-up")
        ax.set_xlabel("x")
        ax.legend()
        ax.grid(True)
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")


def main():
    ctl = socket.socket(fileno=int(os.environ.pop("AG_ZYGOTE_FD")))
    os.set_inheritable(ctl.fileno(), False)
    try:
        ag_confine.limit_bounding_set(ag_confine.TEMPLATE_CAPS)
        gc.disable()  # the imports make few cycles, and full collections of a growing heap
        loaded, skipped = preload(json.loads(os.environ.pop("AG_ZYGOTE_PRELOAD", "[]")))
        warm_matplotlib(loaded)   # cost them 10 % more time (one collection below)
        pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        gc.collect()
        gc.freeze()   # children do not touch (and so copy) the template's objects to collect
        gc.enable()   # kernels collect as any interpreter does
        unsafe = _fork_safe()
    except BaseException as exc:
        send(ctl, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    send(ctl, {"ok": not unsafe, "error": unsafe, "pid": os.getpid(), "loaded": loaded,
               "skipped": skipped})
    if not unsafe:
        Template(ctl, pidns).serve()


if __name__ == "__main__":
    main()
