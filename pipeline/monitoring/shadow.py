"""What the shadow runs of a candidate say, from the traces ailoop-runtime's TraceStore
appends to its JSONL file (`spec.monitoring.traces` in ailoop.yaml): how many runs were
judged, how many disagreed with the serving version, and a few of the disagreements to
show. Production data, read as untrusted: bounded, a line that is not a trace is
counted and skipped, never a reason to fail the update that quotes it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.documents.layout import resolve_inside
from pipeline.errors import InputError
from pipeline.fsio import read_at_most

MAX_TRACES_BYTES = 256 * 1024 * 1024
EXAMPLES = 3  # shown; the rest are counted


@dataclass(frozen=True)
class Disagreement:
    trace: str
    input: Any
    serving: Any  # what the serving version answered (and the customer got)
    candidate: Any  # what the candidate answered beside it, never acted on


@dataclass(frozen=True)
class ShadowSummary:
    version: str
    runs: int  # shadow runs judged against a serving answer (agreed or disagreed)
    disagreements: int
    errors: int  # shadow runs that failed
    examples: tuple[Disagreement, ...]
    skipped: int = 0  # lines that are not a trace

    @property
    def agreed(self) -> int:
        return self.runs - self.disagreements

    @property
    def more(self) -> int:
        return self.disagreements - len(self.examples)


def shadow_summary(root: str, rel: str, key: str, version: str,
                   since: datetime | None) -> ShadowSummary | None:
    """The shadow runs of priority KEY's candidate VERSION since SINCE in the traces file
    REL; None when there is no file or no shadow run of it (nothing to say)."""
    try:
        path, _ = resolve_inside(root, ".", rel)
        if not os.path.isfile(path):
            return None
        lines = trace_lines(path)
    except (InputError, OSError):
        return None
    return summarise(lines, key, version, since.timestamp() if since else None)


def trace_lines(path: str) -> list[str]:
    """The lines of the traces file PATH, bounded (the newest lines past the bound are not
    read); OSError when it cannot be read."""
    with open(path, "rb") as fh:
        raw = read_at_most(fh.fileno(), MAX_TRACES_BYTES)
    return raw.decode("utf-8", errors="replace").splitlines()


def summarise(lines: list[str], key: str, version: str,
              since: float | None) -> ShadowSummary | None:
    runs = disagreements = errors = skipped = 0
    examples: list[Disagreement] = []
    for line in lines:
        record = trace_record(line)
        if record is None:
            skipped += bool(line.strip())
            continue
        if not _is_shadow_of(record, key, version, since):
            continue
        agreement = record.get("agreement")
        if agreement in ("agree", "disagree"):
            runs += 1
        elif agreement != "unjudged":
            errors += 1
        if agreement == "disagree":
            disagreements += 1
            if len(examples) < EXAMPLES:
                examples.append(Disagreement(str(record.get("trace", "")), record.get("input"),
                                             _output(record.get("serving")),
                                             _output(record.get("shadow"))))
    if not (runs or errors):
        return None
    return ShadowSummary(version, runs, disagreements, errors, tuple(examples), skipped)


def trace_record(line: str) -> dict[str, Any] | None:
    """One line as a trace object; None when it is not one (skipped, never an error)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_shadow_of(record: dict[str, Any], key: str, version: str, since: float | None) -> bool:
    shadow = record.get("shadow")
    when = record.get("time")
    return (record.get("priority") == key and isinstance(shadow, dict)
            and shadow.get("version") == version
            and (since is None or (isinstance(when, (int, float)) and when >= since)))


def _output(part: Any) -> Any:
    return part.get("output") if isinstance(part, dict) else None
