"""Which confinement this process can give kernels, and the loud one-time warnings.

Part of ``sandbox.py`` (which re-exports everything public here): ``sandbox_mode`` picks
``bwrap`` or ``none`` (``AUTOGRADER_SANDBOX``, a probe of bubblewrap), ``warn_no_sandbox``
and ``warn_soft_limits`` say once per process what is then not enforced. The few host
facts both halves need (bubblewrap's namespace flags, where Python lives, whether the
kernel's uid can reach it) live here too, so that this module imports nothing above it.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ...core.errors import SandboxError
from ...core.i18n import Lang, tr

Mode = Literal["bwrap", "none"]

KERNEL_UID_BASE = 61000


def bwrap_available() -> bool:
    """True when ``bwrap`` is installed *and* can build a sandbox here."""
    return _bwrap_probe(os.geteuid() == 0)


@functools.lru_cache(maxsize=2)
def _bwrap_probe(as_root: bool) -> bool:
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    probe = [exe, *_namespace_args(as_root), "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def sandbox_mode(*, lang: Lang | None = None) -> Mode:
    """``bwrap`` normally; ``none`` (after a loud warning) where bwrap cannot be used.

    ``AUTOGRADER_SANDBOX``: ``auto`` (default), ``bwrap`` (missing bwrap is an error) or
    ``none`` (explicitly run without bubblewrap).
    """
    wanted = os.environ.get("AUTOGRADER_SANDBOX", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "bwrap", "none"):
        raise SandboxError(f"AUTOGRADER_SANDBOX={wanted!r} is not understood",
                           where="environment", hint="use auto, bwrap or none")
    if wanted != "none" and bwrap_available():
        return "bwrap"
    if wanted == "bwrap":
        raise SandboxError("bubblewrap (bwrap) is missing or cannot create namespaces",
                           where="AUTOGRADER_SANDBOX=bwrap",
                           hint="apt-get install bubblewrap, or allow user namespaces")
    warn_no_sandbox(lang=lang, requested=wanted == "none")
    return "none"


_WARNED = {"no_sandbox": False, "soft_limits": False}


def warn_no_sandbox(*, lang: Lang | None = None, requested: bool = False) -> bool:
    """Print the fallback warning once per process; True if it was printed now."""
    if _WARNED["no_sandbox"]:
        return False
    _WARNED["no_sandbox"] = True
    from rich.panel import Panel

    from ...core.console import err_console

    why = (tr(lang, ja="AUTOGRADER_SANDBOX=none が指定されています。",
              en="AUTOGRADER_SANDBOX=none is set.") if requested else
           tr(lang, ja="bubblewrap (bwrap) が見つからないか、名前空間を作れません。",
              en="bubblewrap (bwrap) is missing or cannot create namespaces."))
    body = why + "\n" + tr(
        lang,
        ja="学生のコードはリソース制限と専用ユーザーだけで実行されます。ネットワーク、"
           "隠しテスト、成績簿、他の提出物を隠すことはできません。\n"
           "本番の採点では `apt-get install bubblewrap` を実行してください。",
        en="Student code runs with resource limits and a dedicated user only: the network, "
           "hidden tests, the gradebook and other submissions are NOT hidden.\n"
           "Install bubblewrap (`apt-get install bubblewrap`) before real grading.")
    if os.geteuid() == 0 and not _reachable(KERNEL_UID_BASE, _python_prefixes()):
        body += "\n" + tr(
            lang,
            ja="さらに、Python が専用ユーザーから読めない場所にあるため、カーネルには全ファイルの"
               "読み取り権限 (CAP_DAC_READ_SEARCH) が与えられます。",
            en="Also, Python lives where the dedicated user cannot read it, so the kernel gets "
               "read access to every file (CAP_DAC_READ_SEARCH).")
    title = tr(lang, ja="⚠ サンドボックスなしで実行します", en="⚠ Running WITHOUT a sandbox")
    err_console.print(Panel(body, title=title, border_style="bold red"))
    return True


def warn_soft_limits(*, cgroup: bool, quota: bool, lang: Lang | None = None) -> bool:
    """Say once per process, loudly, which limits only a polling watchdog enforces
    (``cgroup``/``quota``: whether those could be made); True if it was printed now."""
    if (cgroup and quota) or _WARNED["soft_limits"]:
        return False
    _WARNED["soft_limits"] = True
    from rich.panel import Panel

    from ...core.console import err_console

    lines = []
    if not cgroup:
        lines.append(tr(
            lang,
            ja="カーネルごとの cgroup を作れません (root ではない、またはメモリ・プロセス数の"
               "コントローラがない)。メモリ上限は監視スレッドが 0.2 秒ごとに確かめるだけです "
               "(共有メモリ・tmpfs・memfd も数えますが、一瞬の超過は防げません)。",
            en="No cgroup can be made per kernel (not root, or no memory/pids controller). "
               "The memory limit is only checked by a watchdog every 0.2 s (it counts "
               "shared memory, tmpfs and memfds, but cannot prevent a brief overshoot)."))
    if not quota:
        lines.append(tr(
            lang,
            ja="書き込み用フォルダに容量制限付きの tmpfs をマウントできません (root ではない)。"
               "ディスク容量とファイル数の上限は監視スレッドが 1 秒ごとに確かめ、超えたカーネル"
               "を停止します。それまでの書き込みはホストのディスクに届きます。",
            en="No size-limited tmpfs can be mounted for the writable folders (not root). "
               "The disk and file-count quota is checked by a watchdog every second, which "
               "stops a kernel that exceeds it; until then its writes reach the host disk."))
    lines.append(tr(lang, ja="本番の採点は root で実行してください。",
                    en="Run real grading as root."))
    title = tr(lang, ja="⚠ 上限は監視だけで守られます", en="⚠ Limits are enforced by polling only")
    err_console.print(Panel("\n".join(lines), title=title, border_style="bold yellow"))
    return True


# ----------------------------------------------------------------------------- host facts


def _namespace_args(as_root: bool) -> list[str]:
    if as_root:
        # No user namespace: it would map the kernel to host root (see module docstring).
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try"]
    return ["--unshare-all", "--unshare-user", "--disable-userns"]


def _python_prefixes() -> list[Path]:
    found: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix):
        path = Path(raw).resolve()
        if not any(path == p or p in path.parents for p in [*found, Path("/usr")]):
            found.append(path)
    return found


def _reachable(uid: int, paths: Sequence[Path]) -> bool:
    """Can ``uid`` (with gid ``uid``, no groups) traverse to every path?"""
    for path in paths:
        for folder in [*reversed(path.parents), path]:
            st = os.stat(folder)
            bits = (stat.S_IXUSR if st.st_uid == uid else
                    stat.S_IXGRP if st.st_gid == uid else stat.S_IXOTH)
            if not st.st_mode & bits:
                return False
    return True
