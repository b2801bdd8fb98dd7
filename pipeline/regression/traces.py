"""Reading the traces ailoop-runtime's TraceStore appends to its JSONL file: one object per
line with the trace id, the priority ("customer/priority"), the request's input and the
serving and shadow outputs. ailoop reads the file; the runtime never imports ailoop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.documents.dataset import jsonl_lines
from pipeline.errors import InputError
from pipeline.fsio import read_limited

MAX_TRACE_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Trace:
    id: str
    priority: str
    input: dict[str, Any]
    serving: Any  # what the serving version answered
    shadow: Any  # what the shadow candidate answered (None when it failed)
    line: int


def find_trace(path: str, trace_id: str, key: str) -> Trace:
    """The trace TRACE_ID of priority KEY in the TraceStore file PATH; InputError naming
    the file when it is missing, unreadable, not the store's format or has no such trace."""
    shown = path  # as the user wrote it
    raw = read_limited(path, shown, MAX_TRACE_FILE_BYTES, missing="trace file does not exist",
                       unreadable="cannot read the trace file")
    if len(raw) > MAX_TRACE_FILE_BYTES:
        raise InputError(f"trace file is larger than {MAX_TRACE_FILE_BYTES} bytes", path=shown)
    text = raw.decode("utf-8", errors="replace")
    for line, record in jsonl_lines(text, shown):
        if isinstance(record, dict) and record.get("trace") == trace_id:
            return _trace(record, shown, line, key)
    raise InputError(f"trace '{trace_id}' not found in {shown} (the JSONL file "
                     "ailoop-runtime's TraceStore writes)")


def _trace(record: dict[str, Any], shown: str, line: int, key: str) -> Trace:
    owner = record.get("priority")
    if owner != key:
        raise InputError(f"trace '{record['trace']}' belongs to priority '{owner}', not '{key}'",
                         path=shown, line=line, col=1)
    inputs = record.get("input")
    if not isinstance(inputs, dict):
        raise InputError("the trace has no 'input' object", path=shown, line=line, col=1)
    return Trace(str(record["trace"]), key, inputs, _output(record.get("serving")),
                 _output(record.get("shadow")), line)


def _output(part: Any) -> Any:
    return part.get("output") if isinstance(part, dict) else None
