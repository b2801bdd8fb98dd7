"""The canary comparison stays valid while the reconciler keeps looking (an always-valid
sequential test), and a broken traffic split fails the gate (sample ratio mismatch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from pipeline.monitoring.stats import always_valid_p, srm_p_value, two_proportion_test
from tests.unit.monitoring.test_gates import NOW, STALE, gate, minutes

ALPHA = 0.05
LOOKS, PER_LOOK = 20, 100  # 20 looks, 100 more requests per arm before each: 2,000 at last
TRIALS = 2000


def _rejections(p_current: float, p_new: float, seed: int) -> tuple[float, float]:
    """How often the sequential and the fixed-horizon test say "new is worse" at any of
    the looks, over TRIALS simulated canaries (success rates; lower is worse)."""
    rng = np.random.default_rng(seed)
    new = rng.binomial(1, p_new, (TRIALS, LOOKS * PER_LOOK)).cumsum(axis=1)
    current = rng.binomial(1, p_current, (TRIALS, LOOKS * PER_LOOK)).cumsum(axis=1)
    sequential = fixed = 0
    for trial in range(TRIALS):
        seq_hit = fixed_hit = False
        for look in range(1, LOOKS + 1):
            n = look * PER_LOOK
            result = two_proportion_test(int(new[trial, n - 1]), n, int(current[trial, n - 1]),
                                         n, alternative="less")
            fixed_hit |= result.p_value < ALPHA
            seq_hit |= always_valid_p(-result.z, 2 * n, 5000) < ALPHA
        sequential += seq_hit
        fixed += fixed_hit
    return sequential / TRIALS, fixed / TRIALS


def test_over_twenty_looks_the_false_alarm_rate_stays_at_alpha() -> None:
    sequential, fixed = _rejections(0.95, 0.95, seed=1)
    assert sequential <= ALPHA
    assert fixed > 2 * ALPHA  # rerunning a fixed-horizon test on growing data peeks


def test_a_true_regression_is_caught_with_at_least_80_percent_power() -> None:
    sequential, _ = _rejections(0.95, 0.92, seed=2)  # 2,000 requests per arm at the end
    assert sequential >= 0.8


def test_the_always_valid_p_value_is_never_below_the_fixed_one() -> None:
    for successes in range(1800, 1960, 20):
        fixed = two_proportion_test(successes, 2000, 1900, 2000, alternative="less")
        assert always_valid_p(-fixed.z, 4000, 5000) >= fixed.p_value
    assert always_valid_p(0.0, 100, 5000) == 1.0 and always_valid_p(-5.0, 100, 5000) == 1.0


@pytest.mark.parametrize(("new", "current", "share"),
                         [(900, 9100, 0.05), (510, 9490, 0.05), (2600, 7400, 0.25), (1, 0, 0.5)])
def test_the_sample_ratio_test_is_pearsons_chi_square(new: int, current: int,
                                                      share: float) -> None:
    total = new + current
    expected = chisquare([new, current], [total * share, total * (1 - share)]).pvalue
    assert srm_p_value(new, current, share) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def _judged(new_per_minute: int, current_per_minute: int, share: float | None) -> Any:
    from pipeline.monitoring.gates import evaluate_gate

    g = gate(compare={"maxDegradation": 0.1})
    return evaluate_gate(g, minutes(0.010, new_per_minute), now=NOW, max_staleness=STALE,
                         current=minutes(0.010, current_per_minute), share=share)


def test_a_canary_at_5_percent_that_gets_9_percent_of_traffic_fails() -> None:
    reading = _judged(9, 91, 0.05)  # 540 of 6,000 samples: 9%
    assert reading.verdict == "fail"
    assert "sample ratio mismatch: the new variant got 9.0% of 6000 samples, the flag sends " \
           "5.0%" in reading.reason
    assert _judged(5, 95, 0.05).verdict == "pass"  # the split the flag sets
    assert _judged(9, 91, None).verdict == "pass"  # split unknown: no SRM check


def test_a_shadow_stage_has_no_split_to_check() -> None:
    assert _judged(9, 91, 0.0).verdict == "pass"
