"""The planner, gate by gate, on the way up: the input fingerprint, the dry-run evidence,
the approvals and the bake time. One row per case: the inputs, then what the plan decides
and what the status says afterwards (see `table.py` for the defaults every row starts from).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.approvals.base import Approval
from pipeline.model.status import StatusBody
from pipeline.reconcile.plan import PriorityInput
from tests.unit.reconciler.table import (
    OLD,
    OWNER,
    REVIEWER,
    RISK,
    SERVED,
    Case,
    Then,
    all_approvals,
    approval,
    blocked,
    check,
    evidence,
    given,
    incident,
    readings,
    rollback,
    rows,
    spec,
    stages_with,
    status,
)

REPLACED = "the workflow, dataset or spec changed (ev-0000000000old -> ev-0000000000new): " \
    "candidate v1.5.0 is replaced by v2.0.0"
UNKNOWN = "the input fingerprint cannot be computed (dataset.jsonl: file not found); to " \
    "release: fix the dataset or workflow reference"
NO_EVIDENCE = "needs a dry run: no evidence for ev-0000000000new (v2.0.0); to release: " \
    "`ailoop dry-run acme/triage` on the default branch"
AWAIT_CANARY = "holds: approval from risk-officer missing for stage canary; to release: " \
    "approve the pull request, or `ailoop approve acme/triage --stage canary`"
TO_CANARY = "promotes v2.0.0 to canary 5%: every gate holds (evidence ev-0000000000new; " \
    "rita (customer-reviewer), rick (risk-officer))"
TWO_REVIEWERS = spec(stages=stages_with("canary", approvals=(((REVIEWER,), 2),)))
NO_RISK_OFFICER = (("canary", RISK), ("early", RISK), ("full", RISK))
SECOND_REVIEWER_MISSING = Then(
    "await-approval", "approval", "approval from customer-reviewer missing for stage canary",
    at="shadow 0%", phase="awaiting-approval", terminal="stage-reached shadow")


def two_reviewers(*canary: Approval) -> PriorityInput:
    """At shadow; canary needs two different customer-reviewers, and two people hold it."""
    return given(status("shadow"), the_spec=TWO_REVIEWERS, roles={REVIEWER: 2, RISK: 1},
                 approvals=(approval("shadow", REVIEWER), *canary))


FINGERPRINT = [
    Case("a new version beside the serving one enters the first stage",
         given(status(fp=None)),
         Then("promote", "target", "promotes v2.0.0 to shadow 0%: every gate holds (evidence "
              "ev-0000000000new; rita (customer-reviewer))", at="shadow 0%",
              terminal="stage-reached shadow", exact=True)),
    Case("a new priority's first version enters the first stage",
         given(StatusBody()),
         Then("promote", "target", "promotes v2.0.0 to shadow 0%", at="shadow 0%",
              serving=None, terminal="stage-reached shadow")),
    Case("replaced at shadow: the new version walks in at once",
         given(status("shadow", fp=OLD)),
         Then("replace", "fingerprint", f"{REPLACED}; its traffic returns to the serving "
              "version v1.0.0; the new candidate starts at the first stage", at="shadow 0%",
              terminal="stage-reached shadow", exact=True)),
    Case("replaced at canary: no traffic until the new version has a dry run",
         given(status("canary", fp=OLD), evidence=None),
         Then("replace", "fingerprint", "its traffic returns to the serving version v1.0.0",
              at="unstaged", phase="dry-run", terminal="stage-reached",
              why="v1.0.0 is serving")),
    Case("replaced at early: no traffic until the first stage is approved for it",
         given(status("early", fp=OLD), approvals=all_approvals(OLD)),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="awaiting-approval",
              terminal="stage-reached")),
    Case("replaced at full, baked: the old candidate never completes",
         given(status("full", fp=OLD), evidence=None),
         Then("replace", "fingerprint", REPLACED, at="unstaged", phase="dry-run",
              terminal="stage-reached")),
    Case("replaced with no serving version: traffic returns to the existing process",
         given(status("canary", fp=OLD, serving=None), evidence=None),
         Then("replace", "fingerprint", "its traffic returns to the existing process",
              at="unstaged", serving=None, phase="dry-run", terminal=None)),
    Case("back to the serving version: the candidate is withdrawn",
         given(status("canary"), fp=SERVED),
         Then("withdraw", "fingerprint", "withdraws candidate v2.0.0: the spec is back to the "
              "serving version v1.0.0, which carries all traffic", at=None,
              phase="complete", terminal="stage-reached", why="v1.0.0 is serving",
              exact=True)),
    Case("back to the serving version during a rollback hold: released and withdrawn",
         given(status("shadow", phase="rolled-back", rollback=rollback(), terminal=blocked(),
                      processedEvents=["Incident/inc-1"]), fp=SERVED, events=(incident(),)),
         Then("withdraw", "fingerprint", "back to the serving version v1.0.0", at=None,
              phase="complete", terminal="stage-reached", side=("release",))),
    Case("unknown fingerprint at canary: hold where it is",
         given(status("canary"), fp=None, evidence_problem="dataset.jsonl: file not found"),
         Then("hold", "evidence", f"holds at v2.0.0 at canary 5%: {UNKNOWN}",
              at="canary 5%", terminal="stage-reached canary", exact=True)),
    Case("unknown fingerprint with only a serving version: hold",
         given(status(fp=None), fp=None, evidence_problem="dataset.jsonl: file not found"),
         Then("hold", "evidence", f"holds at serving v1.0.0: {UNKNOWN}", at=None,
              phase="complete", terminal="stage-reached", exact=True)),
    # Fixed: the fingerprint hold used to end the plan before monitoring was looked at.
    Case("unknown fingerprint does not keep traffic on failing monitoring",
         given(status("early"), fp=None, evidence_problem="dataset.jsonl: file not found",
               readings=readings("fail")),
         Then("rollback", "monitoring", "rolls back to canary 5%", at="canary 5%",
              phase="rolled-back", terminal="blocked", side=("open-incident",))),
    # Fixed: the fingerprint hold used to lead the plan, naming the stage left behind.
    Case("unknown fingerprint with a lowered target: the rollback leads the plan",
         given(status("early"), fp=None, evidence_problem="dataset.jsonl: file not found",
               the_spec=spec("canary")),
         Then("rollback", "target", "rolls back to canary 5%: rollout.target lowered to "
              "canary", at="canary 5%", phase="complete", terminal="stage-reached canary",
              note="holds at v2.0.0 at canary 5%: the input fingerprint cannot be computed")),
]

EVIDENCE = [
    Case("a new priority's first dry run is missing: nothing recorded yet",
         given(StatusBody(), evidence=None),
         Then("dry-run-needed", "evidence", NO_EVIDENCE, at=None, serving=None,
              phase="pending", terminal=None, exact=True)),
    Case("a new version's dry run is missing",
         given(status(), evidence=None),
         Then("dry-run-needed", "evidence", NO_EVIDENCE, at="unstaged", phase="dry-run",
              terminal="stage-reached", exact=True)),
    Case("only evidence for another fingerprint",
         given(status(), evidence=evidence(OLD)),
         Then("dry-run-needed", "evidence", "no evidence for ev-0000000000new",
              at="unstaged", phase="dry-run", terminal="stage-reached")),
    Case("the dry run failed: blocked with the owner",
         given(status(), evidence=evidence(passed=False)),
         Then("blocked", "evidence", "blocked (owner olga): dry run ev-0000000000new failed "
              "(2 of 10 cases, pass rate 80%); to release: fix the workflow or spec and rerun "
              "the dry run", at="unstaged", phase="blocked", terminal="blocked",
              why="dry run ev-0000000000new failed", exact=True)),
    Case("the dry run failed for a candidate at canary: blocked, its traffic taken",
         given(status("canary"), evidence=evidence(passed=False)),
         Then("blocked", "evidence", "dry run ev-0000000000new failed", at="unstaged",
              phase="blocked", terminal="blocked")),
    Case("the dry run passed: the first stage",
         given(status()),
         Then("promote", "target", "(evidence ev-0000000000new;", at="shadow 0%",
              terminal="stage-reached shadow")),
    Case("evidence disappeared while at canary: hold, never expand",
         given(status("canary"), evidence=None),
         Then("hold", "evidence", "holds at v2.0.0 at canary 5%: evidence ev-0000000000new is "
              "no longer in the repository; to release: restore it or rerun the dry run",
              at="canary 5%", terminal="stage-reached canary", exact=True)),
    Case("only evidence from the PR: shown, never counted",
         given(status(), evidence=None, unverified=evidence()),
         Then("dry-run-needed", "evidence", "needs a dry run: no evidence for ev-0000000000new "
              "(v2.0.0) from a trusted run; evidence ev-0000000000new is from the PR, not yet "
              "verified (passed, 10 of 10 cases) and does not count; to release: `ailoop "
              "dry-run acme/triage` on the default branch", at="unstaged", phase="dry-run",
              terminal="stage-reached", exact=True)),
    Case("a failing dry run from the PR takes no traffic",
         given(status("canary"), evidence=None, unverified=evidence(passed=False)),
         Then("hold", "evidence", "holds at v2.0.0 at canary 5%: evidence ev-0000000000new is "
              "from the PR, not yet verified; to release: restore it or rerun the dry run",
              at="canary 5%", terminal="stage-reached canary", exact=True)),
    Case("a trusted run's evidence counts, whatever the PR's copy says",
         given(status(), unverified=evidence(passed=False)),
         Then("promote", "target", "(evidence ev-0000000000new;", at="shadow 0%",
              terminal="stage-reached shadow")),
    Case("evidence disappeared and monitoring fails: the rollback comes first",
         given(status("canary"), evidence=None, readings=readings("fail")),
         Then("rollback", "monitoring", "rolls back to shadow 0%", at="shadow 0%",
              phase="rolled-back", terminal="blocked", side=("open-incident",))),
]

APPROVAL = [
    Case("the first stage's approval is missing",
         given(status(), approvals=all_approvals(but=(("shadow", REVIEWER),))),
         Then("await-approval", "approval", "holds: approval from customer-reviewer missing "
              "for stage shadow; to release: approve the pull request, or `ailoop approve "
              "acme/triage --stage shadow`", at="unstaged", phase="awaiting-approval",
              terminal="stage-reached", inputs=(("role", REVIEWER),), exact=True)),
    Case("one of the next stage's two roles is missing",
         given(status("shadow"), approvals=all_approvals(but=NO_RISK_OFFICER)),
         Then("await-approval", "approval", AWAIT_CANARY, at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow", exact=True)),
    Case("approved by the wrong role",
         given(status("shadow"), approvals=(*all_approvals(but=(("canary", RISK),)),
                                            approval("canary", OWNER))),
         Then("await-approval", "approval", AWAIT_CANARY, at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow", exact=True)),
    Case("approvals bound to the old evidence do not count",
         given(status("shadow"), approvals=all_approvals(OLD)),
         Then("await-approval", "approval", "holds: approvals from customer-reviewer and "
              "risk-officer missing for stage canary (2 approval(s) bound to other evidence); "
              "to release:", at="shadow 0%", phase="awaiting-approval",
              terminal="stage-reached shadow",
              inputs=(("role", f"{REVIEWER}, {RISK}"), ("evidence", "ev-0000000000new")))),
    Case("every missing role is named, not only the first",
         given(status("shadow"), approvals=all_approvals(but=(("canary", REVIEWER),
                                                              ("canary", RISK)))),
         Then("await-approval", "approval", "holds: approvals from customer-reviewer and "
              "risk-officer missing for stage canary; to release: approve the pull request, "
              "or `ailoop approve acme/triage --stage canary`", at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow", exact=True)),
    Case("two people of one role missing are counted",
         two_reviewers(),
         Then("await-approval", "approval", "holds: approvals from 2 customer-reviewer "
              "missing for stage canary; to release:", at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("an invalid (forged) approval does not count",
         given(status("shadow"), approvals=(
             *all_approvals(but=(("canary", RISK),)),
             approval("canary", RISK, valid=False, reason="signature does not verify"))),
         Then("await-approval", "approval", AWAIT_CANARY, at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow", exact=True)),
    Case("an approval for a later stage does not count for this one",
         given(status("shadow"), approvals=all_approvals(but=(("canary", RISK),))),
         Then("await-approval", "approval", "missing for stage canary", at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow")),
    Case("one person approving as two roles counts once",
         given(status("shadow"), approvals=(*all_approvals(but=(("canary", RISK),)),
                                            approval("canary", RISK, person="rita"))),
         Then("await-approval", "approval", AWAIT_CANARY, at="shadow 0%",
              phase="awaiting-approval", terminal="stage-reached shadow", exact=True)),
    Case("a stage needing two reviewers, one approved",
         two_reviewers(approval("canary", REVIEWER)), SECOND_REVIEWER_MISSING),
    Case("a stage needing two reviewers, the same person twice",
         two_reviewers(approval("canary", REVIEWER), approval("canary", REVIEWER)),
         SECOND_REVIEWER_MISSING),
    Case("a stage needing two reviewers, two people",
         two_reviewers(approval("canary", REVIEWER), approval("canary", REVIEWER,
                                                              person="rosa")),
         Then("promote", "target", "rita (customer-reviewer), rosa (customer-reviewer)",
              at="canary 5%", terminal="stage-reached canary")),
    Case("a pull-request review approves every stage it asks for",
         given(status("shadow"), approvals=(approval("*", REVIEWER), approval("*", RISK))),
         Then("promote", "target", TO_CANARY, at="canary 5%", terminal="stage-reached canary",
              exact=True)),
    Case("a stage without approvals needs none",
         given(status("shadow"), the_spec=spec(stages=stages_with("canary", approvals=())),
               approvals=()),
         Then("promote", "target", "(evidence ev-0000000000new; no approvals needed)",
              at="canary 5%", terminal="stage-reached canary")),
    Case("the approval source is unreachable",
         given(status("shadow"), approvals=None, approvals_problem="GitHub API returned 502",
               unreachable=("approvals",)),
         Then("hold", "approval", "holds: approvals unavailable (GitHub API returned 502); "
              "to release: restore access to the approval source", at="shadow 0%",
              terminal="stage-reached shadow", inputs=(("unreachable", "approvals"),),
              exact=True)),
    Case("no one holds the next stage's role in customer.yaml",
         given(status("shadow"), roles={REVIEWER: 1, OWNER: 1}),
         Then("blocked", "approval", "blocked (owner olga): no one holds the role "
              "risk-officer in customer.yaml (stage canary needs 1); to release: add the role "
              "to someone in customer.yaml", at="shadow 0%", phase="blocked",
              terminal="blocked", exact=True)),
    # Fixed: said "only 1 people hold".
    Case("fewer people hold the role than the stage needs",
         given(status("shadow"), the_spec=TWO_REVIEWERS, roles={REVIEWER: 1, RISK: 1}),
         Then("blocked", "approval", "blocked (owner olga): only 1 person holds the role "
              "customer-reviewer in customer.yaml (stage canary needs 2)", at="shadow 0%",
              phase="blocked", terminal="blocked")),
    Case("customer.yaml cannot be read: roles unknown",
         given(status("shadow"), roles=None),
         Then("hold", "approval", "holds: customer.yaml cannot be read (roles unknown); to "
              "release: fix customer.yaml", at="shadow 0%", terminal="stage-reached shadow",
              exact=True)),
]

BAKE_TIME = [
    Case("not baked yet at canary",
         given(status("canary", ago=timedelta(hours=1))),
         Then("hold", "bake-time", "holds at canary 5%: bake time ends 2026-11-20 13:00 UTC",
              at="canary 5%", terminal="stage-reached canary",
              inputs=(("bake_ends", "2026-11-20 13:00 UTC"),), exact=True)),
    Case("baked exactly at the end of the bake time",
         given(status("canary", ago=timedelta(hours=2))),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              terminal="stage-reached early")),
    Case("one minute short of the bake time",
         given(status("canary", ago=timedelta(hours=2) - timedelta(minutes=1))),
         Then("hold", "bake-time", "bake time ends 2026-11-20 12:01 UTC", at="canary 5%",
              terminal="stage-reached canary")),
    Case("no bake time, entered this very moment: one stage per reconcile",
         given(status("shadow", ago=timedelta(0)),
               the_spec=spec(stages=stages_with("shadow", bake_time=timedelta(0)))),
         Then("hold", "bake-time", "holds at shadow 0%: bake time ends 2026-11-20 12:00 UTC",
              at="shadow 0%", terminal="stage-reached shadow", exact=True)),
    Case("a waiting phase is kept while the bake time runs",
         given(status("canary", ago=timedelta(hours=1), phase="awaiting-approval")),
         Then("hold", "bake-time", "bake time ends", at="canary 5%",
              phase="awaiting-approval", terminal="stage-reached canary")),
    Case("no entry time recorded",
         given(status("canary", ago=None)),
         Then("hold", "bake-time", "holds at canary 5%: status has no entry time; to release: "
              "let the reconciler rewrite status.yaml", at="canary 5%",
              terminal="stage-reached canary", exact=True)),
]


@pytest.mark.parametrize("case", rows(fingerprint=FINGERPRINT, evidence=EVIDENCE,
                                      approval=APPROVAL, bake_time=BAKE_TIME))
def test_on_the_way_up(case: Case) -> None:
    check(case)
