"""A long-lived worker process for the python provider (run as a script: inside the
sandbox this one file is all of ailoop there is, so it imports nothing but the standard
library).

Protocol: one JSON object per line. The worker answers {"ready": true} (or {"fatal": ...})
once the entrypoint is imported, then for each {"input": {...}} it answers {"output": v} or
{"error": "...", "type": "ExceptionName"} or {"notJson": "TypeName"}. The protocol runs over
private copies of stdin/stdout; the workflow's own prints go to /dev/null.

In the sandbox, a missing module or file and a write refused say what to do about it:
the workflow author sees which path to declare in spec.workflow.inputs.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

_DECLARE = "declare it in spec.workflow.inputs"


@dataclass(frozen=True)
class Scope:
    """What the sandbox mounts, to explain an import or open that failed."""

    root: str = ""
    readable: tuple[str, ...] = ()
    sandboxed: bool = False
    private: tuple[str, ...] = ()  # .git, the priority's evidence, events and status

    def shown(self, path: str) -> str:
        if self.root and path.startswith(self.root.rstrip("/") + "/"):
            return os.path.relpath(path, self.root)
        return path

    def mounted(self, path: str) -> bool:
        return _under(path, self.readable)

    def private_place(self, path: str) -> bool:
        return _under(path, self.private)


def _under(path: str, places: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in places)


_SCOPE = Scope()


def _private_channels() -> tuple[BinaryIO, BinaryIO]:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return proto_in, proto_out


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _load(folder: str, file: str, function: str) -> Callable[[dict[str, Any]], Any]:
    os.chdir(folder)
    sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(file))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, file))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise AttributeError(f"{file} has no function '{function}'")
    return fn  # type: ignore[no-any-return]


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not kill the worker
        text = ""
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    hint = _sandbox_hint(exc, _SCOPE) if _SCOPE.sandboxed else None
    return f"{described} ({hint})" if hint else described


def _sandbox_hint(exc: BaseException, scope: Scope) -> str | None:
    """What the sandbox had to do with an exception or its causes, if anything."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        hint = _hint_one(current, scope)
        if hint:
            return hint
        current = current.__cause__ or current.__context__
    return None


def _hint_one(exc: BaseException, scope: Scope) -> str | None:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (f"the sandbox holds only the Python installation, the priority folder and "
                f"spec.workflow.inputs: if module '{exc.name}' is in the repository, "
                f"{_DECLARE}; if it is a package, install it and list it in "
                "spec.workflow.requirements")
    if not isinstance(exc, OSError) or exc.filename is None:
        return None
    try:
        path = os.path.abspath(os.fsdecode(exc.filename))
    except (TypeError, ValueError):
        return None
    shown = scope.shown(path)
    if scope.private_place(path):
        return (f"'{shown}' is not in the sandbox: workflow code never reaches .git (where "
                "the cache is), evidence, events or status")
    in_repo = bool(scope.root) and path.startswith(scope.root.rstrip("/") + "/")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        if not (in_repo or scope.mounted(path)):
            return None  # the Python installation, /proc: nothing to declare
        return (f"'{shown}' is read-only in the sandbox: workflow code cannot write the "
                "repository; write to /tmp")
    if exc.errno == errno.ENOENT and not scope.mounted(path):
        return f"'{shown}' is outside the sandbox: {_DECLARE}"
    return None


def answer(fn: Callable[[dict[str, Any]], Any], request: dict[str, Any]) -> dict[str, Any]:
    try:
        output = fn(request["input"])
    except MemoryError:
        return {"error": "MemoryError: memory limit exceeded", "type": "MemoryError"}
    except BaseException as e:  # the workflow's failure is the case's result
        return {"error": _describe(e), "type": type(e).__name__}
    try:
        json.dumps(output, allow_nan=False)
    except (TypeError, ValueError):
        return {"notJson": type(output).__name__}
    return {"output": output}


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, allow_nan=False).encode() + b"\n")
    out.flush()


def main(argv: list[str]) -> int:
    global _SCOPE
    folder, file, function, memory_mb, scope = argv
    given = json.loads(scope)
    _SCOPE = Scope(str(given["root"]), tuple(given["readable"]), bool(given["sandboxed"]),
                   tuple(given["private"]))
    proto_in, proto_out = _private_channels()
    _limit_memory(int(memory_mb))
    try:
        fn = _load(folder, file, function)
    except BaseException as e:
        _send(proto_out, {"fatal": _describe(e)})
        return 1
    _send(proto_out, {"ready": True})
    for line in proto_in:
        _send(proto_out, answer(fn, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
