"""flagd export: bucketing identical to flagd's fractional operator, sticky and monotonic."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import mmh3
import pytest

from pipeline.model.status import StatusBody
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
                             "additionalProperties": {"type": "object",
                                                      "required": ["version"]}},
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
    candidate, serving = flags.weights(percent)
    for key in KEYS[:1000]:
        expected = independent_variant("triage", key, [("candidate", candidate),
                                                       ("serving", serving)])
        assert flags.variant_for("triage", key, percent) == expected


def test_raising_the_percent_only_adds_keys() -> None:
    previous: set[str] = set()
    for percent in (0, 1, 5, 10, 25, 50, 75, 100):
        current = {k for k in KEYS
                   if flags.variant_for("claims-intake", k, percent) == "candidate"}
        assert previous <= current  # nobody moves back out
        assert abs(len(current) / len(KEYS) - percent / 100) < 0.03
        previous = current
    assert previous == set(KEYS)


T0 = datetime(2026, 12, 1, tzinfo=UTC)
SERVING = {"version": "1.0", "evidenceId": "ev-aaaaaaaaaaaaaaaa", "workflowDigest": "a" * 64,
           "since": T0}


def status(*, serving: bool = True, stage: str | None = None,
           percent: float = 0) -> StatusBody:
    candidate = {"version": "1.1", "evidenceId": "ev-bbbbbbbbbbbbbbbb",
                 "workflowDigest": "b" * 64, "since": T0, "stage": stage, "percent": percent}
    return StatusBody.model_validate({"serving": SERVING if serving else None,
                                      "candidate": candidate})


def test_the_candidates_percent_goes_to_it_and_the_rest_to_the_serving_version() -> None:
    doc = flags.customer_flags([("triage", status(stage="canary", percent=5)),
                                ("intake", status())])
    jsonschema.validate(doc, FLAGD_SHAPE)
    assert list(doc["flags"]) == ["intake", "triage"]  # type: ignore[call-overload]
    assert doc["flags"]["triage"] == {  # type: ignore[index]
        "state": "ENABLED",
        "variants": {
            "candidate": {"version": "1.1", "evidenceId": "ev-bbbbbbbbbbbbbbbb",
                          "workflowDigest": "sha256:" + "b" * 64, "stage": "canary"},
            "serving": {"version": "1.0", "evidenceId": "ev-aaaaaaaaaaaaaaaa",
                        "workflowDigest": "sha256:" + "a" * 64}},
        "defaultVariant": "serving",
        "targeting": {"fractional": [["candidate", 500], ["serving", 9500]]}}
    # A candidate not yet at a stage gets nothing: the serving version takes everything.
    assert doc["flags"]["intake"] == {  # type: ignore[index]
        "state": "ENABLED", "defaultVariant": "serving",
        "variants": {"serving": {"version": "1.0", "evidenceId": "ev-aaaaaaaaaaaaaaaa",
                                 "workflowDigest": "sha256:" + "a" * 64}}}
    assert flags.render(doc).endswith("}\n")


def test_shadow_is_marked_on_the_serving_variant_and_a_new_priority_serves_off() -> None:
    doc = flags.customer_flags([("triage", status(serving=False, stage="shadow"))])
    jsonschema.validate(doc, FLAGD_SHAPE)
    flag = doc["flags"]["triage"]  # type: ignore[index]
    assert "targeting" not in flag and list(flag["variants"]) == ["serving"]
    assert flag["variants"]["serving"] == {
        "version": "off", "shadow": {"version": "1.1", "evidenceId": "ev-bbbbbbbbbbbbbbbb",
                                     "workflowDigest": "sha256:" + "b" * 64,
                                     "stage": "shadow"}}


def test_nothing_exposed_means_no_flag() -> None:
    doc = flags.customer_flags([("triage", status(serving=False))])
    assert doc["flags"] == {}
