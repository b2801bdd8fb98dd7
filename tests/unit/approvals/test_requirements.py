from __future__ import annotations

from typing import Any

import pytest

from pipeline.approvals.requirements import (
    HUMAN_ROLES,
    governance_requirements,
    stage_requirements,
    stages_to_approve,
)
from pipeline.errors import InputError
from pipeline.model.priority import Priority
from pipeline.model.status import StatusBody

KEY = "acme/triage"


def priority(risk: str = "low", actions: list[dict[str, Any]] | None = None,
             target: str = "canary", canary: list[dict[str, Any]] | None = None) -> Priority:
    return Priority.model_validate({
        "apiVersion": "ailoop.dev/v1", "kind": "Priority", "metadata": {"name": "triage"},
        "spec": {"goal": "g", "owner": "ann", "inputData": {"source": "s"},
                 "expectedOutput": {"description": "d"}, "risk": risk,
                 "actions": actions or [],
                 "workflow": {"provider": "python", "version": "1", "entrypoint": "w.py:run"},
                 "dryRun": {"dataset": "d.jsonl"},
                 "rollout": {"target": target, "stages": [
                     {"name": "shadow", "percent": 0, "bakeTime": "1h",
                      "approvals": [{"role": "engineer"}]},
                     {"name": "canary", "percent": 25, "bakeTime": "1h",
                      "approvals": canary or []},
                     {"name": "full", "percent": 100, "bakeTime": "1d"}]}}})


def test_stage_approvals_come_first() -> None:
    reqs = stage_requirements(KEY, priority(canary=[{"role": "ai-lead", "count": 2}]), "canary")
    assert [(r.roles, r.count, r.why) for r in reqs] == [
        (("ai-lead",), 2, "stage 'canary' asks for 2 ai-lead")]


def test_high_risk_adds_a_risk_officer_to_exposed_stages_only() -> None:
    p = priority(risk="critical", canary=[{"role": "customer-reviewer"}])
    assert [r.roles for r in stage_requirements(KEY, p, "canary")] == [
        ("customer-reviewer",), ("risk-officer",)]
    assert [r.roles for r in stage_requirements(KEY, p, "shadow")] == [("engineer",)]
    covered = priority(risk="high", canary=[{"role": "risk-officer", "count": 2}])
    assert [r.count for r in stage_requirements(KEY, covered, "canary")] == [2]


def test_exposed_actions_need_a_human_when_the_stage_asks_for_nobody() -> None:
    p = priority(actions=[{"name": "refund", "class": "financial"},
                          {"name": "tag", "class": "internal"}])
    (req,) = stage_requirements(KEY, p, "full")
    assert req.roles == HUMAN_ROLES
    assert req.why == "action 'refund' (financial) needs an explicit human approval"


def test_unknown_stage_is_an_input_error() -> None:
    with pytest.raises(InputError, match="priority 'triage' has no stage 'nope' "
                                         r"\(stages: shadow, canary, full\)"):
        stage_requirements(KEY, priority(), "nope")


def test_stages_to_approve_follow_status_and_evidence() -> None:
    p = priority(target="full")
    assert stages_to_approve(p, None, "ev-1") == ["shadow", "canary", "full"]
    at_canary = StatusBody(stage="canary", evidence_id="ev-1")
    assert stages_to_approve(p, at_canary, "ev-1") == ["full"]
    # A new fingerprint is a new candidate: it starts over from the first stage.
    assert stages_to_approve(p, at_canary, "ev-2") == ["shadow", "canary", "full"]
    assert stages_to_approve(priority(target="canary"), at_canary, "ev-1") == []


def test_governance_files_need_a_policy_owner() -> None:
    assert governance_requirements(["customers/acme/triage/priority.yaml"]) == []
    (req,) = governance_requirements(["policies/a.yaml", "ailoop.yaml",
                                      "customers/acme/customer.yaml", "policies/b.yaml"])
    assert req.roles == ("policy-owner",)
    assert req.why == ("governance files changed (ailoop.yaml, customers/acme/customer.yaml, "
                       "policies/a.yaml and 1 more): a policy-owner must approve")
