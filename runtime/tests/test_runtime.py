"""Serving a priority: the variant's code is checked, shadow never acts, metrics count."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ailoop_runtime import (
    ActionSpec,
    FlagSource,
    Guard,
    Installed,
    Metrics,
    Runtime,
    VariantRefused,
    workflow_digest,
)
from ailoop_runtime.runtime import TraceStore

from pipeline.model.status import StatusBody
from pipeline.reconcile import flags

T0 = datetime(2026, 12, 1, tzinfo=UTC)
KEYS = [f"case-{i}" for i in range(400)]


def install(tmp: Path, version: str, answer: str) -> tuple[Installed, str]:
    folder = tmp / f"v{version}"
    folder.mkdir()
    (folder / "workflow.py").write_text(f"ANSWER = {answer!r}\n")

    def run(request: dict[str, Any]) -> Any:
        return {"output": answer, "actions": [{"name": "pay", "payload": {"amount": 3}}],
                "usage": {"cost": 0.01, "tokens": {"input": 10, "output": 2}}}
    return Installed(run, str(folder)), workflow_digest(str(folder))


def runtime(tmp: Path, *, stage: str, percent: float, tamper: str = "") -> tuple[Runtime, list]:
    serving, serving_digest = install(tmp, "1.0", "billing")
    candidate, candidate_digest = install(tmp, "1.1", "support")
    if tamper:
        (Path(candidate.folder if tamper == "candidate" else serving.folder) /
         "workflow.py").write_text("ANSWER = 'tampered'\n")
    body = StatusBody.model_validate({
        "serving": {"version": "1.0", "evidenceId": "ev-a", "workflowDigest": serving_digest,
                    "since": T0},
        "candidate": {"version": "1.1", "evidenceId": "ev-b", "since": T0, "stage": stage,
                      "workflowDigest": candidate_digest, "percent": percent}})
    path = tmp / "flags.flagd.json"
    path.write_text(flags.render(flags.customer_flags([("refunds", body)])))
    done: list[Any] = []
    guard = Guard({"pay": ActionSpec("pay", "financial")}, {"pay": done.append},
                  priority="acme/refunds")
    return Runtime(FlagSource(str(path)), "acme/refunds", {"1.0": serving, "1.1": candidate},
                   guard, Metrics()), done


def test_requests_follow_the_flag_and_actions_wait_for_a_person(tmp_path: Path) -> None:
    rt, done = runtime(tmp_path, stage="early", percent=25)
    try:
        answers = [rt.handle({"text": k}, k) for k in KEYS]
    finally:
        rt.close()
    share = sum(a.variant == "candidate" for a in answers) / len(answers)
    assert 0.15 < share < 0.35
    assert {a.output for a in answers if a.variant == "candidate"} == {"support"}
    assert all(d.status == "queued" for a in answers for d in a.actions) and done == []


def test_code_that_does_not_match_the_flag_is_refused_loudly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rt, _ = runtime(tmp_path, stage="early", percent=100, tamper="candidate")
    try:
        with caplog.at_level(logging.ERROR, "ailoop_runtime"):
            answer = rt.handle({"text": "x"}, "case-1")
    finally:
        rt.close()
    assert answer.variant == "serving" and answer.output == "billing"  # fell back
    assert "REFUSED acme/refunds candidate version 1.1" in caplog.text
    assert rt.metrics.refused.labels("acme/refunds", "candidate", "1.1")._value.get() == 1


def test_without_any_matching_code_nothing_is_served(tmp_path: Path) -> None:
    rt, _ = runtime(tmp_path, stage="canary", percent=5, tamper="serving")
    try:
        with pytest.raises(VariantRefused):
            for key in KEYS:
                rt.handle({"text": key}, key)
    finally:
        rt.close()


def test_shadow_records_both_outputs_and_never_acts_on_the_candidate(tmp_path: Path) -> None:
    rt, done = runtime(tmp_path, stage="shadow", percent=0)
    try:
        answer = rt.handle({"text": "hello"}, "case-7")
        assert answer.shadow is not None and answer.shadow.result(timeout=10) == "support"
    finally:
        rt.close()
    assert answer.output == "billing"  # what was served is the serving version's
    (trace,) = rt.traces.recent
    assert trace["trace"] == answer.trace and trace["agreement"] == "disagree"
    assert (trace["serving"]["output"], trace["shadow"]["output"]) == ("billing", "support")
    recorded = [d for d in rt.guard.queue.all() if d.variant == "candidate"]  # type: ignore[attr-defined]
    assert recorded and all(d.status == "recorded" for d in recorded) and done == []


def test_readings_are_the_file_providers_observations(tmp_path: Path) -> None:
    rt, _ = runtime(tmp_path, stage="early", percent=25)
    try:
        for key in KEYS[:100]:
            rt.handle({"text": key}, key)
    finally:
        rt.close()
    lines = rt.metrics.readings(T0, stage="early")
    by = {(line["variant"], line["metric"]): line for line in lines}
    assert by[("candidate", "error_rate")]["value"] == 0
    assert by[("serving", "cost_per_run")]["value"] == pytest.approx(0.01)
    assert sum(by[(v, "error_rate")]["samples"] for v in ("serving", "candidate")) == 100
    again = rt.metrics.readings(T0)  # the interval started again: nothing counted ...
    assert again and {line["samples"] for line in again} == {0}  # ... but the exporter lives


def off_runtime(tmp: Path, *, stage: str | None, percent: float = 0,
                traces: TraceStore | None = None,
                clock: Any = None) -> tuple[Runtime, list[Any]]:
    """A new priority: no serving version yet (the existing process), candidate 1.1."""
    candidate, digest = install(tmp, "1.1", "support")
    body = StatusBody.model_validate({"candidate": {
        "version": "1.1", "evidenceId": "ev-b", "since": T0, "stage": stage,
        "workflowDigest": digest, "percent": percent}})
    path = tmp / "flags.flagd.json"
    path.write_text(flags.render(flags.customer_flags([("refunds", body)])))
    done: list[Any] = []
    metrics = Metrics()
    guard = Guard({"pay": ActionSpec("pay", "financial")}, {"pay": done.append},
                  priority="acme/refunds", clock=clock or (lambda: 1000.0),
                  on_decision=lambda d, changed: metrics.action(
                      "acme/refunds", d.variant, d.action, d.status, changed))
    return Runtime(FlagSource(str(path)), "acme/refunds", {"1.1": candidate}, guard,
                   metrics, traces=traces, clock=clock or (lambda: 1000.0)), done


def test_a_shadow_beside_the_existing_process_runs_and_never_acts(tmp_path: Path) -> None:
    rt, done = off_runtime(tmp_path, stage="shadow")
    try:
        answer = rt.handle({"text": "hello"}, "case-7")
        assert answer.shadow is not None and answer.shadow.result(timeout=10) == "support"
    finally:
        rt.close()
    assert (answer.variant, answer.output) == ("off", None)  # the existing process answers
    (trace,) = rt.traces.recent
    assert trace["agreement"] == "unjudged" and trace["shadow"]["output"] == "support"
    assert rt.metrics.requests.labels("acme/refunds", "candidate", "")._value.get() == 1
    assert rt.metrics.shadow.collect()[0].samples == []  # no AI answer to agree with
    lines = rt.export_readings(str(tmp_path / "readings.jsonl"), T0)
    assert {(x["variant"], x["stage"]) for x in lines} == {("candidate", "shadow")}
    assert done == []


def test_served_requests_are_traced_with_failures_when_asked(tmp_path: Path) -> None:
    store = TraceStore(str(tmp_path / "traces.jsonl"), served=True)
    rt, _ = off_runtime(tmp_path, stage="full", percent=100, traces=store)
    broken = Installed(lambda request: {"x": 1}["missing"], rt.versions["1.1"].folder)
    try:
        served = rt.handle({"text": "fine"}, "case-1")
        rt.versions["1.1"] = broken
        with pytest.raises(KeyError):
            rt.handle({"text": "breaks"}, "case-2")
    finally:
        rt.close()
    first, second = (json.loads(line) for line in
                     (tmp_path / "traces.jsonl").read_text().splitlines())
    assert (first["trace"], first["variant"], first["serving"]["output"]) == \
        (served.trace, "candidate", "support")
    assert first["time"] == 1000.0 and "error" not in first
    assert second["input"] == {"text": "breaks"} and second["error"] == "KeyError: 'missing'"


def test_decisions_carry_the_callers_clock_and_how_long_a_person_took(tmp_path: Path) -> None:
    now = [1000.0]
    rt, done = off_runtime(tmp_path, stage="full", percent=100, clock=lambda: now[0])
    try:
        (queued,) = rt.handle({"text": "x"}, "case-1").actions
    finally:
        rt.close()
    now[0] = 1900.0
    confirmed = rt.guard.confirm(queued.id, by="rita")
    assert (queued.status, queued.proposed, queued.at) == ("queued", 1000.0, 1000.0)
    assert (confirmed.status, confirmed.proposed, confirmed.at) == ("confirmed", 1000.0, 1900.0)
    assert len(done) == 1


def test_exported_readings_are_what_the_file_provider_judges(tmp_path: Path) -> None:
    """One path: the runtime appends the JSONL file ailoop's file monitoring provider reads,
    tagged with the flag's stage, and a gate on it passes or holds on those figures."""
    from datetime import timedelta

    from pipeline.model.priority import MonitoringGate
    from pipeline.monitoring.file import JsonlMonitoring

    rt, _ = runtime(tmp_path, stage="early", percent=25)
    path = tmp_path / "readings.jsonl"
    try:
        for key in KEYS[:100]:
            rt.handle({"text": key}, key)
        rt.export_readings(str(path), T0)
        rt.export_readings(str(path), T0 + timedelta(hours=1))  # no traffic: 0 samples
    finally:
        rt.close()
    gate = MonitoringGate.model_validate({"metric": "error_rate", "comparison": "<=",
                                          "threshold": 0.02, "window": "2h",
                                          "minSamples": 10})
    source = JsonlMonitoring(str(path), timedelta(minutes=15))
    (reading,) = source.readings("acme/refunds", "early", [gate], T0 + timedelta(hours=1))
    assert reading.verdict == "pass" and 10 <= reading.samples < 100
    (held,) = source.readings("acme/refunds", "canary", [gate], T0 + timedelta(hours=1))
    assert held.verdict == "inconclusive"  # readings of another stage never count


def test_confirmed_actions_give_the_human_override_rate(tmp_path: Path) -> None:
    rt, _ = off_runtime(tmp_path, stage="full", percent=100)
    try:
        first, second = (rt.handle({"text": k}, k).actions[0] for k in ("a", "b"))
    finally:
        rt.close()
    rt.guard.confirm(first.id, by="rita")
    rt.guard.confirm(second.id, by="rita", payload={"amount": 2})  # changed: an override
    lines = rt.metrics.readings(T0)
    (rate,) = (x for x in lines if x["metric"] == "human_override_rate")
    assert (rate["value"], rate["samples"]) == (0.5, 2)
