"""The worker confines itself: Landlock for files and TCP, seccomp for other sockets.

Used at the ``landlock`` isolation level (:mod:`~lenet_course.grading.jail`): the grader runs
as root but bubblewrap cannot start (Docker's default seccomp profile refuses the namespaces
it needs), while the Landlock system calls are allowed there (moby#43199, 2022). The worker
has already dropped to its own uid with ``no_new_privs``; before it imports torch or any
student code it calls :func:`confine`, and from then on it and every process it starts can:

- read (and execute) only the trees in ``read``, list only the folders in ``list_only`` and read
  only the files in ``files``; everything else, the kit's reference modules, ``solutions/``,
  ``tests/``, the class folder and the results included, cannot be opened;
- write only the trees in ``write`` (its scratch folder);
- neither connect nor bind a TCP port (Landlock network rules, ABI 4 and later), nor open a
  socket of any family but ``AF_UNIX`` (a seccomp filter: UDP, raw, netlink, ...), nor set
  up an io_uring, whose requests seccomp cannot see;
- neither signal nor reach abstract UNIX sockets of processes outside its domain (Landlock
  scopes, ABI 6 and later).

Why a small ctypes module of our own and not a package from the index: the whole interface is
three Landlock system calls with three flat structs, and one ``prctl`` with a 14-instruction
BPF program, all fixed kernel ABI. The candidates on the index are ``landlock`` (1.0.0.dev5, a
pre-release), ``landlockpy`` (0.2.0) and, for seccomp, ``pyseccomp`` (0.1.2 of 2021, ctypes
over libseccomp, so the image would also need libseccomp at run time). Each would be a
dependency of every install, student releases included, and code the worker imports before
it is confined, for about 150 lines we can read in one sitting. This file runs inside the
worker and student code can read it, which is fine: it holds no answer.

It must run while the process has one thread: Landlock and seccomp apply to the calling
thread and the threads and processes it creates afterwards.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import struct

# Landlock system calls: the same numbers on every architecture (the generic table).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2

# Filesystem access rights (linux/landlock.h), by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1  # EXECUTE ... MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV  # what a file can hold

READ = EXECUTE | READ_FILE | READ_DIR

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

# seccomp: (AUDIT_ARCH, socket, io_uring_setup) per machine.
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}
_X32_SYSCALL_BIT = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(OSError):
    """The kernel refused to confine the worker; the worker must not go on unconfined."""


def _syscall(number: int, *args) -> int:
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, os.strerror(err))
    return result


def _prctl(option: int, arg2: int, arg3=0) -> int:
    """prctl with full-width arguments: the kernel checks that the unused ones are 0."""
    third = ctypes.c_ulong(arg3) if isinstance(arg3, int) else arg3
    zero = ctypes.c_ulong(0)
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), third, zero, zero)


@functools.cache
def abi() -> int:
    """The Landlock ABI version the kernel offers this process; 0 where there is none
    (a kernel before 5.13, Landlock not in the ``lsm=`` list, or a seccomp profile that
    refuses the call)."""
    if platform.system() != "Linux":
        return 0
    try:
        return _syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except LandlockError:
        return 0


def network_filter_supported() -> bool:
    """Whether this machine's seccomp filter can be built (its architecture is known)."""
    return platform.machine() in _ARCHES


def _handled_fs(version: int) -> int:
    rights = _FS_ABI1
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def _add_path(ruleset: int, path: str, allowed: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine lacks needs no rule
    try:
        if not os.path.isdir(path):
            allowed &= _FILE_RIGHTS
        # struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } packed
        attr = ctypes.create_string_buffer(struct.pack("=Qi", allowed & handled, fd))
        _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, attr, 0)
    finally:
        os.close(fd)


def _seccomp_program() -> bytes:
    """BPF: on a foreign ABI (i386's int 0x80, x32) refuse every call; refuse
    ``io_uring_setup``; allow ``socket`` only for ``AF_UNIX``; allow everything else."""
    arch, socket_nr, uring_nr = _ARCHES[platform.machine()]
    ld_abs_w, jeq_k, jge_k, ret_k = 0x20, 0x15, 0x35, 0x06
    allow = 0x7FFF0000
    deny_eafnosupport = 0x00050000 | errno.EAFNOSUPPORT
    deny_eperm = 0x00050000 | errno.EPERM
    deny_enosys = 0x00050000 | errno.ENOSYS
    af_unix = 1
    program = [
        (ld_abs_w, 0, 0, 4),  # 0: A = arch
        (jeq_k, 1, 0, arch),  # 1: native? skip the next
        (ret_k, 0, 0, deny_enosys),  # 2: foreign ABI
        (ld_abs_w, 0, 0, 0),  # 3: A = nr
        (jge_k, 0, 1, _X32_SYSCALL_BIT),  # 4: x32 call?
        (ret_k, 0, 0, deny_enosys),  # 5
        (jeq_k, 0, 1, uring_nr),  # 6: io_uring_setup?
        (ret_k, 0, 0, deny_eperm),  # 7
        (jeq_k, 1, 0, socket_nr),  # 8: socket? go to 10
        (ret_k, 0, 0, allow),  # 9: any other call
        (ld_abs_w, 0, 0, 16),  # 10: A = low 32 bits of args[0], the family
        (jeq_k, 0, 1, af_unix),  # 11
        (ret_k, 0, 0, allow),  # 12: AF_UNIX
        (ret_k, 0, 0, deny_eafnosupport),  # 13: every other family
    ]
    return b"".join(struct.pack("=HBBI", *ins) for ins in program)


def _install_seccomp() -> None:
    program = _seccomp_program()
    filters = ctypes.create_string_buffer(program)
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    prog = ctypes.create_string_buffer(
        struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(filters))
    )
    if _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, prog) != 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"seccomp filter refused: {os.strerror(err)}")


def confine(*, read=(), list_only=(), files=(), write=()) -> int:
    """Restrict this process and all it starts to the given paths and to no network.

    ``read``: trees it may read and execute; ``list_only``: folders whose entries it may
    list (and no more); ``files``: single files it may read; ``write``: trees it may read,
    write, create in and delete from. Returns the ABI used. Raises :class:`LandlockError`
    where the kernel has no Landlock or refuses the rules: the caller must then stop."""
    version = abi()
    if version < 1:
        raise LandlockError(errno.ENOSYS, "this kernel offers no Landlock")
    handled = _handled_fs(version)
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if version >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if version >= 6 else 0
    # struct landlock_ruleset_attr { __u64 handled_access_fs, handled_access_net, scoped; }
    if version >= 6:
        attr = struct.pack("=QQQ", handled, net, scoped)
    elif version >= 4:
        attr = struct.pack("=QQ", handled, net)
    else:
        attr = struct.pack("=Q", handled)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall(_CREATE_RULESET, buffer, len(attr), 0)
    try:
        for path in read:
            _add_path(ruleset, path, READ, handled)
        for path in list_only:
            _add_path(ruleset, path, READ_DIR, handled)
        for path in files:
            _add_path(ruleset, path, READ_FILE | EXECUTE, handled)
        for path in write:
            _add_path(ruleset, path, handled, handled)
        # no network rule: with CONNECT_TCP and BIND_TCP handled, every port is refused
        if _prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"no_new_privs refused: {os.strerror(err)}")
        _install_seccomp()
        _syscall(_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    return version
