"""The python provider: a pool of long-lived worker processes, each importing the
entrypoint once. A case that outlives its timeout gets its worker killed and replaced;
a worker that crashes fails only the case it was running.

Each worker runs in the sandbox (providers/sandbox.py) when one can be made, with an
environment of only PATH, HOME, LANG and the secrets spec.workflow.secrets names. Results
come back over the pipe; only this process writes the cache and the evidence."""

from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.documents.dataset import Case
from pipeline.documents.evidence import workflow_files
from pipeline.documents.inputs import DeclaredInput
from pipeline.documents.layout import EVIDENCE_DIR, priority_dir, resolve_inside
from pipeline.errors import InputError
from pipeline.model.priority import CI_CREDENTIALS, Workflow
from pipeline.providers.base import (
    CRASH,
    EXCEPTION,
    NOT_JSON,
    TIMEOUT,
    CaseOutput,
    failed,
)
from pipeline.providers.sandbox import WORKER_PATH, Mounts, Sandbox, command

_STARTUP_SECONDS = 60.0
_WORKER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_worker.py")
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What a worker's environment holds besides the declared secrets. The bytecode and hash
# settings keep the work tree clean and hashing deterministic across workers.
_BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
             "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
class WorkerGone(Exception):
    """The worker process ended (crash, exit or kill); the message says how."""


@dataclass(frozen=True)
class Entrypoint:
    folder: str  # absolute priority folder
    file: str  # relative to the folder
    function: str
    rel: str  # repo-relative file, for messages
    root: str = ""  # the repository's real root (messages inside the sandbox)
    inputs: tuple[DeclaredInput, ...] = ()
    files: tuple[str, ...] = ()  # the folder's code the sandbox shows (absolute paths)


@dataclass(frozen=True)
class Launch:
    """How workers start: inside the sandbox (`sandbox.available`) or, for an untrusted
    local run where none can be made, as plain processes."""

    entry: Entrypoint
    memory_mb: int
    env: Mapping[str, str]
    sandbox: Sandbox

    def argv(self) -> list[str]:
        entry = self.entry
        sandboxed = self.sandbox.bwrap is not None
        files = entry.files
        readable = [*files, *(i.target for i in entry.inputs)]
        worker = [sys.executable, "-s", "-P", "-B", WORKER_PATH if sandboxed else _WORKER_FILE,
                  entry.folder, entry.file, entry.function, str(self.memory_mb),
                  json.dumps({"root": entry.root, "readable": readable,
                              "sandboxed": sandboxed, "private": _private(entry)})]
        if self.sandbox.bwrap is None:
            return worker
        return command(self.sandbox.bwrap, Mounts(entry.folder, files, entry.inputs,
                                                  _WORKER_FILE), worker)


def _private(entry: Entrypoint) -> list[str]:
    """Places a workflow never reaches, named as such when it tries."""
    return [os.path.join(entry.root, ".git"),
            *(os.path.join(entry.folder, p) for p in (EVIDENCE_DIR, "events", "status.yaml"))]


def resolve_entrypoint(root: str, key: str, workflow: Workflow,
                       inputs: tuple[DeclaredInput, ...] = ()) -> Entrypoint:
    if not workflow.entrypoint:
        raise InputError("the python provider needs spec.workflow.entrypoint (file.py:function)",
                         path=f"{priority_dir(key)}/priority.yaml")
    file, function = workflow.entrypoint.rsplit(":", 1)
    folder, _ = resolve_inside(root, priority_dir(key), ".")
    abs_file, rel = resolve_inside(root, priority_dir(key), file)
    if not abs_file.startswith(folder + os.sep):
        raise InputError(f"entrypoint '{file}' must be inside the priority folder",
                         path=f"{priority_dir(key)}/priority.yaml")
    if not os.path.isfile(abs_file):
        raise InputError("entrypoint file does not exist", path=rel)
    files = tuple(os.path.join(folder, f) for f in workflow_files(folder))
    return Entrypoint(folder, os.path.relpath(abs_file, folder), function, rel,
                      os.path.realpath(root), inputs, files)


def worker_env(env: Mapping[str, str], secrets: Sequence[str], where: str) -> dict[str, str]:
    """PATH, HOME, LANG and the declared secrets that are set; nothing else."""
    out = dict(_BASE_ENV)
    for i, name in enumerate(secrets):
        if name in CI_CREDENTIALS:
            raise InputError(f"spec.workflow.secrets[{i}]: {name} is a CI credential; "
                             "workflow code is never handed one", path=where)
        if name in env:
            out[name] = env[name]
    return out


def installed_versions(requirements: Sequence[str], where: str) -> dict[str, str]:
    """The installed version of each declared requirement; InputError when one is not
    installed (the run would test something other than what the spec says)."""
    versions: dict[str, str] = {}
    for i, requirement in enumerate(requirements):
        match = _REQUIREMENT_NAME.match(requirement)
        name = match.group(0) if match else requirement
        try:
            versions[requirement] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise InputError(f"spec.workflow.requirements[{i}]: '{name}' is not installed "
                             f"(pip install '{requirement}' where ailoop runs)",
                             path=where) from None
    return versions


class Worker:
    """One worker process speaking JSON lines over its stdin/stdout."""

    def __init__(self, launch: Launch) -> None:
        self.proc = subprocess.Popen(launch.argv(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     cwd=launch.entry.folder, env=dict(launch.env),
                                     start_new_session=True)
        self.sandboxed = launch.sandbox.available
        self._buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerGone(self._how_it_ended()) from None

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when `timeout` seconds pass first."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerGone(self._how_it_ended())
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        assert isinstance(message, dict)
        return message

    def _how_it_ended(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "worker stopped answering"
        if code < 0:
            return f"worker crashed (signal {-code})"
        if self.sandboxed and code > 128:  # bwrap reports a killed child as 128 + signal
            return f"worker crashed (signal {code - 128})"
        return f"worker exited (code {code})"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def start_worker(launch: Launch) -> Worker:
    """A ready worker; InputError when the entrypoint cannot be imported."""
    entry = launch.entry
    worker = Worker(launch)
    try:
        hello = worker.receive(_STARTUP_SECONDS)
    except WorkerGone as e:
        raise InputError(f"cannot start the workflow: {e}", path=entry.rel) from None
    if hello is None or "fatal" in hello:
        worker.kill()
        reason = "it did not start in time" if hello is None else str(hello["fatal"])
        raise InputError(f"cannot load the workflow: {reason}", path=entry.rel)
    return worker


class PythonProvider:
    name = "python"

    def __init__(self, entry: Entrypoint, workflow: Workflow, sandbox: Sandbox,
                 env: Mapping[str, str] | None = None) -> None:
        self.entry = entry
        self.timeout = workflow.timeout_seconds
        self.memory_mb = workflow.memory_mb
        self.version = workflow.version
        self.sandbox = sandbox
        where = f"{os.path.relpath(entry.folder, entry.root or '.')}/priority.yaml"
        self.requirements = installed_versions(workflow.requirements, where)
        self.env = worker_env(os.environ if env is None else env, workflow.secrets, where)
        self.secrets = tuple(v for k, v in self.env.items() if k not in _BASE_ENV)
        self._launch = Launch(entry, self.memory_mb, self.env, sandbox)
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._idle.put(self._spawn())  # fail fast: a broken entrypoint is an input error

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name, "entrypoint": f"{self.entry.file}:{self.entry.function}",
            "version": self.version, "timeoutSeconds": self.timeout, "memoryMb": self.memory_mb,
            "sandbox": self.sandbox.describe()}
        if self.requirements:
            described["requirements"] = self.requirements
        return described

    def _spawn(self) -> Worker:
        worker = start_worker(self._launch)
        with self._lock:
            self._all.append(worker)
        return worker

    def _checkout(self) -> Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._spawn()

    def run(self, case: Case) -> CaseOutput:
        try:
            worker = self._checkout()
        except InputError as e:
            return failed(CRASH, f"worker failed to start: {e.detail}")
        started = time.monotonic()
        try:
            worker.send({"input": case.input})
            reply = worker.receive(self.timeout)
        except WorkerGone as e:
            self._retire(worker)
            return failed(CRASH, str(e), _ms_since(started))
        if reply is None:
            self._retire(worker)
            return failed(TIMEOUT, f"no answer within {self.timeout:g} s (worker replaced)",
                          _ms_since(started))
        self._idle.put(worker)
        return _to_output(reply, _ms_since(started))

    def _retire(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()


def _to_output(reply: dict[str, Any], latency_ms: float) -> CaseOutput:
    if "output" in reply:
        return CaseOutput(output=reply["output"], latency_ms=latency_ms)
    if "notJson" in reply:
        return failed(NOT_JSON, f"output is not JSON (a {reply['notJson']})", latency_ms)
    return failed(EXCEPTION, str(reply.get("error", "unknown error")), latency_ms)


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
