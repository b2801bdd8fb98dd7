"""The planner and regression cases: an incident turned into a regression case is fixed
only by a version whose dry run ran that case and passed it, and a regression case counts
only once a customer reviewer who did not write it confirmed its expected output."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from pipeline.approvals.base import Approval
from pipeline.reconcile.plan import RegressionView, plan_priority
from tests.unit.reconciler.table import (
    KEY,
    NEW,
    NOW,
    OLD,
    Case,
    Then,
    all_approvals,
    blocked,
    check,
    evidence,
    given,
    incident,
    rollback,
    rows,
    spec,
    status,
)

CASE = "regression-inc-1"
DIGEST = "rc-0123456789abcdef"
REGRESSION = (RegressionView(CASE, DIGEST, incident="inc-1", authors=("ben",)),)
CONFIRMED = [{"case": CASE, "digest": DIGEST, "by": "rita", "source": "github:pull/7",
              "at": NOW - timedelta(days=1)}]


def ran(*results: tuple[str, bool], fp: str = NEW, passed: bool = True) -> Any:
    return replace(evidence(fp, passed=passed), regression=results)


def held_with_case(**more: Any) -> dict[str, Any]:
    """Rolled back by inc-1 on OLD; the incident's regression case is recorded."""
    return {"phase": "rolled-back", "terminal": blocked(), "processedEvents": ["Incident/inc-1"],
            "rollback": {**rollback(fp=OLD), "regressionCases": [CASE]},
            "confirmedCases": CONFIRMED, **more}


def fixing_with_case() -> dict[str, Any]:
    return {"rollback": {**rollback(fp=OLD, released=True), "regressionCases": [CASE]},
            "processedEvents": ["Incident/inc-1"], "confirmedCases": CONFIRMED}


def review(person: str = "rita", role: str = "customer-reviewer", *, fp: str = NEW,
           stage: str = "*", valid: bool = True, reason: str = "") -> Approval:
    """A pull request review (stage "*"), or a signed confirmation (stage case:<id>)."""
    return Approval(KEY, stage, role, person, fp, "github:pull/7", NOW - timedelta(hours=2),
                    valid, reason)


REPLACED = "candidate v1.5.0 is replaced by v2.0.0"
AWAITS = (f"regression case {CASE} awaits confirmation by a customer reviewer; to release: a "
          "customer-reviewer who did not write it approves the pull request that adds it, or "
          f"`ailoop approve {KEY} --case {CASE}`")

FIX_CYCLE = [
    Case("the fix version's dry run passed the case: the hold is released",
         given(status("shadow", fp=OLD, **held_with_case()), evidence=ran((CASE, True)),
               regression=REGRESSION, events=(incident(),)),
         Then("replace", "fingerprint", "candidate v1.5.0 is replaced by v2.0.0",
              at="shadow 0%", terminal="stage-reached shadow", side=("release",),
              note="a new version (ev-0000000000new) is the fix: its dry run passed "
              f"regression case {CASE}; the rollback hold is released")),
    Case("the case failed in the fix version's dry run: still held",
         given(status("shadow", fp=OLD, **held_with_case()),
               evidence=ran((CASE, False), passed=False), regression=REGRESSION,
               events=(incident(),)),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="rolled-back",
              terminal="blocked", why="ship a fix whose dry run passes regression case "
              f"{CASE}", note=f"regression case {CASE} of incident inc-1 failed in the "
              "dry run of ev-0000000000new")),
    Case("the case is missing from the fix version's evidence: still held",
         given(status("shadow", fp=OLD, **held_with_case()), evidence=ran(),
               events=(incident(),)),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="rolled-back",
              terminal="blocked", note="the dry run of ev-0000000000new has no result for "
              f"regression case {CASE} of incident inc-1")),
    Case("no dry run of the fix version yet: still held, and says so",
         given(status("shadow", fp=OLD, **held_with_case()), evidence=None,
               regression=REGRESSION, events=(incident(),)),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="rolled-back",
              terminal="blocked", note="no dry run of ev-0000000000new yet (run `ailoop "
              f"dry-run {KEY}`): it must run regression case {CASE}")),
    Case("a case in the dataset joins the incident's fix cycle (recorded in status)",
         given(status("shadow", fp=OLD, **held_with_case(rollback=rollback(fp=OLD))),
               evidence=ran((CASE, False), passed=False), regression=REGRESSION,
               events=(incident(),)),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="rolled-back",
              terminal="blocked", note=f"regression case {CASE} of incident inc-1 failed")),
    Case("without a regression case, any new version is the fix (as before)",
         given(status("shadow", fp=OLD, **held_with_case(rollback=rollback(fp=OLD))),
               evidence=ran(), events=(incident(),)),
         Then("replace", "fingerprint", "candidate v1.5.0 is replaced by v2.0.0",
              at="shadow 0%", terminal="stage-reached shadow", side=("release",))),
    Case("the fix reaches its target with the case passed: issue-fixed",
         given(status("canary", **fixing_with_case()), the_spec=spec("early"),
               evidence=ran((CASE, True)), regression=REGRESSION),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              phase="complete", terminal="issue-fixed early",
              why="incident inc-1 fixed: v2.0.0 reached early 25% (evidence "
              f"ev-0000000000new; regression case {CASE} passed)")),
    Case("resolved by hand, target reached, the case never passed: no issue-fixed",
         given(status("canary", **fixing_with_case()), the_spec=spec("early"),
               evidence=ran(), regression=REGRESSION),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              phase="complete", terminal="stage-reached early")),
]

CONFIRMATION = [
    Case("an unconfirmed regression case holds the candidate",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True))),
         Then("hold", "regression", AWAITS.replace("regression case", "holds at v2.0.0 at "
              "shadow 0%: regression case", 1), at="shadow 0%", phase="awaiting-approval",
              terminal="stage-reached shadow", exact=True)),
    Case("a customer reviewer's approval of the pull request confirms it (recorded)",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review())),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary", side=("confirm-case",),
              note=f"rita (customer-reviewer) confirmed the expected output of regression "
              f"case {CASE}")),
    Case("a signed confirmation of the case confirms it",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review(stage=f"case:{CASE}"))),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary", side=("confirm-case",))),
    Case("already confirmed with the same digest: no approval needed again",
         given(status("shadow", confirmedCases=CONFIRMED), regression=REGRESSION,
               evidence=ran((CASE, True))),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary")),
    Case("the expected output changed since the confirmation: asked again",
         given(status("shadow", confirmedCases=CONFIRMED),
               regression=(replace(REGRESSION[0], digest="rc-fedcba9876543210"),),
               evidence=ran((CASE, True))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    # The attacks: whoever wrote the case never confirms it, whatever their role.
    Case("attack: someone who changed the case approves as a customer reviewer",
         given(status("shadow"), regression=(replace(REGRESSION[0], authors=("ben", "rita")),),
               evidence=ran((CASE, True)), approvals=(*all_approvals(), review("rita"))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("attack: the pull request's author approves it (the source marks it invalid)",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review(
                   "ben", valid=False,
                   reason="review by ben: the author of a pull request cannot approve it"))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("attack: someone without the customer-reviewer role approves",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review("rick", "risk-officer"))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("attack: an approval of other evidence (before the case was changed)",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review(fp=OLD))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("attack: a stage approval is not a confirmation of the case",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=(*all_approvals(), review(stage="canary"))),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("approvals unavailable: held, never confirmed",
         given(status("shadow"), regression=REGRESSION, evidence=ran((CASE, True)),
               approvals=None, approvals_problem="GitHub answered 502"),
         Then("hold", "regression", "awaits confirmation by a customer reviewer",
              at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")),
]


@pytest.mark.parametrize("case", rows(fix_cycle=FIX_CYCLE, confirmation=CONFIRMATION))
def test_regression_cases(case: Case) -> None:
    check(case)


def test_the_case_stays_required_when_the_dataset_drops_it() -> None:
    """Recorded once in status (by the bot), removing the case does not release the hold."""
    inp = given(status("shadow", fp=OLD, **held_with_case()), evidence=ran(),
                regression=(), events=(incident(),))
    result = plan_priority(inp, NOW)
    hold = next(a for a in result.actions if a.kind == "hold")
    assert f"has no result for regression case {CASE}" in hold.reason
    assert result.status.rollback is not None and not result.status.rollback.released


def test_the_case_is_recorded_on_the_rollback_an_incident_opens() -> None:
    inp = given(status("early"), regression=REGRESSION, events=(incident(),))
    result = plan_priority(inp, NOW)
    assert result.status.rollback is not None
    assert result.status.rollback.regression_cases == [CASE]
