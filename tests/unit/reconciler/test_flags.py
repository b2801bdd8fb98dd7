"""flagd export: bucketing identical to flagd's fractional operator, sticky and monotonic."""

from __future__ import annotations

import jsonschema
import mmh3
import pytest

from pipeline.reconcile import flags

KEYS = [f"user-{i}@example.com" for i in range(4000)]

# The parts of flagd's flag-definition schema a fractional flag uses, written from
# https://flagd.dev/reference/flag-definitions/ (state, variants, defaultVariant, targeting).
FLAGD_SHAPE = {
    "type": "object",
    "required": ["flags"],
    "properties": {
        "$schema": {"type": "string"},
        "flags": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["state", "variants", "defaultVariant"],
            "additionalProperties": False,
            "properties": {
                "state": {"enum": ["ENABLED", "DISABLED"]},
                "variants": {"type": "object", "minProperties": 1,
                             "additionalProperties": {"type": "string"}},
                "defaultVariant": {"type": "string"},
                "targeting": {"type": "object", "required": ["fractional"], "properties": {
                    "fractional": {"type": "array", "minItems": 1, "items": {
                        "type": "array", "prefixItems": [{"type": "string"},
                                                         {"type": "integer", "minimum": 0}],
                        "minItems": 1, "maxItems": 2}}}},
            }}},
    },
}


def independent_variant(flag_key: str, targeting_key: str,
                        distribution: list[tuple[str, int]]) -> str:
    """flagd's fractional, recomputed from its description (not from pipeline.reconcile.flags)."""
    digest = mmh3.hash(flag_key + targeting_key, seed=0, signed=False)
    total = sum(w for _, w in distribution)
    point = digest * total // 2**32
    end = 0
    for variant, weight in distribution:
        end += weight
        if point < end:
            return variant
    raise AssertionError("no bucket")


def test_matches_flagds_own_test_vectors() -> None:
    # flagd's evaluator tests: flag "fractional-flag-shorthand", [["heads"], ["tails"]].
    assert flags.bucket("fractional-flag-shorthand", "jon@company.com", 2) == 0  # heads
    assert flags.bucket("fractional-flag-shorthand", "jane@company.com", 2) == 1  # tails


@pytest.mark.parametrize("percent", [0, 1, 5, 12.5, 25, 50, 100])
def test_bucketing_matches_an_independent_mmh3_computation(percent: float) -> None:
    new, stable = flags.weights(percent)
    for key in KEYS[:1000]:
        expected = independent_variant("triage", key, [("new", new), ("stable", stable)])
        assert flags.variant_for("triage", key, percent) == expected


def test_raising_the_percent_only_adds_keys() -> None:
    previous: set[str] = set()
    for percent in (0, 1, 5, 10, 25, 50, 75, 100):
        current = {k for k in KEYS if flags.variant_for("claims-intake", k, percent) == "new"}
        assert previous <= current  # nobody moves back out
        assert abs(len(current) / len(KEYS) - percent / 100) < 0.03
        previous = current
    assert previous == set(KEYS)


def test_export_is_valid_and_exact() -> None:
    doc = flags.customer_flags([("triage", "1.2.0", 5), ("intake", "2.0.0", 100)])
    jsonschema.validate(doc, FLAGD_SHAPE)
    assert list(doc["flags"]) == ["intake", "triage"]  # type: ignore[call-overload]
    assert doc["flags"]["triage"] == {  # type: ignore[index]
        "state": "ENABLED", "variants": {"new": "1.2.0", "stable": "stable"},
        "defaultVariant": "stable",
        "targeting": {"fractional": [["new", 500], ["stable", 9500]]}}
    assert flags.render(doc).endswith("}\n")
