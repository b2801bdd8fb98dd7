"""The planner with segment targeting (a stage's `targeting`): the candidate carries the
segment of the stage it enters, a stage with a segment never completes the rollout (even
at 100 %: only the segment gets the candidate), and a segment changed under a candidate in
flight holds until the stage is entered again with its approvals."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from pipeline.model.status import StatusBody
from pipeline.reconcile.plan import SpecView, plan_priority
from tests.unit.reconciler.table import (
    NOW,
    REVIEWER,
    RISK,
    STAGES,
    Case,
    Then,
    all_approvals,
    approval,
    check,
    given,
    rows,
    spec,
)
from tests.unit.reconciler.table import status as _status

SMALL = {"<": [0, {"var": "amount"}, 1000]}
# The canary's approvals, given an hour ago: after the candidate entered it (BAKED ago).
FRESH = tuple(replace(approval("canary", role), time=NOW - timedelta(hours=1))
              for role in (REVIEWER, RISK))
INTERNAL = {"in": [{"var": "group"}, ["internal"]]}


def status(stage: str | None = None, *, segment: dict[str, object] | None = None,
           **more: object) -> StatusBody:
    """table.status, with the segment the candidate entered its stage with."""
    body = _status(stage, **more)  # type: ignore[arg-type]
    assert body.candidate is not None
    return body.model_copy(update={"candidate": body.candidate.model_copy(
        update={"segment": segment})})


def _segmented(**segments: dict[str, object]) -> tuple:  # type: ignore[type-arg]
    return tuple(replace(s, segment=json.dumps(segments[s.name], sort_keys=True))
                 if s.name in segments else s for s in STAGES)


def _spec(target: str = "full", **segments: dict[str, object]) -> SpecView:
    return spec(target, stages=_segmented(**segments))


CASES = [
    Case("promoted into a stage with a segment, the candidate carries it",
         given(status("shadow"), the_spec=_spec(canary=SMALL)),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary")),
    Case("a 100 % stage with a segment is reached, not completed: serving is unchanged",
         given(status("early", segment=None), the_spec=_spec(full=INTERNAL)),
         Then("promote", "target", "promotes v2.0.0 to full 100%", at="full 100%",
              phase="complete", terminal="stage-reached full")),
    Case("baked at a 100 % target with a segment: it stays the candidate",
         given(status("full", segment=INTERNAL, phase="complete"),
               the_spec=_spec(full=INTERNAL)),
         Then("none", "target", "at target full 100%", at="full 100%", phase="complete",
              terminal="stage-reached full")),
    Case("the segment of the stage in flight changed: hold, production keeps the old one",
         given(status("canary", segment=SMALL), the_spec=_spec(canary=INTERNAL)),
         Then("hold", "segment", "the segment (targeting) of stage canary changed since "
              "v2.0.0 entered it", at="canary 5%", phase="holding",
              terminal="stage-reached canary")),
    Case("approved again after it changed: the candidate re-enters the stage with it",
         given(status("canary", segment=SMALL), the_spec=_spec(canary=INTERNAL),
               approvals=(*all_approvals(), *FRESH)),
         Then("resegment", "segment", "the segment (targeting) of stage canary changed and "
              "was approved again (rita (customer-reviewer), rick (risk-officer))",
              at="canary 5%", terminal="stage-reached canary")),
    Case("approvals from before it entered the stage do not count",
         given(status("canary", segment=SMALL), the_spec=_spec(canary=INTERNAL),
               approvals=all_approvals()),
         Then("hold", "segment", "to release: approve stage canary again", at="canary 5%",
              phase="holding", terminal="stage-reached canary")),
    Case("a segment added to the stage in flight holds too",
         given(status("canary"), the_spec=_spec(canary=SMALL)),
         Then("hold", "segment", "changed since", at="canary 5%", phase="holding",
              terminal="stage-reached canary")),
    Case("lowering the target releases it: the candidate goes back",
         given(status("early", segment=SMALL), the_spec=_spec("canary", early=INTERNAL)),
         Then("rollback", "target", "rollout.target lowered to canary", at="canary 5%",
              phase="complete", terminal="stage-reached canary")),
]


@pytest.mark.parametrize("case", rows(segment=CASES))
def test_segment(case: Case) -> None:
    check(case)


def test_approved_again_it_serves_the_new_segment_and_bakes_again() -> None:
    result = plan_priority(given(status("canary", segment=SMALL),
                                 the_spec=_spec(canary=INTERNAL),
                                 approvals=(*all_approvals(), *FRESH)), NOW)
    cand = result.status.candidate
    assert cand is not None and cand.segment == INTERNAL and cand.entered == NOW
    assert {(u.stage, u.person) for u in cand.approvals_used} >= {("canary", "rita"),
                                                                   ("canary", "rick")}


def test_a_new_segment_that_does_not_validate_never_reaches_production() -> None:
    # Approved again, but `ailoop validate` refuses the new rule: the spec gate holds first.
    result = plan_priority(given(
        status("canary", segment=SMALL), the_spec=_spec(canary=INTERNAL),
        approvals=(*all_approvals(), *FRESH),
        findings=("priority.yaml:30:11: spec.rollout.stages[1].targeting: flagd's validator "
                  "refuses the rule: 'like' is not an operator flagd knows",)), NOW)
    assert (result.primary.kind, result.primary.gate) == ("hold", "spec")
    cand = result.status.candidate
    assert cand is not None and cand.segment == SMALL  # the flag keeps the approved one


def test_the_candidate_records_the_segment_of_the_stage_it_enters_and_leaves() -> None:
    up = plan_priority(given(status("shadow"), the_spec=_spec(canary=SMALL)), NOW)
    assert up.status.candidate is not None and up.status.candidate.segment == SMALL
    down = plan_priority(given(status("early", segment=SMALL),
                               the_spec=_spec("canary", early=SMALL)), NOW)
    assert down.status.candidate is not None and down.status.candidate.segment is None


def test_a_rollout_completes_only_after_a_stage_without_a_segment() -> None:
    stages = _segmented(early=INTERNAL)
    assert not SpecView("olga", "full", stages).completes(2)
    assert SpecView("olga", "full", stages).completes(3)
    at_full = _segmented(full=INTERNAL)
    assert not SpecView("olga", "full", at_full).completes(3)
