"""A long-lived worker process for the python provider (run as `python -P -m` this module).

Protocol: one JSON object per line. The worker answers {"ready": true} (or {"fatal": ...})
once the entrypoint is imported, then for each {"input": {...}} it answers {"output": v} or
{"error": "...", "type": "ExceptionName"} or {"notJson": "TypeName"}. The protocol runs over
private copies of stdin/stdout; the workflow's own prints go to /dev/null.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any, BinaryIO


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
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
    folder, file, function, memory_mb = argv
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
