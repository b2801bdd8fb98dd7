"""Statistical tests for canary comparisons. Pure Python: no SciPy at runtime.

Both tests return a one-sided p-value for the alternative the caller names:
  "greater"  sample 1 is larger than sample 2 (times `ratio` for the margin tests)
  "less"     sample 1 is smaller
  "two-sided"
The normal approximation is used throughout; the checks in tests/unit/monitoring compare the
results with SciPy (chi-square contingency, mannwhitneyu with method="asymptotic").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Alternative = Literal["greater", "less", "two-sided"]


@dataclass(frozen=True)
class TestResult:
    statistic: float  # z for the two-proportion test, U of sample 1 for Mann-Whitney
    z: float
    p_value: float


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def p_from_z(z: float, alternative: Alternative) -> float:
    if alternative == "greater":
        return normal_sf(z)
    if alternative == "less":
        return normal_sf(-z)
    return min(1.0, 2.0 * normal_sf(abs(z)))


def two_proportion_test(successes1: int, n1: int, successes2: int, n2: int, *,
                        alternative: Alternative = "two-sided",
                        ratio: float = 1.0) -> TestResult:
    """z-test of H0: p1 == ratio * p2.

    With ratio 1 this is the textbook test with the pooled variance (z squared equals
    Pearson's chi-square of the 2x2 table). With another ratio (a relative margin, e.g.
    1.1 = "10% worse") the pooled estimate no longer holds under H0, so the unpooled
    (Wald) variance p1(1-p1)/n1 + ratio^2 p2(1-p2)/n2 is used.
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one observation")
    if not (0 <= successes1 <= n1 and 0 <= successes2 <= n2):
        raise ValueError("successes must lie between 0 and the sample size")
    p1, p2 = successes1 / n1, successes2 / n2
    if ratio == 1.0:
        pooled = (successes1 + successes2) / (n1 + n2)
        variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    else:
        variance = p1 * (1 - p1) / n1 + ratio * ratio * p2 * (1 - p2) / n2
    z = _z(p1 - ratio * p2, variance)
    return TestResult(z, z, p_from_z(z, alternative))


def _z(difference: float, variance: float) -> float:
    if variance > 0:
        return difference / math.sqrt(variance)
    # No spread at all: the difference is either exactly nothing or certain.
    return 0.0 if difference == 0 else math.copysign(math.inf, difference)


def rank(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) of `values`, and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = average
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney_u(sample1: Sequence[float], sample2: Sequence[float], *,
                   alternative: Alternative = "two-sided") -> TestResult:
    """Mann-Whitney U test, normal approximation with tie and continuity correction.

    Matches scipy.stats.mannwhitneyu(sample1, sample2, alternative=...,
    method="asymptotic", use_continuity=True); `statistic` is U of sample 1.
    """
    n1, n2 = len(sample1), len(sample2)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one observation")
    ranks, ties = rank([*sample1, *sample2])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
    mu = n1 * n2 / 2
    u = {"greater": u1, "less": n1 * n2 - u1}.get(alternative, max(u1, n1 * n2 - u1))
    if sigma == 0:  # every value tied: no evidence either way
        return TestResult(u1, 0.0, 1.0)
    z = (u - mu - 0.5) / sigma
    p = normal_sf(z)
    return TestResult(u1, z, min(1.0, 2 * p) if alternative == "two-sided" else p)


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def always_valid_p(z: float, n: int, tuning: int) -> float:
    """A one-sided always-valid p-value for a statistic `z` (standard normal under H0,
    large when the alternative holds) computed from `n` observations.

    The reconciler looks at a canary again and again as data grows; a fixed-horizon p-value
    below alpha at any of those looks is then far likelier than alpha. This one comes from
    a mixture martingale (a half-normal mixture over the drift, as in the mixture SPRT and
    the asymptotic confidence sequences GrowthBook documents): by Ville's inequality the
    chance that it ever drops below alpha under H0, at any number of looks, is at most alpha.
    `tuning` is the sample size at which the test is sharpest (GrowthBook's default: 5000).
    """
    if n <= 0 or not math.isfinite(z):
        return 0.0 if z == math.inf and n > 0 else 1.0
    rho2 = _rho_squared(tuning)
    x = n * rho2  # the mixture's variance in units of one observation's
    log_m = math.log(2.0) - 0.5 * math.log1p(x) + z * z * x / (2 * (1 + x))
    cdf = normal_cdf(z * math.sqrt(x / (1 + x)))
    if cdf <= 0.0:
        return 1.0
    log_m += math.log(cdf)
    return 1.0 if log_m <= 0 else math.exp(-log_m)


def _rho_squared(tuning: int, alpha: float = 0.05) -> float:
    """The mixture's spread that makes the test sharpest at `tuning` observations."""
    two_log = -2 * math.log(alpha)
    return (two_log + math.log(two_log + 1)) / max(1, tuning)


def srm_p_value(observed_new: int, observed_current: int, share: float) -> float:
    """Sample ratio mismatch: the chi-square goodness-of-fit p-value (one degree of freedom)
    of the split (new, current) against the expected share of the new variant."""
    total = observed_new + observed_current
    if total <= 0 or not 0.0 < share < 1.0:
        return 1.0
    expected_new, expected_current = total * share, total * (1 - share)
    chi2 = ((observed_new - expected_new) ** 2 / expected_new
            + (observed_current - expected_current) ** 2 / expected_current)
    return math.erfc(math.sqrt(chi2 / 2.0))  # P(chi2_1 > chi2) = P(|Z| > sqrt(chi2))
