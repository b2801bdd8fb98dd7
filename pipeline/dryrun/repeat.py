"""Repeated runs: one case run k times becomes one result, and what k runs say.

A case passes only when every one of its runs passed (pass^k): production answers each
request once, so a case that fails one run in three fails one request in three. pass@k
(at least one run passed) is reported beside it, never gated on. A case whose runs
disagree is flaky; a flaky critical case fails the critical-cases threshold because it
did not pass every run. Pure functions of results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

from pipeline.dryrun.results import CaseResult

_Z95 = NormalDist().inv_cdf(0.975)


def _check_counts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"passed runs must be between 0 and n ({c} of {n})")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n (k={k}, n={n})")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k runs drawn from n (c of them passing) passes: the
    unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al., 2021)."""
    _check_counts(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Chance that all k runs drawn from n (c of them passing) pass: C(c, k) / C(n, k)."""
    _check_counts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def wilson(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a proportion; (0, 1) for no trials.
    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 % or 100 %."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    # At 0 % and 100 % the bound is exactly 0 or 1: rounding must not put it past p.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def combine(runs: Sequence[CaseResult]) -> CaseResult:
    """One result for a case's runs. It shows the first failing run (its output and
    checks explain the failure), is as slow as the slowest run and costs what all cost."""
    if len(runs) == 1:
        return runs[0]
    shown = next((r for r in runs if not r.passed), runs[0])
    return replace(shown, passed=all(r.passed for r in runs),
                   latency_ms=max(r.latency_ms for r in runs),
                   cost=sum(r.cost for r in runs),
                   tokens_in=sum(r.tokens_in for r in runs),
                   tokens_out=sum(r.tokens_out for r in runs),
                   cached=all(r.cached for r in runs),
                   outcomes=tuple(r.passed for r in runs))


@dataclass(frozen=True)
class RepeatStats:
    """What the runs of a set of cases say (a threshold's cases, or all of them)."""

    cases: int
    runs: int
    passed_runs: int
    pass_at_k: float  # share of cases with at least one passing run
    pass_all_k: float  # share of cases whose every run passed (what gates use)
    flaky: tuple[str, ...]

    @property
    def mean(self) -> float:
        return self.passed_runs / self.runs if self.runs else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson(self.passed_runs, self.runs)

    def to_json(self) -> dict[str, Any]:
        low, high = self.ci95
        return {"cases": self.cases, "runs": self.runs, "passedRuns": self.passed_runs,
                "meanPassRate": round(self.mean, 6), "passAtK": round(self.pass_at_k, 6),
                "passAllK": round(self.pass_all_k, 6),
                "ci95": {"low": round(low, 6), "high": round(high, 6)},
                "flaky": list(self.flaky)}


def repeat_stats(results: Sequence[CaseResult]) -> RepeatStats:
    n = len(results) or 1
    return RepeatStats(
        cases=len(results), runs=sum(r.runs for r in results),
        passed_runs=sum(r.runs_passed for r in results),
        pass_at_k=sum(r.runs_passed > 0 for r in results) / n,
        pass_all_k=sum(r.passed for r in results) / n,
        flaky=tuple(r.id for r in results if r.flaky))


def repeated(results: Sequence[CaseResult]) -> bool:
    """Whether any case ran more than once: only then do reports and evidence carry the
    repeat statistics (a run with repeat 1 writes the evidence it always wrote)."""
    return any(r.runs > 1 for r in results)
