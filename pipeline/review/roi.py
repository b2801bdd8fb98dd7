"""ROI observed in production, compared with the priority's ROI hypothesis. Pure.

From production: runs (volume), success rate (the share of runs the AI handled without a
person redoing them) and cost per run, over a period. With the hypothesis' baseline:

    runs per month      = runs / period * 30 days
    cases handled by AI = runs per month * success rate
    value per month     = cases handled * baseline.minutesPerCase / 60 * baseline.costPerHour
    cost per month      = runs per month * cost per run
    automation rate     = cases handled / baseline.casesPerMonth

The net (value - cost) is compared with the hypothesis' expected net: within the tolerance
band (default 10%) it is on track, below it behind, above it ahead. Missing production
numbers give "unknown": no ROI claim without data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pipeline.model.priority import MonitoringGate, PrioritySpec, RoiHypothesis
from pipeline.monitoring.base import GateReading

MONTH = timedelta(days=30)
DEFAULT_TOLERANCE = 0.10
# Production metrics the ROI reads (by name, through the priority's monitoring source).
SUCCESS_RATE = "success_rate"
COST_PER_RUN = "cost_per_run"
RoiVerdict = Literal["on-track", "behind", "ahead", "unknown"]


@dataclass(frozen=True)
class Production:
    runs: int
    period: timedelta  # what the runs were counted over
    success_rate: float
    cost_per_run: float
    # The review's whole window when production covered only part of it (the figures are
    # scaled from `period` to a month, and the verdict is marked partial).
    window: timedelta | None = None

    @property
    def partial(self) -> bool:
        return self.window is not None and self.period < self.window


@dataclass(frozen=True)
class RoiFigures:
    runs_per_month: float
    cases_handled_per_month: float
    automation_rate: float
    value_per_month: float
    cost_per_month: float

    @property
    def net_per_month(self) -> float:
        return self.value_per_month - self.cost_per_month


@dataclass(frozen=True)
class RoiResult:
    verdict: RoiVerdict
    currency: str
    observed: RoiFigures | None
    expected: RoiFigures
    reason: str
    partial: bool = False  # over part of the window only: shown, never an issue on its own


def observed_figures(hypothesis: RoiHypothesis, production: Production) -> RoiFigures:
    baseline = hypothesis.baseline
    runs = production.runs * (MONTH / production.period)
    handled = runs * production.success_rate
    value = handled * baseline.minutes_per_case / 60 * baseline.cost_per_hour
    automation = handled / baseline.cases_per_month if baseline.cases_per_month else 0.0
    return RoiFigures(runs, handled, automation, value, runs * production.cost_per_run)


def expected_figures(hypothesis: RoiHypothesis) -> RoiFigures:
    cases = hypothesis.baseline.cases_per_month
    rate = hypothesis.expected.automation_rate
    return RoiFigures(float(cases), cases * rate, rate, hypothesis.expected.value_per_month,
                      hypothesis.expected.cost_per_month)


def compare_roi(hypothesis: RoiHypothesis, production: Production | None, *,
                tolerance: float = DEFAULT_TOLERANCE, missing: str = "") -> RoiResult:
    """The ROI verdict with the numbers behind it."""
    expected = expected_figures(hypothesis)
    if production is None:
        return RoiResult("unknown", hypothesis.currency, None, expected,
                         missing or "no production readings")
    observed = observed_figures(hypothesis, production)
    verdict = roi_verdict(observed.net_per_month, expected.net_per_month, tolerance)
    reason = (f"net {money(observed.net_per_month, hypothesis.currency)}/month against "
              f"{money(expected.net_per_month, hypothesis.currency)} expected "
              f"({_band(verdict, tolerance)})")
    if production.partial and production.window is not None:
        reason += (f"; partial: production covered {_days(production.period)} of the "
                   f"{_days(production.window)} window, scaled to a month")
    return RoiResult(verdict, hypothesis.currency, observed, expected, reason,
                     production.partial)


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def roi_verdict(observed_net: float, expected_net: float, tolerance: float) -> RoiVerdict:
    band = tolerance * abs(expected_net)
    if observed_net < expected_net - band:
        return "behind"
    if observed_net > expected_net + band:
        return "ahead"
    return "on-track"


def _band(verdict: RoiVerdict, tolerance: float) -> str:
    where = {"on-track": "within", "behind": "below", "ahead": "above"}.get(verdict, "outside")
    return f"{where} the ±{tolerance:.0%} band"


def money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.0f}"


def roi_gates(spec: PrioritySpec, period: timedelta) -> list[MonitoringGate]:
    """Gates that read the ROI metrics over `period`; queries come from same-named gates.

    They only check that data is there (>= 0, one sample): the ROI verdict is separate.
    """
    known = {g.metric: g for g in spec.monitoring.gates}
    out = []
    for metric in (SUCCESS_RATE, COST_PER_RUN):
        source = known.get(metric)
        out.append(MonitoringGate(
            name=f"roi {metric}", metric=metric, comparison=">=", threshold=0.0,
            window=period, min_samples=1,
            query=source.query if source else None,
            samples_query=source.samples_query if source else None))
    return out


def covered_span(period: timedelta, covered: timedelta | None) -> timedelta:
    """The part of `period` a version out for COVERED has run: the span its ROI readings
    are read over. Reading the whole period would count the runs of what served before it
    and then scale them up as if they were its own."""
    return period if covered is None else max(min(covered, period), timedelta(hours=1))


def production_from(readings: list[GateReading], period: timedelta,
                    covered: timedelta | None = None) -> tuple[Production | None, str]:
    """Production numbers from the readings of `roi_gates` over `period`, or None with the
    reason. COVERED: how much of the period production has run (less for a version out
    for a shorter time): its runs are counted over that span, and the result is partial."""
    by_metric = {r.metric: r for r in readings}
    problems = [f"{m}: {by_metric[m].reason}" if m in by_metric else f"{m}: not read"
                for m in (SUCCESS_RATE, COST_PER_RUN)
                if m not in by_metric or by_metric[m].value is None
                or by_metric[m].verdict == "inconclusive"]
    if problems:
        return None, "; ".join(problems)
    rate, cost = by_metric[SUCCESS_RATE], by_metric[COST_PER_RUN]
    assert rate.value is not None and cost.value is not None
    span = covered_span(period, covered)
    return Production(rate.samples, span, rate.value, cost.value,
                      period if span < period else None), ""
