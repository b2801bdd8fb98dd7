"""Serving a priority: the variant's code is checked, shadow never acts, metrics count."""

from __future__ import annotations

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
    assert rt.metrics.readings(T0) == []  # the interval started again
