"""Properties of the planner over random specs, statuses, evidence, approvals and events."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.approvals.base import Approval
from pipeline.model.status import StatusBody
from pipeline.monitoring.base import GateReading
from pipeline.reconcile.plan import (
    EventView,
    EvidenceView,
    PriorityInput,
    PriorityPlan,
    SpecView,
    StageView,
    match_approvals,
    plan_priority,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EV, OLD, SERVED = "ev-00000000000000aa", "ev-00000000000000bb", "ev-00000000000000cc"
NAMES = ("shadow", "canary", "early", "full")
ROLES = ("customer-reviewer", "risk-officer")


def version(evidence: str, **more: object) -> dict[str, object]:
    return {"version": evidence[-2:], "evidenceId": evidence, "workflowDigest": evidence * 2,
            "since": NOW - timedelta(days=3), **more}


@st.composite
def inputs(draw: st.DrawFn) -> PriorityInput:
    n = draw(st.integers(2, 4))
    stages = tuple(
        StageView(NAMES[i], [0, 5, 25, 100][i], timedelta(hours=draw(st.integers(0, 3))),
                  tuple(((r,), 1) for r in draw(st.lists(st.sampled_from(ROLES), unique=True,
                                                      max_size=2))))
        for i in range(n))
    spec = SpecView("olga", NAMES[draw(st.integers(0, n - 1))], stages,
                    gates=draw(st.sampled_from([(), ("error rate",)])),
                    reaction=draw(st.sampled_from(["hold", "rollback"])),
                    review_cadence=timedelta(days=30))
    here = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    candidate = draw(st.sampled_from([None, EV, OLD]))
    status = StatusBody.model_validate({
        "phase": draw(st.sampled_from(["pending", "progressing", "holding", "rolled-back",
                                       "awaiting-approval", "complete", "dry-run"])),
        "serving": draw(st.sampled_from([None, version(SERVED)])),
        "candidate": None if candidate is None else version(
            candidate, stage=None if here is None else NAMES[here],
            percent=0 if here is None else stages[here].percent,
            entered=None if here is None else NOW - timedelta(minutes=draw(
                st.integers(0, 300)))),
        "processedEvents": draw(st.lists(st.sampled_from(["Incident/inc-1", "Feedback/fb-1"]),
                                         unique=True)),
        "rollback": draw(st.sampled_from([None, {
            "cause": "incident", "incident": "inc-1", "at": NOW, "evidenceId": EV}])),
    })
    evidence = draw(st.sampled_from([None, EvidenceView(EV, True, 1.0, 10, 0),
                                     EvidenceView(EV, False, 0.5, 10, 5)]))
    approvals = draw(st.one_of(st.none(), st.lists(st.builds(
        Approval, priority=st.just("a/p"), stage=st.sampled_from(NAMES[:n]),
        role=st.sampled_from(ROLES), person=st.sampled_from(["rita", "rick", "olga"]),
        evidence_id=st.sampled_from([EV, OLD]), source=st.just("file:x"),
        time=st.just(NOW), valid=st.booleans()), max_size=6).map(tuple)))
    readings = draw(st.one_of(st.none(), st.lists(st.builds(
        GateReading, gate=st.just("error rate"), metric=st.just("error_rate"),
        verdict=st.sampled_from(["pass", "fail", "inconclusive"]), value=st.just(0.01),
        samples=st.just(200), observed_at=st.just(NOW), reason=st.just("r")),
        max_size=1).map(tuple)))
    events = tuple(draw(st.lists(st.sampled_from([
        EventView("Incident", "inc-1", NOW, "high"),
        EventView("Incident", "inc-1", NOW, "high", resolved=True),
        EventView("Incident", "inc-2", NOW, draw(st.sampled_from(["low", "medium"]))),
        EventView("Feedback", "fb-1", NOW), EventView("ReviewRequest", "rr-1", NOW)]),
        unique_by=lambda e: e.name, max_size=3)))
    on_disk = draw(st.sampled_from([EV, SERVED, None]))
    return PriorityInput("a/p", spec, status, evidence_id=on_disk, evidence=evidence,
                         version=(on_disk or "")[-2:], workflow_digest=(on_disk or "") * 2,
                         approvals=approvals, readings=readings, events=events,
                         roles=draw(st.sampled_from([
                             {"customer-reviewer": 1, "risk-officer": 1},
                             {"customer-reviewer": 1}])))


def _staged(status: StatusBody) -> tuple[str, str] | None:
    cand = status.candidate
    return None if cand is None or cand.stage is None else (cand.evidence_id, cand.stage)


def _share(status: StatusBody) -> float:
    cand = status.candidate
    return cand.percent if cand is not None and cand.stage is not None else 0.0


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_applying_a_plan_then_replanning_changes_nothing(inp: PriorityInput) -> None:
    check_replan(inp, plan_priority(inp, NOW), NOW)


def check_replan(inp: PriorityInput, first: PriorityPlan, now: datetime) -> None:
    # Readings belong to the candidate and stage they were read at; after a move or a new
    # candidate they are not known yet.
    same = _staged(first.status) == _staged(inp.status)
    again = plan_priority(replace(inp, status=first.status,
                                  readings=inp.readings if same else None), now)
    assert not again.changed, (first.actions, again.actions)


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_traffic_rises_only_with_evidence_approvals_and_healthy_readings(
        inp: PriorityInput) -> None:
    result = plan_priority(inp, NOW)
    spec = inp.spec
    assert spec is not None
    before, after = inp.status.candidate, result.status.candidate
    after_index = spec.index(after.stage) if after is not None else None
    before_index = spec.index(before.stage) if before is not None else None
    rose = after_index is not None and (
        before is None or before.evidence_id != after.evidence_id  # type: ignore[union-attr]
        or before_index is None or after_index > before_index)
    if not rose:
        return
    assert after is not None
    assert after.evidence_id == inp.evidence_id  # only the version on disk moves up
    same = before is not None and before.evidence_id == after.evidence_id
    # One stage up; a new candidate (new fingerprint) enters the first stage at most.
    assert after_index == (before_index + 1 if same and before_index is not None else 0)
    assert inp.evidence is not None and inp.evidence.passed
    assert inp.evidence.evidence_id == after.evidence_id
    if spec.stages[after_index].approvals:
        assert inp.approvals is not None
        assert match_approvals(spec.stages[after_index], inp.approvals, EV)[1] == []
    if same and before_index is not None and spec.gates:
        assert inp.readings and all(r.verdict == "pass" for r in inp.readings)
    assert any(a.kind == "promote" for a in result.actions)


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_the_serving_version_changes_only_to_a_candidate_that_completed(
        inp: PriorityInput) -> None:
    result = plan_priority(inp, NOW)
    if result.status.serving == inp.status.serving:
        return
    spec, before = inp.spec, inp.status.candidate
    assert spec is not None and before is not None and before.stage is not None
    assert result.status.serving is not None
    assert result.status.serving.evidence_id == before.evidence_id == inp.evidence_id
    index = spec.index(before.stage)
    assert index == spec.index(spec.target) and spec.stages[index].percent >= 100
    assert before.entered is not None
    assert NOW >= before.entered + spec.stages[index].bake_time
    if spec.gates:
        assert inp.readings and all(r.verdict == "pass" for r in inp.readings)
    assert result.primary.kind == "complete"


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_phase_and_terminal_state_agree_with_the_state(inp: PriorityInput) -> None:
    check_terminal(plan_priority(inp, NOW))


def check_terminal(result: PriorityPlan) -> None:
    status = result.status
    if result.status == result.before and result.actions[0].gate == "spec":
        return  # an unreadable priority is held as it is
    terminal = status.terminal
    held = status.rollback is not None and not status.rollback.released
    if status.phase in ("rolled-back", "blocked") or held:
        assert terminal is not None and terminal.state == "blocked", status
        return
    if terminal is None or terminal.state in ("blocked", "healthy-review"):
        return
    staged = _staged(status)
    if staged is not None:
        assert terminal.stage == staged[1], status
    else:
        assert terminal.stage is None and status.serving is not None, status
