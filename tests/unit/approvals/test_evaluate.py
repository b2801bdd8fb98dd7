from __future__ import annotations

from datetime import UTC, datetime

from pipeline.approvals.base import Approval
from pipeline.approvals.evaluate import Block, Facts, evaluate_stage
from pipeline.approvals.requirements import ANY_STAGE, Requirement
from pipeline.documents.evidence import Fingerprint

T = datetime(2026, 11, 20, tzinfo=UTC)
KEY = "acme/triage"
EV = "ev-00000000000000aa"
REVIEWER = Requirement(KEY, "canary", ("customer-reviewer",), 1, "stage asks")
RISK = Requirement(KEY, "canary", ("risk-officer",), 1, "risk is high")
ROLES = {"ann": frozenset({"customer-reviewer", "risk-officer"}),
         "raj": frozenset({"risk-officer"}), "eve": frozenset({"customer-reviewer"})}


def ok(person: str, role: str, stage: str = "canary", ev: str = EV) -> Approval:
    return Approval(KEY, stage, role, person, ev, "test", T)


def test_one_person_fills_one_slot_and_the_matching_finds_the_way() -> None:
    facts = Facts(EV, ROLES)
    alone = evaluate_stage([REVIEWER, RISK], [ok("ann", "customer-reviewer"),
                                              ok("ann", "risk-officer")], facts)
    assert not alone.satisfied
    assert alone.reasons() == ["needs 1 more risk-officer (risk is high)"]
    # ann could fill either; raj only risk: ann must take the reviewer slot.
    both = evaluate_stage([REVIEWER, RISK], [ok("ann", "customer-reviewer"),
                                             ok("ann", "risk-officer"),
                                             ok("raj", "risk-officer")], facts)
    assert both.satisfied
    assert [o.approvers for o in both.outcomes] == [("ann",), ("raj",)]


def test_roles_come_from_the_base_branch_and_stages_must_match() -> None:
    result = evaluate_stage([RISK], [ok("eve", "risk-officer"), ok("zed", "risk-officer"),
                                     ok("raj", "risk-officer", stage="full")], Facts(EV, ROLES))
    assert [i.reason for i in result.ignored] == [
        "eve does not hold the role risk-officer on the base branch",
        "zed is not a person in customer.yaml on the base branch"]
    assert not result.satisfied


def test_any_stage_approvals_count_and_stale_ones_explain_what_changed() -> None:
    old = Fingerprint("a" * 64, "b" * 64, "c" * 64)
    new = Fingerprint("a" * 64, "d" * 64, "c" * 64)
    facts = Facts(new.evidence_id, ROLES, current=new, known={old.evidence_id: old})
    result = evaluate_stage([RISK], [ok("raj", "risk-officer", ANY_STAGE, old.evidence_id)],
                            facts)
    assert [(i.reason, i.stale) for i in result.stale] == [
        (f"given on evidence {old.evidence_id}; the evidence is now {new.evidence_id} "
         "(dataset changed)", True)]
    fresh = evaluate_stage([RISK], [ok("raj", "risk-officer", ANY_STAGE, new.evidence_id)],
                           facts)
    assert fresh.satisfied


def test_no_current_evidence_means_nothing_counts() -> None:
    result = evaluate_stage([RISK], [ok("raj", "risk-officer")], Facts(None, ROLES))
    assert result.ignored[0].reason == "there is no current dry-run evidence to approve"
    assert not result.satisfied


def test_authors_never_count_and_change_authors_cannot_approve_alone() -> None:
    authored = evaluate_stage([REVIEWER], [ok("eve", "customer-reviewer")],
                              Facts(EV, ROLES, authors=frozenset({"eve"})))
    assert authored.ignored[0].reason == "eve is the author of the change and cannot approve it"
    alone = evaluate_stage([REVIEWER], [ok("eve", "customer-reviewer")],
                           Facts(EV, ROLES, change_authors=frozenset({"eve"})))
    assert alone.reasons() == ["eve authored the workflow or dataset change and cannot be "
                               "the only approver of the stage that ships it"]
    with_other = evaluate_stage([REVIEWER, RISK], [ok("eve", "customer-reviewer"),
                                                   ok("raj", "risk-officer")],
                                Facts(EV, ROLES, change_authors=frozenset({"eve"})))
    assert with_other.satisfied


def test_changes_requested_by_a_required_role_blocks() -> None:
    approvals = [ok("eve", "customer-reviewer")]
    block = Block(KEY, "raj", ("risk-officer",), "review on pull request #7")
    assert not evaluate_stage([REVIEWER, RISK], approvals, Facts(EV, ROLES), [block]).satisfied
    assert evaluate_stage([REVIEWER], approvals, Facts(EV, ROLES), [block]).satisfied


def test_invalid_approvals_keep_their_reason() -> None:
    bad = Approval(KEY, "canary", "risk-officer", "raj", EV, "git", T, valid=False,
                   reason="commit 1234: the approval commit is not signed")
    result = evaluate_stage([RISK], [bad], Facts(EV, ROLES))
    assert result.ignored[0].reason == "commit 1234: the approval commit is not signed"
