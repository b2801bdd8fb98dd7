"""ROI from production numbers against the hypothesis (claims-intake's numbers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.model.priority import RoiHypothesis
from pipeline.monitoring.base import GateReading
from pipeline.review.roi import (
    Production,
    compare_roi,
    money,
    observed_figures,
    production_from,
    roi_verdict,
)

HYPOTHESIS = RoiHypothesis.model_validate({
    "currency": "EUR",
    "baseline": {"minutesPerCase": 6, "casesPerMonth": 9000, "costPerHour": 48},
    "expected": {"automationRate": 0.8, "valuePerMonth": 34560, "costPerMonth": 1900},
})
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_observed_figures_follow_the_formula() -> None:
    # 4,500 runs in 15 days = 9,000 a month; 80% handled = 7,200 cases * 6 min * EUR 48/h.
    figures = observed_figures(HYPOTHESIS, Production(4500, timedelta(days=15), 0.8, 0.2))
    assert figures.runs_per_month == 9000
    assert figures.cases_handled_per_month == pytest.approx(7200)
    assert figures.value_per_month == pytest.approx(34560)
    assert figures.cost_per_month == pytest.approx(1800)
    assert figures.automation_rate == pytest.approx(0.8)
    assert figures.net_per_month == pytest.approx(32760)


@pytest.mark.parametrize(("runs", "rate", "verdict", "reason"), [
    (9000, 0.8, "on-track", "net EUR 32,760/month against EUR 32,660 expected (within the ±10% "
                            "band)"),
    (6000, 0.7, "behind", "net EUR 18,960/month against EUR 32,660 expected (below the ±10% "
                          "band)"),
    (12000, 0.9, "ahead", "net EUR 49,440/month against EUR 32,660 expected (above the ±10% "
                          "band)"),
])
def test_verdicts(runs: int, rate: float, verdict: str, reason: str) -> None:
    result = compare_roi(HYPOTHESIS, Production(runs, timedelta(days=30), rate, 0.2))
    assert (result.verdict, result.reason) == (verdict, reason)
    assert result.expected.net_per_month == 32660


def test_band_edges() -> None:
    assert roi_verdict(90, 100, 0.1) == "on-track"
    assert roi_verdict(89.9, 100, 0.1) == "behind"
    assert roi_verdict(110.1, 100, 0.1) == "ahead"
    assert roi_verdict(-5, -10, 0.1) == "ahead"


def test_unknown_without_production_data() -> None:
    result = compare_roi(HYPOTHESIS, None, missing="success_rate: no readings")
    assert (result.verdict, result.observed, result.reason) == (
        "unknown", None, "success_rate: no readings")


def reading(metric: str, value: float | None, samples: int, verdict: str = "pass") -> GateReading:
    return GateReading(metric, metric, verdict, value, samples, NOW, f"{metric} reason")  # type: ignore[arg-type]


def test_production_from_readings() -> None:
    production, why = production_from(
        [reading("success_rate", 0.8, 4500), reading("cost_per_run", 0.2, 4500)],
        timedelta(days=15))
    assert production == Production(4500, timedelta(days=15), 0.8, 0.2) and why == ""


def test_production_needs_both_metrics() -> None:
    production, why = production_from(
        [reading("success_rate", None, 0, "inconclusive")], timedelta(days=30))
    assert production is None
    assert why == "success_rate: success_rate reason; cost_per_run: not read"


def test_money() -> None:
    assert money(34560.4, "EUR") == "EUR 34,560"


def test_a_version_out_for_part_of_the_window_is_scaled_and_marked_partial() -> None:
    """3 days out of a 30-day review: 900 runs are 9,000 a month, not 900; the verdict is
    shown as partial."""
    production, _ = production_from(
        [reading("success_rate", 0.8, 900), reading("cost_per_run", 0.2, 900)],
        timedelta(days=30), covered=timedelta(days=3))
    assert production is not None and production.partial
    result = compare_roi(HYPOTHESIS, production)
    assert result.verdict == "on-track" and result.partial
    assert result.reason.endswith("; partial: production covered 3.0 days of the 30 days "
                                  "window, scaled to a month")
    whole, _ = production_from(
        [reading("success_rate", 0.8, 9000), reading("cost_per_run", 0.2, 9000)],
        timedelta(days=30), covered=timedelta(days=45))
    assert whole is not None and not whole.partial
