"""Where workflow code runs: a bubblewrap sandbox that sees only the Python installation,
ailoop's worker module, the priority folder's code (the files the fingerprint covers) and
the declared inputs, all read-only, with a private /tmp and the network. Workflow code is
untrusted: it must not be able to write the repository, .git, the dry-run cache or
evidence, nor read anything the fingerprint does not cover.

Whether a sandbox can be made is probed once per bwrap binary: bubblewrap may be missing,
or the kernel may refuse unprivileged user namespaces (GitHub-hosted Ubuntu 24.04 runners
do, through AppArmor, until the sysctl below is set).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.documents.inputs import DeclaredInput

FIX = ("install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap); on "
       "GitHub-hosted Ubuntu 24.04 runners also allow unprivileged user namespaces: "
       "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
# Inside the sandbox ailoop's worker is this one file, not the ailoop package.
WORKER_PATH = "/.ailoop/python_worker.py"
# No namespace is shared but the network (model providers need it). No capability is
# kept, so a workflow cannot remount its read-only binds writable; it runs as nobody.
NAMESPACES = ("--unshare-all", "--share-net", "--die-with-parent", "--new-session",
              "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534")
# Read-only files of /etc that name resolution, TLS and the dynamic linker need; none
# holds a secret.
_ETC = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
        "/etc/gai.conf", "/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/localtime",
        "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_PROBE_SECONDS = 20


@dataclass(frozen=True)
class Sandbox:
    """A usable bwrap binary, or why none could be made."""

    bwrap: str | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.bwrap is not None

    def describe(self) -> str:
        return "bubblewrap" if self.available else f"none ({self.reason})"

    def for_repo(self, root: str) -> Sandbox:
        """This sandbox, unless a Python path it must mount holds the repository (a venv
        the repository sits in): mounting it would expose .git and the cache."""
        holding = covering(python_paths(), root)
        if self.bwrap is None or holding is None:
            return self
        return Sandbox(None, f"the Python installation {holding} contains the repository, "
                             "so the sandbox cannot hide it; run ailoop from a Python "
                             "installed outside the repository")


@dataclass(frozen=True)
class Mounts:
    folder: str  # the priority folder, real path: the worker's working directory
    # The folder's files the fingerprint covers (its *.py): not evidence, events, status or
    # anything else the workflow could read without it changing the evidence id.
    files: tuple[str, ...]
    inputs: tuple[DeclaredInput, ...]
    worker: str  # python_worker.py on the host


def find_sandbox(env: Mapping[str, str]) -> Sandbox:
    bwrap = shutil.which("bwrap", path=env.get("PATH", os.defpath))
    if bwrap is None:
        return Sandbox(None, "bubblewrap (bwrap) is not installed")
    failure = _probe(os.path.realpath(bwrap))
    if failure is not None:
        return Sandbox(None, f"bubblewrap cannot create a sandbox here: {failure}")
    return Sandbox(bwrap)


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str) -> str | None:
    """None when bwrap can make the namespaces the workers use, else its complaint."""
    true = shutil.which("true") or "/bin/true"
    try:
        done = subprocess.run([bwrap, *NAMESPACES, "--ro-bind", "/", "/", true],
                              capture_output=True, timeout=_PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e) or type(e).__name__
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else f"exit code {done.returncode}"


def python_paths() -> list[str]:
    """The running Python installation (and its venv): the worker's interpreter."""
    exe = os.path.realpath(sys.executable)
    return _outermost([sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix,
                       os.path.dirname(os.path.dirname(exe))])


def covering(paths: Sequence[str], root: str) -> str | None:
    """The first of `paths` that is the repository root or a folder above it."""
    real = os.path.realpath(root)
    return next((p for p in paths if real == p or real.startswith(p.rstrip("/") + "/")), None)


def _outermost(paths: Sequence[str]) -> list[str]:
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})
    out: list[str] = []
    for path in real:
        if not any(path == o or path.startswith(o.rstrip("/") + "/") for o in out):
            out.append(path)
    return out


def command(bwrap: str, mounts: Mounts, argv: Sequence[str]) -> list[str]:
    """bwrap's command line around `argv`. /tmp comes first: binds below it (a test's
    repository) are mounted over the private /tmp, not hidden by it."""
    args = [bwrap, *NAMESPACES, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in python_paths():
        args += ["--ro-bind", path, path]
    for path in _ETC:
        args += ["--ro-bind-try", path, path]
    # The folder is an empty file system holding only its code; made read-only below, like
    # the root, where bwrap makes the folders above each mount point.
    args += ["--tmpfs", mounts.folder]
    for path in mounts.files:
        args += ["--ro-bind", path, path]
    for inp in mounts.inputs:
        args += ["--ro-bind", inp.source, inp.target]
    args += ["--ro-bind", mounts.worker, WORKER_PATH, "--remount-ro", mounts.folder,
             "--remount-ro", "/", "--chdir", mounts.folder, "--", *argv]
    return args
