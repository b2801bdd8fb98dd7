"""What every workflow provider gives the dry-run runner: one output (or a fault) per case."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.documents.dataset import Case

# Fault categories a provider may report; the runner records them as the case's failure.
TIMEOUT = "timeout"
CRASH = "crash"
EXCEPTION = "exception"
NOT_JSON = "output is not JSON"
MALFORMED_JSON = "malformed JSON"
UNREACHABLE = "unreachable"
HTTP_ERROR = "http error"
NO_RECORDING = "no recording"
# A chat answer with no text: the model refused, called a tool, or wrote nothing.
REFUSAL = "refusal"
TOOL_CALLS = "tool calls"
EMPTY = "empty answer"
# Faults that may not happen again on a rerun: never cached.
TRANSIENT = frozenset({TIMEOUT, CRASH, UNREACHABLE, HTTP_ERROR})


@dataclass(frozen=True)
class CaseOutput:
    """A provider's answer for one case. `fault` is empty when `output` is valid."""

    output: Any = None
    fault: str = ""
    reason: str = ""
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.fault


def failed(fault: str, reason: str, latency_ms: float = 0.0) -> CaseOutput:
    return CaseOutput(fault=fault, reason=reason, latency_ms=latency_ms)


class Provider(Protocol):
    """Runs one case at a time; `run` is called from several threads at once."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Provider and model settings: recorded in evidence and part of the cache key."""
        ...

    def run(self, case: Case) -> CaseOutput: ...

    def close(self) -> None: ...
