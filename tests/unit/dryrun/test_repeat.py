from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dryrun.repeat import combine, pass_at_k, pass_hat_k, repeat_stats, wilson
from pipeline.dryrun.results import CaseResult


def run(id: str, passed: bool, latency: float = 1.0, cost: float = 0.0,
        critical: bool = False) -> CaseResult:
    return CaseResult(id=id, tags=(), critical=critical, passed=passed, output=passed,
                      latency_ms=latency, cost=cost)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    # Chen et al. 2021: 1 - C(n-c, k) / C(n, k)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(3, 1, 3) == 1.0  # k = n: at least one of the runs passed
    assert pass_at_k(5, 4, 2) == 1.0  # fewer failures than k: some pass is certain


def test_pass_hat_k_needs_every_run() -> None:
    # C(c, k) / C(n, k)
    assert pass_hat_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_hat_k(10, 3, 2) == pytest.approx(3 / 45)
    assert pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(3, 3, 3) == 1.0


def test_pass_estimators_refuse_impossible_counts() -> None:
    with pytest.raises(ValueError, match="k must be between 1 and n"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="passed runs must be between 0 and n"):
        pass_hat_k(3, 4, 1)


def test_wilson_score_interval_known_values() -> None:
    # Wilson (1927) at 95 %; values as R's binom::binom.wilson and statsmodels give them
    assert wilson(8, 10) == pytest.approx((0.4901625, 0.9433178), abs=1e-6)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775328), abs=1e-6)
    assert wilson(10, 10) == pytest.approx((0.7224672, 1.0), abs=1e-6)
    assert wilson(0, 0) == (0.0, 1.0)  # nothing measured: nothing is known


def test_combine_gates_on_every_run_and_flags_flaky_cases() -> None:
    runs = [run("a", True, 5.0, 0.1), run("a", False, 9.0, 0.1), run("a", True, 7.0, 0.1)]
    combined = combine(runs)
    assert not combined.passed
    assert combined.flaky
    assert (combined.runs, combined.runs_passed) == (3, 2)
    assert combined.output is False  # the failing run is the one shown
    assert combined.latency_ms == 9.0  # the slowest run
    assert combined.cost == pytest.approx(0.3)  # every run costs
    assert combined.to_json()["runs"] == {"total": 3, "passed": 2}
    assert combined.to_json()["flaky"] is True


def test_one_run_is_the_run_itself() -> None:
    single = run("a", True)
    assert combine([single]) == single
    assert "runs" not in single.to_json() and "flaky" not in single.to_json()
    steady = combine([run("a", False), run("a", False)])
    assert not steady.flaky and steady.to_json()["runs"] == {"total": 2, "passed": 0}


def test_repeat_stats_per_subset() -> None:
    results = [combine([run("a", True)] * 3), combine([run("b", True), run("b", False),
                                                       run("b", True)]),
               combine([run("c", False)] * 3)]
    stats = repeat_stats(results)
    assert stats.to_json() == {
        "cases": 3, "runs": 9, "passedRuns": 5, "meanPassRate": 0.555556,
        "passAtK": 0.666667, "passAllK": 0.333333,
        "ci95": {"low": 0.266651, "high": 0.811221}, "flaky": ["b"]}


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=20), min_size=1, max_size=30))
def test_repeat_statistics_agree_with_the_runs(outcomes: list[list[bool]]) -> None:
    results = [combine([run(f"c{i}", ok) for ok in runs]) for i, runs in enumerate(outcomes)]
    for result, runs in zip(results, outcomes, strict=True):
        assert result.passed == all(runs)
        assert result.flaky == (any(runs) and not all(runs))
    stats = repeat_stats(results)
    low, high = stats.ci95
    assert 0 <= low <= stats.mean <= high <= 1
    # the mean is not always between them: it weighs cases by how often they ran
    assert stats.pass_all_k <= stats.pass_at_k
    assert stats.runs == sum(len(r) for r in outcomes)
