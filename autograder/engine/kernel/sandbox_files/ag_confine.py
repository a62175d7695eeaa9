"""How a forked kernel confines itself before any student code runs (kernel template side).

Used by ``ag_zygote`` in the child it forks for one submission; see docs/security.md,
"Forked kernels", for the argument. The steps, in the order they must happen:

1. ``join_cgroups``: write ``0`` ("this process") into the ``cgroup.procs`` files the
   grader opened and sent (the write is checked against the *opener's* rights and
   cgroup namespace, so the child needs no view of the cgroup file system);
2. ``new_namespaces``: own mount, network, IPC, UTS and cgroup namespaces (the pid
   namespace is made by the template before the fork: the child is its pid 1);
3. ``mount_private``: a fresh ``/proc`` for the new pid namespace, the kernel's own
   folders attached from the detached mounts the grader made (``open_tree``), the
   datasets bound read-only, the template's staging mounts taken away;
4. ``drop_privileges``: no capability in any set, the slot's uid and gid, no groups,
   ``no_new_privs``; checked in ``/proc/self/status`` afterwards, and a child that
   does not pass the check exits before it runs anything.

Every call goes straight to libc (``ctypes``): Python 3.11 has no ``unshare``/``mount``.
Nothing here trusts the student: it all happens before the kernel starts.
"""

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import resource
import socket
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 0x2

SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429   # the same number on every architecture
MOVE_MOUNT_F_EMPTY_PATH = 0x4

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NAME = 1, 4, 15
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# What the template keeps (CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_NET_ADMIN, CAP_SYS_ADMIN)
TEMPLATE_CAPS = frozenset({6, 7, 8, 12, 21})
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfineError(Exception):
    """A confinement step failed: the child must exit without running anything."""


def _check(result, what):
    if result < 0:
        code = ctypes.get_errno()
        raise ConfineError(f"{what}: {os.strerror(code)} (errno {code})")
    return result


def _path(text):
    return None if text is None else os.fsencode(text)


# ---------------------------------------------------------------- namespaces


def unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def setns(fd, nstype):
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_path(source), _path(target), _path(fstype), ctypes.c_ulong(flags),
                       _path(data)), f"mount {target}")


def umount(target):
    _check(_libc.umount2(_path(target), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def move_mount(fd, target):
    """Attach the detached mount ``fd`` (the grader's ``open_tree``) at ``target``."""
    _check(_libc.syscall(ctypes.c_long(SYS_MOVE_MOUNT), ctypes.c_int(fd), b"",
                         ctypes.c_int(-100), _path(target),
                         ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), f"move_mount {target}")


def prctl(option, arg=0):
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl({option})")


def set_name(name):
    buf = ctypes.create_string_buffer(name.encode("ascii")[:15])
    _libc.prctl(ctypes.c_int(PR_SET_NAME), buf, 0, 0, 0)


# ---------------------------------------------------------------- the child's steps


def join_cgroups(fds):
    """Move this process into each cgroup whose ``cgroup.procs`` the grader opened."""
    for fd in fds:
        try:
            os.write(fd, b"0")
        except OSError as exc:
            raise ConfineError(f"joining the kernel's cgroup: {exc.strerror}") from None
        finally:
            os.close(fd)


def new_namespaces():
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back to the template


def mount_private(folders, scratch_bytes, datasets, staging):
    """``/proc``, the kernel's folders (``[(fd, target)]``; ``/tmp`` and ``/dev/shm`` get
    fresh tmpfs of ``scratch_bytes`` when the grader sent none), the datasets."""
    umount("/proc")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for entry in PROC_READ_ONLY:  # as bubblewrap covers them
        _read_only(f"/proc/{entry}")
    targets = {target for _, target in folders}
    for fd, target in folders:
        _replace_mount(target)
        move_mount(fd, target)
        os.close(fd)
    for target in ("/tmp", "/dev/shm"):
        if target not in targets:
            _replace_mount(target)
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
                  f"size={scratch_bytes},mode=1777")
    _bind_datasets(datasets, staging)


def _read_only(path):
    if os.path.exists(path):
        mount(path, path, None, MS_BIND | MS_REC)
        mount(None, path, None,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _replace_mount(target):
    """Take the template's own mount at ``target`` away (if it has one) first, so that
    nothing of the template's stays below the kernel's folder."""
    with contextlib.suppress(ConfineError):  # a plain folder of the template's: nothing
        umount(target)


def _bind_datasets(names, staging):
    for name in names:
        source = f"{staging}/{name}"
        for dest in (f"/content/{name}", f"/content/data/{name}"):
            mount(source, dest, None, MS_BIND | MS_REC)
            mount(None, dest, None,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        umount(source)


def loopback_up():
    """Bring ``lo`` up in the new network namespace, as bubblewrap does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def set_rlimits(limits):
    """``limits``: {"NPROC": n, ...}; each soft and hard limit set to n."""
    for name, value in limits.items():
        kind = getattr(resource, "RLIMIT_" + name)
        resource.setrlimit(kind, (value, value))


# ---------------------------------------------------------------- privileges


def limit_bounding_set(keep):
    """Drop every capability but ``keep`` from the bounding set (the template's own)."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(64):
        if cap in keep:
            continue
        if _libc.prctl(ctypes.c_int(PR_CAPBSET_DROP), ctypes.c_ulong(cap), 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:
                return   # past the last capability this Linux knows
            raise ConfineError(f"cannot drop capability {cap}")


def drop_privileges(uid):
    """The slot's uid/gid, no groups, no capability in any set, ``no_new_privs``."""
    cap = 0
    while _libc.prctl(ctypes.c_int(PR_CAPBSET_DROP), ctypes.c_ulong(cap), 0, 0, 0) == 0:
        cap += 1
    if ctypes.get_errno() != errno.EINVAL or cap < 32:
        raise ConfineError("could not empty the capability bounding set")
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)   # leaving uid 0 clears the permitted and effective sets
    _capset_none()                # ... and this the inheritable one
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    verify_dropped(uid)


def _capset_none():
    header = struct.pack("Ii", _CAPABILITY_VERSION_3, 0)
    data = ctypes.create_string_buffer(24)   # two zeroed {effective, permitted, inheritable}
    _check(_libc.capset(ctypes.c_char_p(header), data), "capset")


def verify_dropped(uid):
    """Read back what the kernel says; raise unless every privilege is gone."""
    with open("/proc/self/status", encoding="ascii") as fh:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    wanted = {f"Cap{s}": "0000000000000000" for s in ("Inh", "Prm", "Eff", "Bnd", "Amb")}
    wanted["NoNewPrivs"] = "1"
    wrong = [k for k, v in wanted.items() if status.get(k) != v]
    ids = f"{uid}\t{uid}\t{uid}\t{uid}"
    if status.get("Uid") != ids or status.get("Gid") != ids or status.get("Groups", "").strip():
        wrong.append("Uid/Gid/Groups")
    if wrong:
        raise ConfineError("privileges left after the drop: " + ", ".join(wrong))


def die_with_parent(signal_number):
    prctl(PR_SET_PDEATHSIG, signal_number)


def set_dumpable():
    """As after ``execve`` in a spawned kernel: the student's own ``/proc/self`` files
    belong to the student (a uid change without exec leaves the process non-dumpable)."""
    prctl(PR_SET_DUMPABLE, 1)
