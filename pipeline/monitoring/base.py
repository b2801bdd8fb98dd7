"""The monitoring contract every provider implements (JSONL file now; Prometheus later).

A provider turns raw observations into one reading per gate. Anything it cannot judge
(no data, too few samples, stale data) is "inconclusive", which holds the rollout:
missing data never promotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pipeline.model.priority import MonitoringGate

Verdict = Literal["pass", "fail", "inconclusive"]
# The flag's variants: readings judge the candidate (compared with the serving version), or
# the serving version alone when no candidate is out.
Variant = Literal["candidate", "serving"]
CANDIDATE: Variant = "candidate"
SERVING: Variant = "serving"


@dataclass(frozen=True)
class GateReading:
    gate: str                   # the gate's name (its metric when unnamed)
    metric: str
    verdict: Verdict
    value: float | None
    samples: int
    observed_at: datetime | None
    reason: str                 # a sentence: "error_rate 0.031 > 0.02 over 1h (412 samples)"


class MonitoringSource(Protocol):
    def readings(self, key: str, stage: str | None, gates: list[MonitoringGate],
                 now: datetime, variant: Variant = CANDIDATE,
                 share: float | None = None, *, segmented: bool = False
                 ) -> list[GateReading]:
        """One reading per gate of `variant` at `stage` (None: any stage); a gate with
        `compare` judges the candidate against the serving version, and SHARE (the
        candidate's share of traffic the flag sets at the stage, when known) lets it catch
        a sample ratio mismatch. SEGMENTED: the stage has a segment, so SHARE is a share of
        the requests inside it, and only those are compared and counted. Raises
        ExternalError when the source is unreachable."""
        ...


def gate_name(gate: MonitoringGate) -> str:
    return gate.name or gate.metric
