"""The result of one case: plain data, cached as JSON and written into evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.documents.dataset import Case
from pipeline.dryrun.assertions import Check
from pipeline.providers.base import EXCEPTION, CaseOutput

MAX_OUTPUT_CHARS = 2000


@dataclass(frozen=True)
class CaseResult:
    id: str
    tags: tuple[str, ...]
    critical: bool
    passed: bool
    output: Any
    fault: str = ""
    reason: str = ""
    checks: tuple[Check, ...] = ()
    latency_ms: float = 0.0
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cached: bool = False
    # short string labels of expected and output, for recall/precision (not in evidence)
    labels: dict[str, Any] = field(default_factory=dict)
    # what the guard (record-only) would have done with the actions the workflow proposed
    actions: tuple[dict[str, Any], ...] = ()
    # pass or fail of each run when the case ran more than once (pipeline.dryrun.repeat)
    outcomes: tuple[bool, ...] = ()

    @property
    def runs(self) -> int:
        return len(self.outcomes) or 1

    @property
    def runs_passed(self) -> int:
        return sum(self.outcomes) if self.outcomes else int(self.passed)

    @property
    def flaky(self) -> bool:
        """Its runs disagree: some passed, some failed."""
        return 0 < self.runs_passed < self.runs

    @property
    def category(self) -> str:
        """Why the case failed, coarse enough to group: 'timeout', 'exception: KeyError',
        'field-equals:urgency'... ('' when it passed)."""
        if self.passed:
            return ""
        if self.fault == EXCEPTION:
            return f"exception: {self.reason.split(':', 1)[0]}"
        if self.fault:
            return self.fault
        failing = [c.name for c in self.checks if not c.passed and not c.advisory]
        return failing[0] if failing else "failed"

    @property
    def message(self) -> str:
        if self.fault:
            return self.reason or self.fault
        return "; ".join(f"{c.name}: {c.message}" for c in self.checks
                         if not c.passed and not c.advisory)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "passed": self.passed}
        if self.tags:
            out["tags"] = list(self.tags)
        if self.critical:
            out["critical"] = True
        if not self.passed:
            out["category"] = self.category
        if self.fault:
            out["fault"] = {"category": self.fault, "reason": self.reason}
        out["checks"] = [c.to_json() for c in self.checks]
        out["output"] = _bounded(self.output)
        out["latencyMs"] = round(self.latency_ms, 3)
        if self.cost or self.tokens_in or self.tokens_out:
            out["cost"] = round(self.cost, 8)
            out["tokens"] = {"input": self.tokens_in, "output": self.tokens_out}
        if self.actions:
            out["actions"] = [dict(a) for a in self.actions]
        if self.outcomes:
            out["runs"] = {"total": self.runs, "passed": self.runs_passed}
        if self.flaky:
            out["flaky"] = True
        return out

    @staticmethod
    def from_json(data: dict[str, Any], *, cached: bool = False) -> CaseResult:
        fault = data.get("fault") or {}
        tokens = data.get("tokens") or {}
        return CaseResult(
            id=str(data["id"]), tags=tuple(data.get("tags", ())),
            critical=bool(data.get("critical", False)), passed=bool(data["passed"]),
            output=data.get("output"), fault=str(fault.get("category", "")),
            reason=str(fault.get("reason", "")),
            checks=tuple(Check.from_json(c) for c in data.get("checks", [])),
            latency_ms=float(data.get("latencyMs", 0.0)), cost=float(data.get("cost", 0.0)),
            tokens_in=int(tokens.get("input", 0)), tokens_out=int(tokens.get("output", 0)),
            cached=cached, labels=dict(data.get("class") or {}),
            actions=tuple(a for a in data.get("actions") or () if isinstance(a, dict)))


def _bounded(output: Any) -> Any:
    """Evidence keeps outputs small: a long text output is cut, a long JSON one summarised."""
    if isinstance(output, str) and len(output) > MAX_OUTPUT_CHARS:
        return output[:MAX_OUTPUT_CHARS] + f"… ({len(output)} characters)"
    if isinstance(output, (dict, list)):
        text = json.dumps(output, ensure_ascii=False)
        if len(text) > MAX_OUTPUT_CHARS:
            return text[:MAX_OUTPUT_CHARS] + f"… ({len(text)} characters of JSON)"
    return output


def result_of(case: Case, out: CaseOutput, checks: tuple[Check, ...],
              actions: tuple[dict[str, Any], ...] = ()) -> CaseResult:
    passed = out.ok and all(c.passed for c in checks if not c.advisory)
    return CaseResult(id=case.id, tags=case.tags, critical=case.critical, passed=passed,
                      output=out.output, fault=out.fault, reason=out.reason, checks=checks,
                      latency_ms=out.latency_ms, cost=out.cost, tokens_in=out.tokens_in,
                      tokens_out=out.tokens_out, actions=actions)
