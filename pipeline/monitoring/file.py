"""Monitoring readings from a JSONL file, one observation per line:

    {"priority": "c/p", "metric": "error_rate", "time": "2026-11-20T10:00:00Z",
     "value": 0.01, "samples": 250, "variant": "candidate", "stage": "canary"}

`variant` is the flag's variant the observation is about: "candidate" (the default; the
candidate's readings gate its rollout) or "serving" (the serving version: a gate's
`compare` baseline, and the readings of a review when no candidate is out). The older
names "new" and "current" mean the same. `stage` is optional and, when present, must match
the stage being judged. `segment` ("in" or "out", optional) says whether the requests were
inside the stage's segment (its `targeting`); at a stage with one, the comparison and its
sample ratio check count only the readings inside it (serving readings that do not say
hold: they mix both sides). A gate's value is the sample-weighted mean over its window ending
at `now`; the rules (NaN, staleness, minimum samples, canary comparison) are in
pipeline.monitoring.gates.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from pipeline.errors import ExternalError
from pipeline.model.priority import MonitoringGate
from pipeline.monitoring.base import CANDIDATE, SERVING, GateReading, Variant, gate_name
from pipeline.monitoring.gates import evaluate_gate


@dataclass(frozen=True)
class Observation:
    time: datetime
    value: float
    samples: int
    stage: str | None
    variant: str = CANDIDATE
    segment: str | None = None  # "in" / "out" of the stage's segment; None: not said


# Past this share of unreadable lines the file as a whole is not trusted: every gate that
# reads it is inconclusive (so rollout holds). Below it they are skipped, and every reading
# says how many were.
UNREADABLE_SHARE = 0.01


@dataclass
class _Index:
    observations: dict[tuple[str, str], list[Observation]]
    lines: int = 0  # non-blank lines
    unreadable: list[int] = field(default_factory=list)  # their line numbers


class JsonlMonitoring:
    """MonitoringSource over a JSONL file; bad lines are counted and skipped, and too many
    of them make every gate inconclusive."""

    def __init__(self, path: str, max_staleness: timedelta) -> None:
        self.path = path
        self.max_staleness = max_staleness
        self._index: _Index | None = None

    def readings(self, key: str, stage: str | None, gates: list[MonitoringGate],
                 now: datetime, variant: Variant = CANDIDATE,
                 share: float | None = None, *, segmented: bool = False
                 ) -> list[GateReading]:
        index = self._load()
        bad = index.unreadable
        if bad and len(bad) > UNREADABLE_SHARE * index.lines:
            why = (f"{os.path.basename(self.path)}: {len(bad)} of {index.lines} lines are "
                   f"unreadable (first: line {bad[0]}), more than {UNREADABLE_SHARE:.0%}: "
                   "its readings are not trusted")
            return [GateReading(gate_name(g), g.metric, "inconclusive", None, 0, None, why)
                    for g in gates]
        found = [self._judge(gate, index.observations.get((key, gate.metric), []), stage,
                             now, variant, share, segmented) for gate in gates]
        if not bad:
            return found
        note = (f" ({len(bad)} unreadable line(s) of {os.path.basename(self.path)} skipped, "
                f"first: line {bad[0]})")
        return [replace(r, reason=r.reason + note) for r in found]

    def _judge(self, gate: MonitoringGate, observations: list[Observation],
               stage: str | None, now: datetime, variant: Variant,
               share: float | None, segmented: bool) -> GateReading:
        here = [o for o in observations if stage is None or o.stage in (None, stage)]
        mine = [o for o in here if o.variant == variant]
        if variant == SERVING:  # nothing to compare the serving version with
            return evaluate_gate(_alone(gate), mine, now=now, max_staleness=self.max_staleness)
        current = [o for o in here if o.variant == SERVING]
        if segmented:  # the percent is a share of the segment: compare inside it only
            mine = [o for o in mine if o.segment != "out"]
            inside = [o for o in current if o.segment == "in"]
            if current and not inside and gate.compare is not None:
                why = (f"the serving version's {gate.metric} readings do not say whether they "
                       "are inside the stage's segment (the \"segment\" field ailoop-runtime "
                       "writes): they cannot be compared with the candidate's"
                       if any(o.segment is None for o in current) else
                       "no request fell inside the stage's segment: nothing in it to compare "
                       "the candidate with (does the service send the attributes its rule "
                       "reads?)")
                return GateReading(gate_name(gate), gate.metric, "inconclusive", None, 0, None,
                                   why)
            current = inside
        return evaluate_gate(gate, mine, now=now, max_staleness=self.max_staleness,
                             current=current, share=share)

    def _load(self) -> _Index:
        if self._index is None:
            self._index = _read_index(self.path)
        return self._index


_VARIANTS = {CANDIDATE: CANDIDATE, SERVING: SERVING, "new": CANDIDATE, "current": SERVING}


def _alone(gate: MonitoringGate) -> MonitoringGate:
    return gate.model_copy(update={"compare": None}) if gate.compare is not None else gate


def _read_index(path: str) -> _Index:
    index = _Index(defaultdict(list))
    if not os.path.exists(path):
        return index  # no readings yet: every gate is inconclusive, so rollout holds
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                index.lines += 1
                parsed = _parse(line)
                if parsed is None:
                    index.unreadable.append(number)
                else:
                    index.observations[parsed[0]].append(parsed[1])
    except OSError as e:
        raise ExternalError(f"monitoring file {path} cannot be read: {e.strerror}") from None
    return index


def _parse(line: str) -> tuple[tuple[str, str], Observation] | None:
    try:
        data = json.loads(line)
        variant = _VARIANTS.get(data.get("variant", CANDIDATE)) \
            if isinstance(data, dict) else None
        if variant is None:
            return None
        when = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
        value, samples = data["value"], data.get("samples", 1)
        if when.tzinfo is None or isinstance(value, bool) or isinstance(samples, bool):
            return None
        stage, segment = data.get("stage"), data.get("segment")
        observation = Observation(when.astimezone(UTC), float(value), int(samples),
                                  stage if isinstance(stage, str) else None, variant,
                                  segment if segment in ("in", "out") else None)
        if observation.samples < 0:
            return None
        return (str(data["priority"]), str(data["metric"])), observation
    except (ValueError, KeyError, TypeError):
        return None
