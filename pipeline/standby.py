"""A warm standby for small validate runs: a process that has already imported pydantic, the
models and the policy modules, and forks a checker for each run that asks.

A `validate` over a few files spends most of its time importing (see pipeline.checker). The
first such run leaves a standby behind: its early checker, once warm, forks a detached
copy of itself that listens on a Unix socket. Each later run connects, and the standby
forks a handler for it, warm at once; the handler answers that one run and exits, so no
run ever sees what another left in memory. The standby itself never reads a repository.

It is an optimisation only, and it gets out of the way:
- it exits after `AILOOP_STANDBY_IDLE` seconds (600) without a run, when its socket is
  removed or replaced (`ailoop standby stop`), and when a run's code differs from its own
  (the fingerprint of the interpreter, the import path and ailoop's source files);
- it answers only processes of its own user (SO_PEERCRED), on a socket in a folder only
  that user may enter;
- it holds no terminal, no output pipe and no working folder of the run that started it;
- it is off where `AILOOP_STANDBY=off`, and by default under CI (`CI` set), where every
  run is the first; `AILOOP_STANDBY=on` turns it on there.
Whatever fails, the run falls back to an early checker of its own, with the same results.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable, Mapping

ENV = "AILOOP_STANDBY"
IDLE_ENV = "AILOOP_STANDBY_IDLE"
DEFAULT_IDLE_SECONDS = 600.0
_TICK_SECONDS = 2.0  # how often an idle standby checks that its socket is still its own
_HELLO_SECONDS = 1.0  # for the greeting both ways; a live standby answers in milliseconds
_READY = b"R"  # a handler is forked and waiting for the request
_STATUS = b"status".ljust(64, b" ")  # a greeting of the fingerprint's length: how are you?
_STALE = b"S"  # the run's code differs: the standby exits, the run checks without it
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether runs use (and leave) a standby: AILOOP_STANDBY on/off, else on unless CI."""
    env = os.environ if env is None else env
    if not (hasattr(os, "fork") and hasattr(socket, "AF_UNIX")
            and hasattr(socket, "SO_PEERCRED")):
        return False  # the peer's user can only be checked where SO_PEERCRED exists
    value = env.get(ENV, "").strip().lower()
    if value in ("on", "1", "yes", "true"):
        return True
    if value in ("off", "0", "no", "false"):
        return False
    return env.get("CI", "").strip().lower() in ("", "0", "false", "no")


def idle_seconds(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    try:
        value = float(env.get(IDLE_ENV, ""))
    except ValueError:
        return DEFAULT_IDLE_SECONDS
    return value if value > 0 else DEFAULT_IDLE_SECONDS


def socket_path() -> str | None:
    """The standby's socket for this installation (Python environment and ailoop package),
    in a private folder; None when no such folder can be had."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):
        folder = os.path.join(runtime, "ailoop")
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        folder = os.path.join(cache, "ailoop", "standby")
    if not _private_folder(folder):
        return None
    # sys.prefix, not sys.executable: a venv's python and python3 are one installation.
    install = hashlib.sha256(f"{sys.prefix}\0{_package_dir()}".encode()).hexdigest()
    path = os.path.join(folder, f"standby-{install[:16]}.sock")
    return path if len(os.fsencode(path)) <= _MAX_SOCKET_PATH else None


def _private_folder(folder: str) -> bool:
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() \
        and stat.S_IMODE(st.st_mode) & 0o077 == 0


def _package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fingerprint() -> bytes:
    """What a run's code is made of: a standby serves only runs with the same (an upgrade
    or an edit of ailoop's source makes the old standby exit)."""
    # Not sys.path[0]: the folder of the script run (the console script's, or the working
    # folder for `python -m pipeline`) holds none of the modules a check imports.
    path = sys.path[1:]
    interpreter = (os.path.realpath(sys.executable), sys.prefix, sys.version)
    digest = hashlib.sha256(repr((interpreter, path)).encode())
    for entry in path:  # installing or removing a package changes its folder
        try:
            digest.update(str(os.stat(entry or ".").st_mtime_ns).encode())
        except OSError:
            digest.update(b"-")
    package = os.path.join(_package_dir(), "pipeline")
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return digest.hexdigest().encode()


def connect() -> socket.socket | None:
    """A connection to a warm handler of the standby, or None (no standby, another code,
    no answer): the run then starts its own checker."""
    if not enabled():
        return None
    path = socket_path()
    if path is None or not os.path.exists(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_HELLO_SECONDS)
        sock.connect(path)
        sock.sendall(fingerprint())
        if sock.recv(1) == _READY:
            return sock
    except OSError:
        pass
    sock.close()
    return None


def stop() -> bool:
    """Remove the standby's socket: the standby sees it gone and exits within a tick.
    False when there was none."""
    path = socket_path()
    if path is None:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def status() -> dict[str, int | float] | None:
    """The standby's pid, the runs it has served and the seconds it has been idle; None
    when none answers. Asking does not make it exit, whatever its code."""
    path = socket_path()
    if path is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_HELLO_SECONDS)
        try:
            sock.connect(path)
            sock.sendall(_STATUS)
            answer = sock.makefile("rb").readline(200).decode("ascii", "replace")
        except OSError:
            return None
    fields = dict(part.partition("=")[::2] for part in answer.split())
    try:
        return {"pid": int(fields["pid"]), "served": int(fields["served"]),
                "idle": float(fields["idle"])}
    except (KeyError, ValueError):
        return None


Handler = Callable[[int, int], None]  # serves one request on (requests fd, replies fd)


def spawn(handle: Handler) -> None:  # pragma: no cover - runs in forked processes
    """Leave a standby behind: a detached copy of this (warm) process that serves runs
    with `handle`. Called by an early checker after its imports; returns at once."""
    path = socket_path() if enabled() else None
    if path is None:
        return
    code, idle = fingerprint(), idle_seconds()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the intermediate exits at once: the standby is nobody's child
        return
    try:
        os.setsid()  # no controlling terminal: a hangup or ^C of the run does not reach it
        if os.fork() == 0:
            _detach()
            _serve(path, code, idle, handle)
    finally:
        os._exit(0)


def _detach() -> None:  # pragma: no cover - runs in the standby
    """Let go of everything the run had open: above all its output pipes, which a caller
    reads to the end (a standby holding one would keep that caller waiting)."""
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, _max_fd())


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 1024


def _serve(path: str, code: bytes, idle: float,
           handle: Handler) -> None:  # pragma: no cover - runs in the standby
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    try:
        os.unlink(staging)
    except FileNotFoundError:
        pass
    listener.bind(staging)
    listener.listen(16)
    own = os.stat(staging).st_ino
    os.replace(staging, path)  # atomic: a run sees the old standby or this one
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    served, last = 0, time.monotonic()
    while _still_ours(path, own) and (left := last + idle - time.monotonic()) > 0:
        ready, _, _ = select.select([listener], [], [], min(_TICK_SECONDS, left))
        if not ready:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        verdict = _greet(conn, code)
        if verdict == _READY:
            if os.fork() == 0:
                listener.close()
                _handle(conn, handle)
            served, last = served + 1, time.monotonic()
        elif verdict == _STATUS:
            _answer_status(conn, served, time.monotonic() - last)
        conn.close()
        if verdict == _STALE:
            break
    if _still_ours(path, own):
        os.unlink(path)


def _greet(conn: socket.socket, code: bytes) -> bytes | None:  # pragma: no cover
    """_READY for a run of this user with this code, _STALE for one with other code (it is
    told so), _STATUS for a question, None for anything else."""
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        if _PEERCRED.unpack(creds)[1] != os.getuid():
            return None
        conn.settimeout(_HELLO_SECONDS)
        hello = b""
        while len(hello) < len(code):
            part = conn.recv(len(code) - len(hello))
            if not part:
                return None
            hello += part
        if hello == _STATUS:
            return _STATUS
        if hello != code:
            conn.sendall(_STALE)
            return _STALE
    except OSError:
        return None
    return _READY


def _answer_status(conn: socket.socket, served: int,
                   idle: float) -> None:  # pragma: no cover - runs in the standby
    try:
        conn.sendall(f"pid={os.getpid()} served={served} idle={idle:.1f}\n".encode())
    except OSError:
        pass


def _handle(conn: socket.socket, handle: Handler) -> None:  # pragma: no cover - a handler
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the standby's setting, not a check's
        conn.settimeout(None)
        conn.sendall(_READY)
        fd = conn.detach()
        handle(os.dup(fd), fd)
    finally:
        os._exit(0)


def _still_ours(path: str, own: int) -> bool:  # pragma: no cover - runs in the standby
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_ino == own and stat.S_ISSOCK(st.st_mode)
