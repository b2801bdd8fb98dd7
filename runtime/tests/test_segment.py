"""A stage with a segment (its `targeting`): the runtime hands the request's attributes to
flagd as its evaluation context, says whether the request was inside the segment (decided
by flagd-core's own JSONLogic evaluator), and labels what it counts with it, so that the
SRM gate counts the split inside the segment only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ailoop_runtime import ActionSpec, FlagSource, Guard, Installed, Metrics, Runtime
from ailoop_runtime import workflow_digest as digest_of

from pipeline.model.priority import MonitoringGate
from pipeline.model.status import StatusBody
from pipeline.monitoring.file import JsonlMonitoring
from pipeline.reconcile import flags

T0 = datetime(2026, 12, 1, tzinfo=UTC)
SMALL = {"<": [0, {"var": "amount"}, 1000]}
REQUESTS = [({"text": f"claim {i}"}, f"case-{i}", {"amount": (i * 37) % 2000 + 1})
            for i in range(2000)]


def _install(tmp: Path, version: str) -> tuple[Installed, str]:
    folder = tmp / f"v{version}"
    folder.mkdir()
    (folder / "workflow.py").write_text(f"VERSION = {version!r}\n")

    def run(request: dict[str, Any]) -> Any:
        return {"output": "ok", "usage": {"cost": 0.01}}
    return Installed(run, str(folder)), digest_of(str(folder))


def _runtime(tmp: Path, percent: float, segment: dict[str, Any] | None = SMALL) -> Runtime:
    serving, serving_digest = _install(tmp, "1.0")
    candidate, candidate_digest = _install(tmp, "1.1")
    body = StatusBody.model_validate({
        "serving": {"version": "1.0", "evidenceId": "ev-a", "workflowDigest": serving_digest,
                    "since": T0},
        "candidate": {"version": "1.1", "evidenceId": "ev-b", "since": T0, "stage": "canary",
                      "workflowDigest": candidate_digest, "percent": percent,
                      "segment": segment}})
    path = tmp / "flags.flagd.json"
    path.write_text(flags.render(flags.customer_flags([("claims", body)])))
    guard = Guard({"pay": ActionSpec("pay", "financial")}, {}, priority="acme/claims")
    return Runtime(FlagSource(str(path)), "acme/claims", {"1.0": serving, "1.1": candidate},
                   guard, Metrics())


def test_the_choice_says_whether_the_request_was_in_the_segment(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, 25)
    try:
        chosen = [(rt.flags.choose("claims", key, context), context["amount"] < 1000)
                  for _, key, context in REQUESTS]
        plain = rt.flags.choose("claims", "case-1")  # no amount: outside
    finally:
        rt.close()
    assert all(c.segment is inside for c, inside in chosen)
    assert all(c.variant == "serving" for c, inside in chosen if not inside)
    inside = [c for c, i in chosen if i]
    share = sum(c.variant == "candidate" for c in inside) / len(inside)
    assert abs(share - 0.25) < 0.04
    assert plain.segment is False and plain.variant == "serving"


def test_without_a_segment_the_choice_has_none(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, 25, segment=None)
    try:
        assert rt.flags.choose("claims", "case-1", {"amount": 5}).segment is None
    finally:
        rt.close()


def test_the_readings_say_the_segment_and_the_srm_gate_counts_inside_it(
        tmp_path: Path) -> None:
    rt = _runtime(tmp_path, 25)
    path = tmp_path / "readings.jsonl"
    try:
        for request, key, context in REQUESTS:
            rt.handle(request, key, context=context)
        lines = rt.export_readings(str(path), T0)
    finally:
        rt.close()
    requests = {(x["variant"], x.get("segment")): x["samples"] for x in lines
                if x["metric"] == "error_rate"}
    assert set(requests) == {("candidate", "in"), ("serving", "in"), ("serving", "out")}
    assert requests[("serving", "out")] == sum(c["amount"] >= 1000 for _, _, c in REQUESTS)
    gate = MonitoringGate.model_validate({
        "metric": "error_rate", "comparison": "<=", "threshold": 0.02, "window": "1h",
        "minSamples": 10, "compare": {"maxDegradation": 0.1}})
    source = JsonlMonitoring(str(path), timedelta(minutes=15))
    (inside,) = source.readings("acme/claims", "canary", [gate], T0, "candidate", 0.25,
                                segmented=True)
    assert inside.verdict == "pass", inside.reason
    # Counting the out-of-segment serving traffic would see a broken split.
    (everything,) = source.readings("acme/claims", "canary", [gate], T0, "candidate", 0.25)
    assert everything.verdict == "fail" and "sample ratio mismatch" in everything.reason
    assert json.loads(path.read_text().splitlines()[0])["stage"] == "canary"


def test_an_attribute_the_rule_cannot_evaluate_is_outside_served_by_serving(
        tmp_path: Path) -> None:
    # flagd-core raises on it (JSONLogic cannot compare an object): not the existing
    # process, but what the flag says outside the segment, the serving version.
    rt = _runtime(tmp_path, 100)
    try:
        choice = rt.flags.choose("claims", "case-1", {"amount": object()})
        inside = rt.flags.choose("claims", "case-1", {"amount": 5})
    finally:
        rt.close()
    assert (choice.variant, choice.chosen.version, choice.segment) == ("serving", "1.0", False)
    assert (inside.variant, inside.chosen.version, inside.segment) == ("candidate", "1.1", True)
