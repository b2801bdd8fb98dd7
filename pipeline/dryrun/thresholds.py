"""Summary statistics, thresholds and dry-run success criteria: pure functions of results."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.dryrun.repeat import RepeatStats, repeat_stats, repeated
from pipeline.dryrun.results import CaseResult
from pipeline.model.base import compare
from pipeline.model.priority import SuccessCriterion, Thresholds

DEFAULT_THRESHOLDS = Thresholds(pass_rate=1.0)


@dataclass(frozen=True)
class Gate:
    """One threshold or success criterion, measured."""

    name: str
    required: str
    actual: str
    passed: bool
    value: float | None = None
    repeat: RepeatStats | None = None  # what the runs say, when cases ran more than once

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "required": self.required, "actual": self.actual,
               "passed": self.passed, "value": self.value}
        if self.repeat is not None:
            out["repeat"] = self.repeat.to_json()
        return out


def rate(results: Sequence[CaseResult]) -> float:
    return sum(r.passed for r in results) / len(results) if results else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def tag_stats(results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    tags = sorted({t for r in results for t in r.tags})
    out: dict[str, dict[str, Any]] = {}
    for tag in tags:
        subset = [r for r in results if tag in r.tags]
        out[tag] = {"cases": len(subset), "passed": sum(r.passed for r in subset),
                    "passRate": round(rate(subset), 6)}
    return out


def summarise(results: Sequence[CaseResult]) -> dict[str, Any]:
    latencies = [r.latency_ms for r in results if not r.fault]
    critical = [r for r in results if r.critical]
    repeat = {"repeat": repeat_stats(results).to_json()} if repeated(results) else {}
    return {
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
        "passRate": round(rate(results), 6),
        "errors": sum(bool(r.fault) for r in results),
        "perTag": tag_stats(results),
        "critical": {"cases": len(critical),
                     "failing": [r.id for r in critical if not r.passed]},
        "latencyMs": {"p50": round(percentile(latencies, 0.5), 3),
                      "p95": round(percentile(latencies, 0.95), 3),
                      "max": round(max(latencies, default=0.0), 3)},
        "cost": round(sum(r.cost for r in results), 8),
        "tokens": {"input": sum(r.tokens_in for r in results),
                   "output": sum(r.tokens_out for r in results)},
        **repeat,
    }


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def threshold_gates(results: Sequence[CaseResult], thresholds: Thresholds | None
                    ) -> list[Gate]:
    """A case counts as passed only when every one of its runs passed (pass^k)."""
    t = thresholds or DEFAULT_THRESHOLDS
    stats = repeat_stats if repeated(results) else (lambda subset: None)
    overall = rate(results)
    gates = [Gate("pass rate", f">= {_pct(t.pass_rate)}", _pct(overall),
                  overall >= t.pass_rate, round(overall, 6), stats(results))]
    for tag, needed in sorted(t.per_tag.items()):
        subset = [r for r in results if tag in r.tags]
        if not subset:
            gates.append(Gate(f"pass rate [{tag}]", f">= {_pct(needed)}", "no cases", False))
            continue
        value = rate(subset)
        gates.append(Gate(f"pass rate [{tag}]", f">= {_pct(needed)}",
                          f"{_pct(value)} of {len(subset)}", value >= needed, round(value, 6),
                          stats(subset)))
    if t.critical_must_pass:
        failing = [r for r in results if r.critical and not r.passed]
        named = [f"{r.id} (flaky, {r.runs_passed} of {r.runs} runs)" if r.flaky else r.id
                 for r in failing[:10]]
        actual = f"{len(failing)} failing" + (f": {', '.join(named)}" if failing else "")
        gates.append(Gate("critical cases", "all pass", actual, not failing,
                          float(len(failing))))
    return gates


def _check_rate(results: Sequence[CaseResult], name: str) -> float | None:
    """Pass rate of one assertion; a faulted case counts as a failure of every check."""
    outcomes: list[bool] = []
    for r in results:
        if r.fault:
            outcomes.append(False)
            continue
        outcomes.extend(c.passed for c in r.checks if c.name == name and c.counts)
    return sum(outcomes) / len(outcomes) if outcomes else None


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def class_metrics(pairs: Sequence[tuple[Any, Any]]) -> dict[str, float]:
    """'<value>_recall' and '<value>_precision' for every string value an expected output
    holds in a top-level field, e.g. p1_recall: of the cases expected to be p1, the share
    the workflow called p1. `pairs` are (expected, output) of cases that ran."""
    hits: dict[str, list[int]] = {}  # value -> [true positive, expected, predicted]
    for expected, output in pairs:
        if not isinstance(expected, dict):
            continue
        got = output if isinstance(output, dict) else {}
        for field, value in expected.items():
            if isinstance(value, str) and value:
                counts = hits.setdefault(value, [0, 0, 0])
                counts[1] += 1
                counts[0] += got.get(field) == value
        for field, value in got.items():
            if isinstance(value, str) and value in hits and field in expected:
                hits[value][2] += 1
    out: dict[str, float] = {}
    for value, (tp, n_expected, n_predicted) in hits.items():
        out[f"{slug(value)}_recall"] = tp / n_expected
        if n_predicted:
            out[f"{slug(value)}_precision"] = tp / n_predicted
    return out


def metrics(results: Sequence[CaseResult], check_names: Sequence[str],
            pairs: Sequence[tuple[Any, Any]] = ()) -> dict[str, float]:
    """Every metric a dry run measures, by name (for success criteria)."""
    latencies = [r.latency_ms for r in results if not r.fault]
    n = len(results) or 1
    out: dict[str, float] = {
        "pass_rate": rate(results), "accuracy": rate(results),
        "error_rate": sum(bool(r.fault) for r in results) / n,
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p95_ms": percentile(latencies, 0.95),
        "latency_max_ms": max(latencies, default=0.0),
        "cost_per_case": sum(r.cost for r in results) / n,
        "cost_total": sum(r.cost for r in results),
        "pass_at_k": sum(r.runs_passed > 0 for r in results) / n,
        "mean_pass_rate": sum(r.runs_passed for r in results) / (sum(r.runs for r in results)
                                                                 or 1),
        "flaky_cases": float(sum(r.flaky for r in results)),
    }
    for name in check_names:
        value = _check_rate(results, name)
        if value is None:
            continue
        kind, _, field = name.partition(":")
        failures = sum(bool(r.fault) or any(c.name == name and not c.passed and c.counts
                                            for c in r.checks)
                       for r in results)
        out[f"{slug(name)}_pass_rate"] = value
        out[f"{slug(name)}_failures"] = float(failures)
        if kind in ("field-equals", "equals", "numeric-tolerance") and field:
            out.setdefault(f"{slug(field)}_accuracy", value)
        elif not field:
            out.setdefault(slug(name), value)
    for tag, stats in tag_stats(results).items():
        out[f"tag_{slug(tag)}_pass_rate"] = stats["passRate"]
    for metric, value in class_metrics(pairs).items():
        out.setdefault(metric, value)
    return out


def criteria_gates(results: Sequence[CaseResult], criteria: Sequence[SuccessCriterion],
                   check_names: Sequence[str], pairs: Sequence[tuple[Any, Any]] = ()
                   ) -> list[Gate]:
    measured = metrics(results, check_names, pairs)
    gates: list[Gate] = []
    for c in criteria:
        if c.measured_in != "dry-run":
            continue
        required = f"{c.comparison} {c.threshold:g}"
        value = measured.get(c.metric)
        if value is None:
            gates.append(Gate(c.metric, required, "not measured in a dry run", False))
            continue
        gates.append(Gate(c.metric, required, f"{value:.4g}", compare(value, c.comparison,
                                                                      c.threshold),
                          round(value, 6)))
    return gates
