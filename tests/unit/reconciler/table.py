"""Small builders for the planner's table tests (argo-rollouts' `rollout/canary_test.go`
style): a spec of four stages, a status with the candidate at a stage, the inputs around
it, and the expectation one row of a table checks.

Every default is the happy path: evidence passed for the version on disk, every approval
given and bound to it, monitoring passing, every role held. A row changes only what its
case is about.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.approvals.base import Approval
from pipeline.model.status import StatusBody
from pipeline.monitoring.base import GateReading, Verdict
from pipeline.reconcile.plan import (
    EventView,
    EvidenceView,
    PriorityInput,
    PriorityPlan,
    SpecView,
    StageView,
    plan_priority,
)
from tests.unit.reconciler.test_plan_properties import check_replan, check_terminal

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = "acme/triage"
GATE = "error rate"
MONITORING_INCIDENT = "ailoop-monitoring-error-rate-20261120-1200"  # opened at NOW
# Input fingerprints: the candidate on disk, an older candidate, the serving version.
NEW, OLD, SERVED = "ev-0000000000new", "ev-0000000000old", "ev-0000000served"
VERSIONS = {NEW: "2.0.0", OLD: "1.5.0", SERVED: "1.0.0"}
REVIEWER, RISK, OWNER = "customer-reviewer", "risk-officer", "customer-owner"
PEOPLE = {REVIEWER: "rita", RISK: "rick", OWNER: "olga"}
STAGE_ROLES = {"shadow": (REVIEWER,), "canary": (REVIEWER, RISK), "early": (REVIEWER, RISK),
               "full": (OWNER, RISK)}
BAKE = {"shadow": 1, "canary": 2, "early": 2, "full": 1}  # hours
PERCENT = {"shadow": 0, "canary": 5, "early": 25, "full": 100}
STAGES = tuple(StageView(name, PERCENT[name], timedelta(hours=BAKE[name]),
                         tuple(((role,), 1) for role in STAGE_ROLES[name]))
               for name in ("shadow", "canary", "early", "full"))
ROLES = {REVIEWER: 1, RISK: 1, OWNER: 1}
BAKED = timedelta(hours=3)  # longer than any stage's bake time
REASONS = {"pass": "error_rate 0.004 <= 0.02 over 1h (500 samples)",
           "fail": "error_rate 0.031 > 0.02 over 1h (412 samples)",
           "inconclusive": "40 samples < 100 minimum"}


def spec(target: str = "full", *, stages: tuple[StageView, ...] = STAGES,
         gates: tuple[str, ...] = (GATE,), reaction: str = "rollback",
         cadence: timedelta | None = timedelta(days=30)) -> SpecView:
    return SpecView("olga", target, stages, gates, reaction, cadence)


def version(fp: str, **more: Any) -> dict[str, Any]:
    return {"version": VERSIONS[fp], "evidenceId": fp, "workflowDigest": f"sha256:{fp}",
            "since": NOW - timedelta(days=2), **more}


def status(stage: str | None = None, *, fp: str | None = NEW,
           ago: timedelta | None = BAKED,
           serving: str | None = SERVED, phase: str | None = None,
           terminal: dict[str, Any] | None = None, **more: Any) -> StatusBody:
    """The candidate `fp` at `stage` (None: not at a stage yet; fp None: no candidate),
    entered `ago` (None: no entry time), with what the last reconcile recorded for it."""
    candidate = None if fp is None else version(
        fp, stage=stage, percent=PERCENT[stage] if stage else 0,
        entered=NOW - ago if stage and ago is not None else None)
    if terminal is None and stage is not None:
        terminal = reached(stage, fp or "")
    elif terminal is None and serving is not None:
        terminal = {"state": "stage-reached", "at": NOW - timedelta(days=2),
                    "reason": f"v{VERSIONS[serving]} is serving"}
    return StatusBody.model_validate({
        "phase": phase or ("progressing" if stage else "complete" if serving else "pending"),
        "serving": None if serving is None else version(serving),
        "candidate": candidate, "terminal": terminal, **more})


def reached(stage: str, fp: str) -> dict[str, Any]:
    return {"state": "stage-reached", "at": NOW - BAKED, "stage": stage,
            "reason": f"v{VERSIONS.get(fp, '?')} reached {stage} {PERCENT[stage]}%"}


def rollback(incident: str | None = "inc-1", *, frm: str | None = "early",
             to: str | None = "shadow", fp: str = NEW, cause: str = "incident",
             released: bool = False) -> dict[str, Any]:
    """A recorded rollback (the status field), as the reconciler writes it."""
    return {"cause": cause, "incident": incident, "at": NOW - timedelta(hours=1),
            "from": frm, "to": to, "evidenceId": fp, "released": released}


def blocked(reason: str = "rolled back after incident inc-1; to release: mark incident "
            "inc-1 resolved, or ship a fix (a new version)") -> dict[str, Any]:
    return {"state": "blocked", "at": NOW - timedelta(hours=1), "reason": reason,
            "owner": "olga"}


def approval(stage: str, role: str, *, person: str | None = None, fp: str = NEW,
             valid: bool = True, reason: str = "") -> Approval:
    return Approval(KEY, stage, role, person or PEOPLE[role], fp,
                    f"file:customers/{KEY}/approvals/{stage}-{role}.yaml",
                    NOW - timedelta(days=1), valid, reason)


def all_approvals(fp: str = NEW, *, but: tuple[tuple[str, str], ...] = ()
                  ) -> tuple[Approval, ...]:
    """Every stage's approvals bound to `fp`, except the (stage, role) pairs in `but`."""
    return tuple(approval(stage, role, fp=fp) for stage, roles in STAGE_ROLES.items()
                 for role in roles if (stage, role) not in but)


def readings(verdict: Verdict, gate: str = GATE) -> tuple[GateReading, ...]:
    return (GateReading(gate, "error_rate", verdict, {"pass": 0.004, "fail": 0.031}.get(verdict),
                        500, NOW, REASONS[verdict]),)


def evidence(fp: str = NEW, *, passed: bool = True) -> EvidenceView:
    return EvidenceView(fp, passed, 1.0 if passed else 0.8, 10, 0 if passed else 2)


def incident(name: str = "inc-1", severity: str = "high", *, resolved: bool = False,
             ago: timedelta = timedelta(minutes=5)) -> EventView:
    return EventView("Incident", name, NOW - ago, severity, resolved,
                     "Wrong team for urgent tickets.", "rita")


def given(state: StatusBody | None = None, *, fp: str | None = NEW,
          the_spec: SpecView | None = None, **changes: Any) -> PriorityInput:
    """The inputs of one reconcile: `fp` on disk with passing evidence, every approval
    bound to it, monitoring passing and every role held, unless `changes` say otherwise."""
    base = PriorityInput(
        KEY, the_spec or spec(), state if state is not None else status(),
        evidence_id=fp, evidence=evidence(fp) if fp else None,
        version=VERSIONS.get(fp or "", ""), workflow_digest=f"sha256:{fp}",
        approvals=all_approvals(fp or NEW), readings=readings("pass"), roles=ROLES,
        head="0123456789abcdef")
    return replace(base, **changes)


@dataclass(frozen=True)
class Then:
    """What one reconcile decides, and what it leaves recorded."""

    kind: str  # the primary action
    gate: str
    says: str  # a distinctive part of its reason (all of it with exact=True)
    at: str | None  # the candidate: "canary 5%", "unstaged" (no stage yet) or None (none)
    serving: str | None = "1.0.0"
    phase: str = "progressing"
    terminal: str | None = None  # "stage-reached canary", "blocked", "issue-fixed", ...
    why: str = ""  # a distinctive part of the terminal state's reason
    side: tuple[str, ...] = ()  # side notes also in the plan (open-incident, release, ...)
    note: str = ""  # a distinctive part of a side note's reason
    inputs: tuple[tuple[str, str], ...] = ()  # some of the primary action's inputs
    exact: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    given: PriorityInput
    then: Then


def rows(**tables: list[Case]) -> list[Any]:
    """The cases of tables named by their gate, as pytest parameters: `gate: case name`."""
    return [pytest.param(case, id=f"{gate.replace('_', '-')}: {case.name}")
            for gate, cases in tables.items() for case in cases]


def check(case: Case) -> PriorityPlan:
    """Plan the case, compare with its expectation, and check the planner's invariants."""
    result = plan_priority(case.given, NOW)
    then, primary, after = case.then, result.primary, result.status
    assert (primary.kind, primary.gate) == (then.kind, then.gate), result.actions
    if then.exact:
        assert primary.reason == then.says
    else:
        assert then.says in primary.reason, primary.reason
    assert _where(after) == then.at, after.candidate
    assert (after.serving.version if after.serving else None) == then.serving
    assert after.phase == then.phase
    assert _terminal(after) == then.terminal, after.terminal
    assert then.why in (after.terminal.reason if after.terminal else ""), after.terminal
    notes = [a for a in result.actions if a is not primary]
    assert all(any(a.kind == kind for a in notes) for kind in then.side), result.actions
    if then.note:
        assert any(then.note in a.reason for a in notes), notes
    assert set(then.inputs) <= set(primary.inputs), primary.inputs
    check_invariants(case.given, result)
    return result


def check_invariants(inp: PriorityInput, result: PriorityPlan) -> None:
    """What holds for every plan: a re-plan changes nothing, the phase and terminal state
    agree with the state, the candidate is the version on disk, and every hold says how
    it is released (a bake-time hold says when it ends instead)."""
    check_replan(inp, result, NOW)
    check_terminal(result)
    cand = result.status.candidate
    if cand is not None and inp.evidence_id is not None:
        assert cand.evidence_id == inp.evidence_id
    for action in result.actions:
        if action.kind in ("hold", "blocked", "await-approval", "dry-run-needed") \
                and action.gate != "bake-time":
            assert "; to release: " in action.reason, action.reason


def _where(body: StatusBody) -> str | None:
    cand = body.candidate
    if cand is None:
        return None
    return "unstaged" if cand.stage is None else f"{cand.stage} {cand.percent:g}%"


def _terminal(body: StatusBody) -> str | None:
    t = body.terminal
    if t is None:
        return None
    return f"{t.state} {t.stage}" if t.stage else t.state


def stages_with(name: str, **changes: Any) -> tuple[StageView, ...]:
    """The four stages, with stage `name` changed (its approvals, bake time...)."""
    return tuple(replace(s, **changes) if s.name == name else s for s in STAGES)
