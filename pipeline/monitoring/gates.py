"""Gate evaluation, shared by every provider: observations in, one GateReading out. Pure.

A provider hands over what it observed for one gate (per-request events or per-interval
aggregates: time, value, samples), split by variant. The rules, in order, each holding
("inconclusive") with its reason:

  no data in the window | newest observation older than maxStaleness | a NaN or infinite
  value (observations with zero samples carry no traffic and are ignored) | fewer samples
  than minSamples.

Then the threshold decides pass or fail. A gate with `compare` also judges the new
workflow against the current one (the flag's two variants): the relative degradation
must stay within `maxDegradation`. It fails only when a one-sided test shows, at the
stated confidence, that the new variant is worse than the current one by more than
the allowance; it passes when the observed degradation is within the allowance; in
between (worse than allowed, but not significantly) it is inconclusive and holds. The test
is sequential (an always-valid p-value): the reconciler looks at a canary on every run, and
a fixed-horizon test rerun on growing data would raise false alarms with every look. First
of all, when the flag's split is known, a sample ratio mismatch (the variants' samples do
not split as the flag sends traffic) fails the gate: a broken split makes any comparison
meaningless.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pipeline.model.base import compare, format_duration
from pipeline.model.priority import CanaryComparison, MonitoringGate
from pipeline.monitoring.base import GateReading, Verdict, gate_name
from pipeline.monitoring.stats import (
    Alternative,
    always_valid_p,
    mann_whitney_u,
    srm_p_value,
    two_proportion_test,
)

TestName = Literal["two-proportion", "mann-whitney"]
_LATENCY_HINTS = ("latency", "duration", "_ms", "_seconds", "response_time")


class Observed(Protocol):
    """What every provider's observation offers (the file provider's Observation fits)."""

    @property
    def time(self) -> datetime: ...
    @property
    def value(self) -> float: ...
    @property
    def samples(self) -> int: ...


@dataclass(frozen=True)
class Sample:
    time: datetime
    value: float
    samples: int = 1


@dataclass(frozen=True)
class Summary:
    """The observations of one variant inside the window, reduced."""

    value: float | None            # sample-weighted mean
    samples: int
    newest: datetime | None
    values: tuple[float, ...]      # per-observation values (Mann-Whitney input)
    problem: str = ""              # why it cannot be judged; empty when it can


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    reason: str


def evaluate_gate(gate: MonitoringGate, new: Sequence[Observed], *, now: datetime,
                  max_staleness: timedelta, current: Sequence[Observed] | None = None,
                  share: float | None = None) -> GateReading:
    """Judge one gate from the new variant's observations (and the current one's). SHARE:
    the new variant's share of traffic at this stage, when known (see compare_variants)."""
    summary = summarize(gate, new, now=now, max_staleness=max_staleness)
    name = gate_name(gate)
    if summary.problem:
        return _reading(gate, "inconclusive", summary, summary.problem)
    assert summary.value is not None
    ok = compare(summary.value, gate.comparison, gate.threshold)
    reason = threshold_reason(gate, summary.value, summary.samples, ok)
    if not ok:
        return GateReading(name, gate.metric, "fail", summary.value, summary.samples,
                           summary.newest, reason)
    if gate.compare is None:
        return _reading(gate, "pass", summary, reason)
    other = summarize(gate, current or (), now=now, max_staleness=max_staleness)
    result = compare_variants(gate, gate.compare, summary, other, share)
    return _reading(gate, result.verdict, summary, f"{reason}; {result.reason}")


def _reading(gate: MonitoringGate, verdict: Verdict, summary: Summary,
             reason: str) -> GateReading:
    return GateReading(gate_name(gate), gate.metric, verdict, summary.value, summary.samples,
                       summary.newest, reason)


def summarize(gate: MonitoringGate, observations: Sequence[Observed], *, now: datetime,
              max_staleness: timedelta, label: str = "") -> Summary:
    start = now - gate.window
    seen = sorted((o for o in observations if start <= o.time <= now), key=lambda o: o.time)
    metric = f"{label}{gate.metric}"
    window = format_duration(gate.window)
    if not seen:
        return Summary(None, 0, None, (), f"no {metric} readings in the last {window}")
    newest = seen[-1].time
    if now - newest > max_staleness:
        return Summary(None, 0, newest, (), f"{metric} readings are stale (newest "
                       f"{iso(newest)}, older than {format_duration(max_staleness)})")
    counted = [o for o in seen if o.samples > 0]
    bad = next((o for o in counted if not math.isfinite(o.value)), None)
    if bad is not None:
        return Summary(None, 0, newest, (), f"{metric} is {bad.value} at {iso(bad.time)}; "
                       "a missing value is not a pass")
    return _weighted(gate, counted, newest, metric, window)


def _weighted(gate: MonitoringGate, counted: Sequence[Observed], newest: datetime,
              metric: str, window: str) -> Summary:
    samples = sum(o.samples for o in counted)
    value = math.fsum(o.value * o.samples for o in counted) / samples if samples else None
    values = tuple(o.value for o in counted)
    if samples < gate.min_samples:
        return Summary(value, samples, newest, values, f"{metric} has {samples} of "
                       f"{gate.min_samples} samples in the last {window}")
    return Summary(value, samples, newest, values)


def threshold_reason(gate: MonitoringGate, value: float, samples: int, ok: bool) -> str:
    sign = gate.comparison if ok else _negate(gate.comparison)
    return (f"{gate.metric} {value:.4g} {sign} {gate.threshold:g} over "
            f"{format_duration(gate.window)} ({samples} samples)")


def _negate(comparison: str) -> str:
    return {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}[comparison]


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare_variants(gate: MonitoringGate, spec: CanaryComparison, new: Summary,
                     current: Summary, share: float | None = None) -> Comparison:
    """The canary comparison of `new` against `current` (both summaries of one gate).
    SHARE: the new variant's share of traffic the flag sets at this stage; a split that
    differs from it (sample ratio mismatch) fails whatever the metrics say."""
    if current.problem:
        return Comparison("inconclusive", f"current variant: {current.problem}")
    if share is not None:
        mismatch = _sample_ratio_mismatch(spec, new.samples, current.samples, share)
        if mismatch:
            return Comparison("fail", mismatch)
    if gate.comparison == "==":
        return Comparison("inconclusive", "compare needs a direction (<, <=, > or >=), not ==")
    assert new.value is not None and current.value is not None
    higher_is_better = gate.comparison in (">", ">=")
    test = choose_test(gate, spec, new, current)
    if test == "mann-whitney" and (len(new.values) < 2 or len(current.values) < 2):
        return Comparison("inconclusive", "Mann-Whitney needs at least 2 observations per "
                          "variant")
    centre_new, centre_cur = _centres(test, new, current)
    worse = degradation(centre_new, centre_cur, higher_is_better=higher_is_better)
    p = _p_worse(test, new, current, spec, higher_is_better)
    alpha = 1 - spec.confidence
    verdict: Verdict = ("fail" if worse > spec.max_degradation and p < alpha
                        else "pass" if worse <= spec.max_degradation else "inconclusive")
    return Comparison(verdict, _comparison_reason(test, spec, centre_new, centre_cur, worse, p,
                                                  verdict))


def _sample_ratio_mismatch(spec: CanaryComparison, new: int, current: int,
                           share: float) -> str:
    """Why the observed split cannot be the flag's, or "" (GrowthBook's SRM check: a
    chi-square test at a low alpha, so that it almost never fires by chance)."""
    if not 0.0 < share < 1.0:
        return ""
    p = srm_p_value(new, current, share)
    if p >= spec.srm_alpha:
        return ""
    seen = new / (new + current)
    return (f"sample ratio mismatch: the new variant got {seen:.1%} of {new + current} "
            f"samples, the flag sends {share:.1%} (p={p:.3g} < {spec.srm_alpha:g}): the "
            "split is broken, so no comparison of it can be trusted")


def choose_test(gate: MonitoringGate, spec: CanaryComparison, new: Summary,
                current: Summary) -> TestName:
    """`auto`: latencies (by metric name) and values outside 0..1 use Mann-Whitney."""
    if spec.test != "auto":
        return spec.test
    if any(hint in gate.metric.lower() for hint in _LATENCY_HINTS):
        return "mann-whitney"
    rates = all(0.0 <= v <= 1.0 for v in (*new.values, *current.values))
    return "two-proportion" if rates else "mann-whitney"


def _centres(test: TestName, new: Summary, current: Summary) -> tuple[float, float]:
    if test == "mann-whitney":
        return statistics.median(new.values), statistics.median(current.values)
    assert new.value is not None and current.value is not None
    return new.value, current.value


def degradation(new: float, current: float, *, higher_is_better: bool) -> float:
    """How much worse `new` is than `current`, relative to `current` (negative: better)."""
    change = (current - new) if higher_is_better else (new - current)
    if current == 0:
        return 0.0 if change == 0 else math.copysign(math.inf, change)
    return change / abs(current)


def _p_worse(test: TestName, new: Summary, current: Summary, spec: CanaryComparison,
             higher_is_better: bool) -> float:
    """Always-valid one-sided p-value for "new is worse than current by more than the
    allowance": the reconciler looks again on every run, so a fixed-horizon p-value would
    raise false alarms with every look (see stats.always_valid_p)."""
    allowance = spec.max_degradation
    ratio = (1 - allowance) if higher_is_better else (1 + allowance)
    alternative: Alternative = "less" if higher_is_better else "greater"
    if test == "mann-whitney":
        scaled = [v * ratio for v in current.values]
        z = mann_whitney_u(new.values, scaled, alternative=alternative).z  # toward "worse"
        n = len(new.values) + len(scaled)
    else:
        assert new.value is not None and current.value is not None
        result = two_proportion_test(_successes(new), new.samples, _successes(current),
                                     current.samples, alternative=alternative, ratio=ratio)
        z = result.z if alternative == "greater" else -result.z
        n = new.samples + current.samples
    return always_valid_p(z, n, spec.sequential_tuning)


def _successes(summary: Summary) -> int:
    assert summary.value is not None
    return min(summary.samples, max(0, round(summary.value * summary.samples)))


def _comparison_reason(test: TestName, spec: CanaryComparison, new: float, current: float,
                       worse: float, p: float, verdict: Verdict) -> str:
    what = "worse" if worse >= 0 else "better"
    head = (f"new {new:.4g} vs current {current:.4g} ({test}): {abs(worse):.1%} {what}, "
            f"allowed {spec.max_degradation:.1%}, p={p:.3g} (always valid) at "
            f"{spec.confidence:.0%} confidence")
    tail = {"pass": "within the allowance",
            "fail": "significantly worse than allowed",
            "inconclusive": "worse than allowed but not significant yet"}[verdict]
    return f"{head}: {tail}"
