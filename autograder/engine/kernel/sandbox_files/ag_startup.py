"""IPython extension loaded into every grading kernel (``--IPKernelApp.extensions``).

- ``!pip install …``, ``%pip install …``, ``!apt-get …`` (and conda/mamba/uv) are skipped
  with a message: the sandbox has no network, and pip would only retry until the cell
  times out. Other shell commands (``!ls``, ``!nvidia-smi``) run normally.
- ``exit()``/``quit()`` print a note instead of stopping the kernel (the rest of the
  notebook still runs).
- ``ag_bridge`` (and with it its parts ``ag_wire`` and ``ag_requests``) is imported
  before any student code, so it captures pristine builtins, and starts serving the
  grader's requests on the bridge channel (``ag_channel``).
- Inline figures are drawn once, not twice (``ag_figures``): the same tight PNG, cut
  from the one drawing where the figure's tight box lies inside it.
- On a kernel that shares its GPU with others (``AG_GPU_MEMORY_MB``, set by the grader:
  ``autograder/engine/kernel/gpu_env.py``), PyTorch's allocator is capped to that budget before any
  student code runs (``cap_gpu_memory``); this creates the CUDA context at start, which
  every notebook of a GPU assignment does anyway, and fixes MPS's per-client limit.

This runs inside the student's kernel: it is a convenience, not a security boundary.
"""

import contextlib
import functools
import os
import re
import shlex

_INSTALLERS = re.compile(r"^(pip[0-9.]*|apt|apt-get|aptitude|add-apt-repository|dpkg|conda|"
                         r"mamba|micromamba|uv|snap|yum|dnf|brew)$")
_PYTHON = re.compile(r"^python[0-9.]*$")
_WRAPPERS = {"sudo", "env", "time", "nohup", "command", "exec", "-E", "-H", "-y"}
_SPLIT = re.compile(r"&&|\|\||[;|&\n]")


def _first_command(tokens):
    while tokens and (tokens[0] in _WRAPPERS or re.match(r"^\w+=", tokens[0])):
        tokens = tokens[1:]
    return tokens


def installs_packages(command):
    """True if any part of a shell command line runs a package installer."""
    for segment in _SPLIT.split(str(command)):
        try:
            tokens = shlex.split(segment)
        except ValueError:
            tokens = segment.split()
        tokens = _first_command(tokens)
        if not tokens:
            continue
        name = tokens[0].rsplit("/", 1)[-1]
        if _INSTALLERS.match(name):
            return True
        if _PYTHON.match(name) and "-m" in tokens:
            after = tokens[tokens.index("-m") + 1:]
            if after[:1] in (["pip"], ["pip3"], ["ensurepip"]):
                return True
    return False


def skip_message(command):
    shown = " ".join(str(command).split())
    if len(shown) > 200:
        shown = shown[:200] + "…"
    return (f"[採点環境] `{shown}` は実行しません。採点中はパッケージをインストールできません"
            "（課題に必要なパッケージは用意されています）。\n"
            f"[grading] Skipped `{shown}`: packages cannot be installed during grading "
            "(the packages this assignment needs are already installed).")


def _guard(run, empty):
    def guarded(cmd, *args, **kwargs):
        if installs_packages(cmd):
            print(skip_message(cmd))
            return empty()
        return run(cmd, *args, **kwargs)

    return guarded


def _empty_slist():
    from IPython.utils.text import SList

    return SList()


def _line_magic(name):
    def magic(line=""):
        print(skip_message(f"{name} {line}".strip()))

    magic.__name__ = name
    return magic


def _cell_magic(run):
    def magic(line, cell):
        if installs_packages(cell):
            print(skip_message(cell.strip()))
            return None
        return run(line, cell)

    return magic


def _ignore_exit():
    print("[採点環境] exit() / quit() は採点中は無視されます。\n"
          "[grading] exit() / quit() is ignored during grading.")


def cap_gpu_memory(environ=None, torch=None):
    """Cap PyTorch's CUDA allocator to ``AG_GPU_MEMORY_MB``; the fraction set, or None.

    Not a boundary (the student's code could raise the fraction again): it keeps one
    careless notebook from taking the memory of the kernels that share its GPU.
    """
    environ = os.environ if environ is None else environ
    budget = environ.get("AG_GPU_MEMORY_MB", "")
    if not budget.isdigit() or int(budget) <= 0 or not environ.get("CUDA_VISIBLE_DEVICES"):
        return None
    if torch is None:
        import torch
    if not torch.cuda.is_available():
        return None
    total = torch.cuda.get_device_properties(0).total_memory
    fraction = min(1.0, int(budget) * (1 << 20) / total)
    torch.cuda.set_per_process_memory_fraction(fraction, 0)
    return fraction


def install(ip):
    ip.system = _guard(ip.system, lambda: None)
    ip.getoutput = _guard(ip.getoutput, _empty_slist)
    for name in ("pip", "conda", "mamba", "micromamba", "uv"):
        ip.register_magic_function(_line_magic(name), "line", name)
    cell_magics = ip.magics_manager.magics["cell"]
    for name in ("bash", "sh", "script", "system"):
        if name in cell_magics:
            cell_magics[name] = _cell_magic(cell_magics[name])
    ip.ask_exit = _ignore_exit  # what exit()/quit() call; it would stop the kernel
    with contextlib.suppress(ImportError):
        import ag_bridge  # with ag_wire, ag_requests: captures builtins before student code
        import ag_cells
        import ag_channel

        kernel = getattr(ip, "kernel", None)
        execute = None if kernel is None else functools.partial(ag_cells.execute, kernel)
        ag_channel.listen(ag_bridge.answer_bytes, ag_bridge.write_answer, execute)
    with contextlib.suppress(Exception):  # no torch or no CUDA: nothing to cap
        cap_gpu_memory()
    with contextlib.suppress(Exception):  # only ever a speed-up
        import ag_figures

        ag_figures.install()


def load_ipython_extension(ip):
    install(ip)
