"""The statistics against SciPy (test-only dependency) and textbook values."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.monitoring.stats import mann_whitney_u, normal_sf, rank, two_proportion_test

scipy_stats = pytest.importorskip("scipy.stats", reason="SciPy checks the statistics (dev extra)")


def test_normal_tail_matches_textbook_values() -> None:
    assert normal_sf(1.6448536) == pytest.approx(0.05, abs=1e-7)
    assert normal_sf(1.959964) == pytest.approx(0.025, abs=1e-7)
    assert normal_sf(0.0) == 0.5


def test_ranks_average_ties() -> None:
    assert rank([3.0, 1.0, 3.0, 2.0]) == ([3.5, 1.0, 3.5, 2.0], [1, 1, 2])


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [
    (45, 100, 56, 100), (10, 2000, 22, 2000), (0, 50, 3, 60), (199, 200, 190, 200)])
def test_pooled_two_proportion_z_squared_is_pearson_chi_square(
        x1: int, n1: int, x2: int, n2: int) -> None:
    result = two_proportion_test(x1, n1, x2, n2)
    chi2, p, _, _ = scipy_stats.chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]],
                                                 correction=False)
    assert result.z ** 2 == pytest.approx(chi2, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_two_proportion_textbook_example() -> None:
    # Pooled p = 0.505, z = -1.5558: the classic 45/100 vs 56/100 example.
    result = two_proportion_test(45, 100, 56, 100, alternative="less")
    assert result.z == pytest.approx(-1.5558, abs=1e-4)
    assert result.p_value == pytest.approx(scipy_stats.norm.cdf(result.z), rel=1e-12)
    assert result.p_value == pytest.approx(0.0599, abs=1e-4)


def test_two_proportion_with_margin_uses_the_unpooled_variance() -> None:
    result = two_proportion_test(30, 1000, 20, 1000, ratio=1.1, alternative="greater")
    p1, p2 = 0.03, 0.02
    se = math.sqrt(p1 * (1 - p1) / 1000 + 1.21 * p2 * (1 - p2) / 1000)
    assert result.z == pytest.approx((p1 - 1.1 * p2) / se, rel=1e-12)
    assert result.p_value == pytest.approx(scipy_stats.norm.sf(result.z), rel=1e-9)


def test_two_proportion_without_spread() -> None:
    assert two_proportion_test(0, 10, 0, 10, alternative="greater").p_value == 0.5
    assert two_proportion_test(10, 10, 0, 10, ratio=1.2, alternative="greater").p_value == 0.0


def test_two_proportion_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="between 0 and the sample size"):
        two_proportion_test(11, 10, 0, 10)
    with pytest.raises(ValueError, match="at least one observation"):
        two_proportion_test(0, 0, 0, 10)


def _samples(seed: int, n: int, scale: float, *, rounded: bool) -> list[float]:
    rng = random.Random(seed)
    values = [rng.lognormvariate(0, 0.5) * scale for _ in range(n)]
    return [round(v, 1) for v in values] if rounded else values


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("rounded", [False, True])  # rounding makes many ties
def test_mann_whitney_matches_scipy(alternative: str, rounded: bool) -> None:
    a = _samples(1, 40, 1.2, rounded=rounded)
    b = _samples(2, 55, 1.0, rounded=rounded)
    ours = mann_whitney_u(a, b, alternative=alternative)  # type: ignore[arg-type]
    theirs = scipy_stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic",
                                      use_continuity=True)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_mann_whitney_textbook_example() -> None:
    # Two small groups with no overlap: U1 = n1 * n2 for the larger group.
    result = mann_whitney_u([7, 8, 9, 10], [1, 2, 3, 4, 5], alternative="greater")
    assert result.statistic == 20
    assert result.p_value == pytest.approx(
        scipy_stats.mannwhitneyu([7, 8, 9, 10], [1, 2, 3, 4, 5], alternative="greater",
                                 method="asymptotic").pvalue, rel=1e-12)


def test_mann_whitney_all_tied_gives_no_evidence() -> None:
    assert mann_whitney_u([1.0, 1.0], [1.0, 1.0, 1.0], alternative="greater").p_value == 1.0
