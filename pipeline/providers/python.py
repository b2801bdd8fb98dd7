"""The python provider: a pool of long-lived worker processes, each importing the
entrypoint once. A case that outlives its timeout gets its worker killed and replaced;
a worker that crashes fails only the case it was running."""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.documents.dataset import Case
from pipeline.documents.layout import priority_dir, resolve_inside
from pipeline.errors import InputError
from pipeline.model.priority import Workflow
from pipeline.providers.base import (
    CRASH,
    EXCEPTION,
    NOT_JSON,
    TIMEOUT,
    CaseOutput,
    failed,
)

_STARTUP_SECONDS = 60.0
_WORKER_MODULE = "pipeline.providers.python_worker"
# CI credentials a workflow under test never needs: a pull request's code must not be able
# to read them (GitHub's token, the Actions runtime and OIDC tokens, where the bot's signing
# key is).
CI_CREDENTIALS = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN",
                            "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
                            "AILOOP_BOT_SIGNING_KEY"})


class WorkerGone(Exception):
    """The worker process ended (crash, exit or kill); the message says how."""


@dataclass(frozen=True)
class Entrypoint:
    folder: str  # absolute priority folder
    file: str  # relative to the folder
    function: str
    rel: str  # repo-relative file, for messages


def resolve_entrypoint(root: str, key: str, workflow: Workflow) -> Entrypoint:
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
    return Entrypoint(folder, os.path.relpath(abs_file, folder), function, rel)


class Worker:
    """One worker process speaking JSON lines over its stdin/stdout."""

    def __init__(self, entry: Entrypoint, memory_mb: int, env: Mapping[str, str]) -> None:
        argv = [sys.executable, "-P", "-m", _WORKER_MODULE, entry.folder, entry.file,
                entry.function, str(memory_mb)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=entry.folder, env=dict(env),
                                     start_new_session=True)
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


def start_worker(entry: Entrypoint, memory_mb: int, env: Mapping[str, str]) -> Worker:
    """A ready worker; InputError when the entrypoint cannot be imported."""
    worker = Worker(entry, memory_mb, env)
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

    def __init__(self, entry: Entrypoint, workflow: Workflow,
                 env: Mapping[str, str] | None = None) -> None:
        self.entry = entry
        self.timeout = workflow.timeout_seconds
        self.memory_mb = workflow.memory_mb
        self.version = workflow.version
        base = {k: v for k, v in (os.environ if env is None else env).items()
                if k not in CI_CREDENTIALS}
        # The work tree stays clean and hashing is deterministic across workers.
        self.env = {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._idle.put(self._spawn())  # fail fast: a broken entrypoint is an input error

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "entrypoint": f"{self.entry.file}:{self.entry.function}",
                "version": self.version, "timeoutSeconds": self.timeout,
                "memoryMb": self.memory_mb}

    def _spawn(self) -> Worker:
        worker = start_worker(self.entry, self.memory_mb, self.env)
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
