"""flagd export: the flag each priority's status gives (which key gets which variant is the
evaluators' business: tests/acceptance/test_flagd_evaluators.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.model.status import StatusBody
from pipeline.reconcile import flags

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
    flag = doc["flags"]["triage"]  # type: ignore[index]
    assert "targeting" not in flag and list(flag["variants"]) == ["serving"]
    assert flag["variants"]["serving"] == {
        "version": "off", "shadow": {"version": "1.1", "evidenceId": "ev-bbbbbbbbbbbbbbbb",
                                     "workflowDigest": "sha256:" + "b" * 64,
                                     "stage": "shadow"}}


def test_nothing_exposed_means_no_flag() -> None:
    doc = flags.customer_flags([("triage", status(serving=False))])
    assert doc["flags"] == {}


def test_weights_are_the_candidates_percent_in_basis_points() -> None:
    assert [flags.weights(p) for p in (1, 5, 12.5, 33.33, 100)] == \
        [(100, 9900), (500, 9500), (1250, 8750), (3333, 6667), (10_000, 0)]
