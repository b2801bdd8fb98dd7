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
    SpecView,
    StageView,
    match_approvals,
    plan_priority,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EV, OLD = "ev-00000000000000aa", "ev-00000000000000bb"
NAMES = ("shadow", "canary", "early", "full")
ROLES = ("customer-reviewer", "risk-officer")


@st.composite
def inputs(draw: st.DrawFn) -> tuple[PriorityInput, str | None]:
    n = draw(st.integers(2, 4))
    stages = tuple(
        StageView(NAMES[i], [0, 5, 25, 100][i], timedelta(hours=draw(st.integers(0, 3))),
                  tuple(((r,), 1) for r in draw(st.lists(st.sampled_from(ROLES), unique=True,
                                                      max_size=2))))
        for i in range(n))
    spec = SpecView("olga", NAMES[draw(st.integers(0, n - 1))], stages,
                    gates=draw(st.sampled_from([(), ("error rate",)])),
                    reaction=draw(st.sampled_from(["hold", "rollback"])))
    here = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    status = StatusBody.model_validate({
        "phase": draw(st.sampled_from(["pending", "progressing", "holding", "rolled-back",
                                       "awaiting-approval", "complete", "dry-run"])),
        "stage": None if here is None else NAMES[here],
        "percent": 0 if here is None else stages[here].percent,
        "since": NOW - timedelta(minutes=draw(st.integers(0, 300))),
        "evidenceId": draw(st.sampled_from([None, EV, OLD])),
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
    inp = PriorityInput("a/p", spec, status, evidence_id=draw(st.sampled_from([EV, None])),
                        evidence=evidence, approvals=approvals, readings=readings,
                        events=events, roles=draw(st.sampled_from([
                            {"customer-reviewer": 1, "risk-officer": 1},
                            {"customer-reviewer": 1}])))
    return inp, status.stage


@settings(max_examples=200, deadline=None)
@given(inputs())
def test_applying_a_plan_then_replanning_changes_nothing(case: tuple[PriorityInput,
                                                                     str | None]) -> None:
    inp, stage_read = case
    first = plan_priority(inp, NOW)
    # Readings belong to the stage they were read at; after a move they are not known yet.
    readings = inp.readings if first.status.stage == stage_read else None
    again = plan_priority(replace(inp, status=first.status, readings=readings), NOW)
    assert not again.changed, (first.actions, again.actions)


@settings(max_examples=200, deadline=None)
@given(inputs())
def test_no_plan_raises_the_percent_on_missing_inputs(case: tuple[PriorityInput,
                                                                  str | None]) -> None:
    inp, _ = case
    result = plan_priority(inp, NOW)
    spec = inp.spec
    assert spec is not None
    before = spec.index(inp.status.stage)
    after = spec.index(result.status.stage)
    if after is None or (before is not None and after <= before):
        return
    assert after == (0 if before is None else before + 1)  # one stage at most
    assert inp.evidence is not None and inp.evidence.passed
    assert inp.evidence.evidence_id == inp.evidence_id
    if spec.stages[after].approvals:  # a stage that needs no approval needs no source
        assert inp.approvals is not None
        assert match_approvals(spec.stages[after], inp.approvals, EV)[1] == []
    if before is not None and spec.gates:
        assert inp.readings and all(r.verdict == "pass" for r in inp.readings)
    assert result.primary.kind == "promote"
