"""Gate evaluation: every way to hold, the threshold, and the canary comparison."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.model.priority import MonitoringGate
from pipeline.monitoring.gates import Sample, choose_test, degradation, evaluate_gate, summarize

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STALE = timedelta(minutes=15)


def gate(**over: Any) -> MonitoringGate:
    base: dict[str, Any] = {"metric": "error_rate", "comparison": "<=", "threshold": 0.02,
                            "window": "1h", "minSamples": 200}
    return MonitoringGate.model_validate({**base, **over})


def minutes(value: float, samples: int, count: int = 60, end: int = 0) -> list[Sample]:
    return [Sample(NOW - timedelta(minutes=end + i), value, samples) for i in range(count)]


def judge(g: MonitoringGate, new: list[Sample], current: list[Sample] | None = None) -> Any:
    return evaluate_gate(g, new, now=NOW, max_staleness=STALE, current=current)


def test_pass_and_fail_on_the_threshold() -> None:
    ok = judge(gate(), minutes(0.01, 10))
    assert (ok.verdict, ok.samples, ok.observed_at) == ("pass", 600, NOW)
    assert ok.value == pytest.approx(0.01)
    assert ok.reason == "error_rate 0.01 <= 0.02 over 1h (600 samples)"
    bad = judge(gate(), minutes(0.05, 10))
    assert (bad.verdict, bad.reason) == ("fail", "error_rate 0.05 > 0.02 over 1h (600 samples)")


@pytest.mark.parametrize(("observations", "reason"), [
    ([], "no error_rate readings in the last 1h"),
    (minutes(0.01, 10, end=20), "error_rate readings are stale (newest 2026-11-20T11:40:00Z, "
                                "older than 15m)"),
    ([*minutes(0.01, 10), Sample(NOW, math.nan, 5)],
     "error_rate is nan at 2026-11-20T12:00:00Z; a missing value is not a pass"),
    ([*minutes(0.01, 10), Sample(NOW, math.inf, 5)],
     "error_rate is inf at 2026-11-20T12:00:00Z; a missing value is not a pass"),
    (minutes(0.01, 3), "error_rate has 180 of 200 samples in the last 1h"),
    (minutes(0.01, 10, end=61), "no error_rate readings in the last 1h"),
])
def test_missing_evidence_holds(observations: list[Sample], reason: str) -> None:
    reading = judge(gate(), observations)
    assert (reading.verdict, reading.reason) == ("inconclusive", reason)


def test_points_without_traffic_are_ignored_even_when_nan() -> None:
    reading = judge(gate(), [*minutes(0.01, 10), Sample(NOW, math.nan, 0)])
    assert (reading.verdict, reading.samples) == ("pass", 600)


def test_future_points_are_ignored() -> None:
    reading = judge(gate(), [*minutes(0.01, 10), Sample(NOW + timedelta(minutes=5), 0.9, 900)])
    assert reading.value == pytest.approx(0.01)


def test_weighted_mean() -> None:
    summary = summarize(gate(), [Sample(NOW, 0.0, 300), Sample(NOW, 0.04, 100)], now=NOW,
                        max_staleness=STALE)
    assert (summary.value, summary.samples, summary.problem) == (0.01, 400, "")


COMPARE = {"compare": {"maxDegradation": 0.1, "confidence": 0.95}}


def test_canary_within_the_allowance_passes() -> None:
    reading = judge(gate(**COMPARE), minutes(0.010, 200), minutes(0.011, 200))
    assert reading.verdict == "pass"
    assert reading.reason.endswith("9.1% better, allowed 10.0%, p=1 (always valid) at 95% "
                                   "confidence: within the allowance")


def test_significant_degradation_fails_even_under_the_threshold() -> None:
    reading = judge(gate(**COMPARE), minutes(0.018, 200), minutes(0.010, 200))
    assert reading.verdict == "fail"
    assert reading.reason.startswith("error_rate 0.018 <= 0.02 over 1h (12000 samples); "
                                     "new 0.018 vs current 0.01 (two-proportion): 80.0% worse")
    assert reading.reason.endswith("significantly worse than allowed")


def test_degradation_that_is_not_significant_holds() -> None:
    reading = judge(gate(minSamples=50, **COMPARE), minutes(0.015, 1), minutes(0.010, 1))
    assert reading.verdict == "inconclusive"
    assert reading.reason.endswith("worse than allowed but not significant yet")


def test_current_variant_needs_evidence_too() -> None:
    reading = judge(gate(**COMPARE), minutes(0.01, 10), minutes(0.01, 1))
    assert (reading.verdict, reading.reason) == (
        "inconclusive", "error_rate 0.01 <= 0.02 over 1h (600 samples); current variant: "
        "error_rate has 60 of 200 samples in the last 1h")
    assert judge(gate(**COMPARE), minutes(0.01, 10)).reason.endswith(
        "current variant: no error_rate readings in the last 1h")


def test_higher_is_better_rates() -> None:
    g = gate(metric="urgent_recall", comparison=">=", threshold=0.9, **COMPARE)
    worse = judge(g, minutes(0.91, 100), minutes(0.99, 100))
    assert worse.verdict == "pass"  # 8% worse is within the 10% allowance
    g2 = gate(metric="urgent_recall", comparison=">=", threshold=0.5, **COMPARE)
    assert judge(g2, minutes(0.60, 100), minutes(0.99, 100)).verdict == "fail"


def latencies(centre: float, count: int = 60) -> list[Sample]:
    return [Sample(NOW - timedelta(minutes=i), centre + 0.05 * math.sin(i), 1)
            for i in range(count)]


def test_latency_uses_mann_whitney() -> None:
    g = gate(metric="latency_p95_seconds", threshold=2.0, minSamples=30,
             compare={"maxDegradation": 0.2})
    ok = judge(g, latencies(0.82), latencies(0.80))
    assert ok.verdict == "pass" and "(mann-whitney): 2.5% worse" in ok.reason
    bad = judge(g, latencies(1.2), latencies(0.80))
    assert bad.verdict == "fail" and "(mann-whitney): 49.8% worse" in bad.reason


def test_mann_whitney_needs_two_points() -> None:
    g = gate(metric="latency_ms", threshold=900, minSamples=1,
             compare={"maxDegradation": 0.2, "test": "mann-whitney"})
    reading = judge(g, [Sample(NOW, 500, 1)], [Sample(NOW, 400, 1)])
    assert reading.verdict == "inconclusive"
    assert reading.reason.endswith("Mann-Whitney needs at least 2 observations per variant")


def test_equality_gates_cannot_compare() -> None:
    reading = judge(gate(comparison="==", threshold=0.5, **COMPARE), minutes(0.5, 10),
                    minutes(0.5, 10))
    assert reading.reason.endswith("compare needs a direction (<, <=, > or >=), not ==")


def test_auto_test_choice() -> None:
    summary = summarize(gate(), minutes(0.01, 10), now=NOW, max_staleness=STALE)
    big = summarize(gate(), minutes(300, 10), now=NOW, max_staleness=STALE)
    spec = gate(**COMPARE).compare
    assert spec is not None
    assert choose_test(gate(), spec, summary, summary) == "two-proportion"
    assert choose_test(gate(), spec, big, summary) == "mann-whitney"
    assert choose_test(gate(metric="p95_latency"), spec, summary, summary) == "mann-whitney"


def test_degradation_direction_and_zero() -> None:
    assert degradation(0.02, 0.01, higher_is_better=False) == pytest.approx(1.0)
    assert degradation(0.9, 1.0, higher_is_better=True) == pytest.approx(0.1)
    assert degradation(0.0, 0.0, higher_is_better=False) == 0.0
    assert degradation(0.1, 0.0, higher_is_better=False) == math.inf
