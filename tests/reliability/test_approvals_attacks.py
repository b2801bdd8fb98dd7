"""Attacks on approvals: forged and replayed SSH signatures, impersonation, approvals that
went stale with a later push, approvals off the branch; GitHub reviews that are stale,
self, bot, dismissed or spread over pages. Real ssh-keygen keys, real git, a GitHub REST
stand-in on 127.0.0.1. Nothing counts unless it is verified."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.approvals.context import base_customer, current_fingerprint, people_of, roles_of
from pipeline.approvals.evaluate import Facts, Verdict, evaluate_stage
from pipeline.approvals.requirements import stage_requirements
from pipeline.approvals.signed import SignedApprovals, approval_message
from pipeline.documents.evidence import read_evidence
from tests.acceptance.approvals_support import (
    ANN_ID,
    KEY,
    approvals_repo,
    customer_yaml,
    write_evidence,
)
from tests.acceptance.github_fake import REPO, FakeGitHub, chatter, review
from tests.acceptance.test_approvals_github import PR, Pr, approved, gate, open_pr
from tests.support import GitRepo, run_cli


@pytest.fixture
def signed(signed_repo: GitRepo) -> GitRepo:
    return signed_repo


def _approve(capsys: pytest.CaptureFixture[str], repo: GitRepo, key: Path,
             stage: str = "canary", *extra: str) -> None:
    result = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", stage,
                     "--key", str(key), *extra)
    assert result.code == 0, result.err


def _verdict(repo: GitRepo, stage: str = "canary", key: str = KEY) -> Verdict:
    root = str(repo.work)
    priority, fp = current_fingerprint(root, key)
    people = people_of(base_customer(root, "HEAD", "acme"))
    known = {e.evidence_id: e.fingerprint for e in read_evidence(root, key)}
    facts = Facts(fp.evidence_id, roles_of(people), current=fp, known=known)
    return evaluate_stage(stage_requirements(key, priority, stage),
                          SignedApprovals(root).approvals(key), facts)


def _rewrite_head(repo: GitRepo, old: str, new: str) -> str:
    """Edit the signed HEAD commit's text (signature kept) and point HEAD at the result."""
    raw = repo.git("cat-file", "commit", "HEAD") + "\n"
    assert old in raw
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"],
                         cwd=repo.work, input=raw.replace(old, new), capture_output=True,
                         text=True, check=True).stdout.strip()
    repo.git("update-ref", "HEAD", sha)
    return sha


def _counted(verdict: Verdict) -> list[tuple[str, ...]]:
    return [o.approvers for o in verdict.outcomes]


def test_a_signature_replayed_onto_another_stage_does_not_count(
        capsys: pytest.CaptureFixture[str], signed: GitRepo, keys: dict[str, Path]) -> None:
    _approve(capsys, signed, keys["ann"], "shadow")
    sha = _rewrite_head(signed, "Ailoop-Approval: shadow", "Ailoop-Approval: canary")
    verdict = _verdict(signed, "canary")
    assert _counted(verdict) == [(), ()]
    assert [(i.approval.label, i.reason) for i in verdict.ignored] == [
        (f"commit {sha[:12]} (canary as ann, customer-reviewer)",
         "the signature does not match the commit (it was changed after signing)")]


def test_a_signature_replayed_onto_other_evidence_does_not_count(
        capsys: pytest.CaptureFixture[str], signed: GitRepo, keys: dict[str, Path]) -> None:
    _approve(capsys, signed, keys["ann"])
    ev = current_fingerprint(str(signed.work), KEY)[1].evidence_id
    workflow = signed.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# later push\n")
    new = write_evidence(signed.work)
    signed.commit_all("A later push")
    # Re-bind the old signed approval to the new evidence by rewriting a copy of it.
    old_sha = signed.git("log", "--format=%H", "--grep=^Ailoop-Approval", "-1")
    raw = signed.git("cat-file", "commit", old_sha) + "\n"
    forged = raw.replace(ev, new).replace(
        f"parent {signed.git('rev-parse', 'HEAD~1')}", f"parent {signed.git('rev-parse', 'HEAD')}")
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"],
                         cwd=signed.work, input=forged, capture_output=True, text=True,
                         check=True).stdout.strip()
    signed.git("update-ref", "HEAD", sha)
    verdict = _verdict(signed)
    assert _counted(verdict) == [(), ()]
    reasons = [(i.approval.label.split(" ")[1], i.reason) for i in verdict.ignored]
    assert (sha[:12], "the signature does not match the commit (it was changed after "
            "signing)") in reasons


def test_an_approval_before_a_later_dataset_push_goes_stale(
        capsys: pytest.CaptureFixture[str], signed: GitRepo, keys: dict[str, Path]) -> None:
    _approve(capsys, signed, keys["ann"])
    _approve(capsys, signed, keys["raj"])
    assert _verdict(signed).satisfied
    old = current_fingerprint(str(signed.work), KEY)[1].evidence_id
    dataset = signed.work / "customers/acme/triage/dataset.jsonl"
    dataset.write_text(dataset.read_text() + '{"id": "new", "input": {"text": "x"}}\n')
    new = write_evidence(signed.work)
    signed.commit_all("More data")
    verdict = _verdict(signed)
    assert not verdict.satisfied
    assert {(i.reason, i.stale) for i in verdict.ignored} == {
        (f"given on evidence {old}; the evidence is now {new} (dataset changed)", True)}


def test_one_signer_claiming_to_be_another_person_does_not_count_for_them(
        signed: GitRepo, keys: dict[str, Path]) -> None:
    ev = current_fingerprint(str(signed.work), KEY)[1].evidence_id
    message = approval_message(KEY, "canary", ev, "raj", ["risk-officer"])
    signed.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['ann']}", "commit", "-q",
               "-S", "--allow-empty", "-m", message)
    verdict = _verdict(signed)
    assert "raj" not in {p for o in verdict.outcomes for p in o.approvers}
    assert not verdict.satisfied


def test_a_role_the_signer_does_not_hold_does_not_count(signed: GitRepo,
                                                        keys: dict[str, Path]) -> None:
    ev = current_fingerprint(str(signed.work), KEY)[1].evidence_id
    message = approval_message(KEY, "canary", ev, "ann", ["risk-officer"])
    signed.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['ann']}", "commit", "-q",
               "-S", "--allow-empty", "-m", message)
    verdict = _verdict(signed)
    assert _counted(verdict)[1] == ()  # the risk-officer slot stays empty
    assert not verdict.satisfied


def test_a_key_added_in_the_same_change_does_not_verify(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path,
                                                        keys: dict[str, Path]) -> None:
    """Keys come from the base: a branch that adds mallory's key as raj's cannot use it."""
    repo = approvals_repo(tmp_path, customer_yaml(keys["ann"], keys["raj"]))
    write_evidence(repo.work)
    repo.commit_all("Dry-run evidence")
    base = repo.git("rev-parse", "HEAD")
    customer = repo.work / "customers/acme/customer.yaml"
    raj_pub = Path(str(keys["raj"]) + ".pub").read_text().strip()
    mallory_pub = Path(str(keys["mallory"]) + ".pub").read_text().strip()
    customer.write_text(customer.read_text().replace(raj_pub, mallory_pub))
    repo.commit_all("Rotate raj's key")
    ev = current_fingerprint(str(repo.work), KEY)[1].evidence_id
    repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['mallory']}", "commit",
             "-q", "-S", "--allow-empty", "-m",
             approval_message(KEY, "canary", ev, "raj", ["risk-officer"]))
    found = SignedApprovals(str(repo.work), base=base).approvals(KEY)
    assert [(a.valid, a.person) for a in found] == [(False, "raj")] or \
        all(not a.valid for a in found)


def test_an_approval_on_another_branch_does_not_count(capsys: pytest.CaptureFixture[str],
                                                      signed: GitRepo,
                                                      keys: dict[str, Path]) -> None:
    signed.git("checkout", "-q", "-b", "side")
    _approve(capsys, signed, keys["ann"])
    _approve(capsys, signed, keys["raj"])
    signed.git("checkout", "-q", "main")
    assert _counted(_verdict(signed)) == [(), ()]


def test_one_person_approving_twice_fills_one_slot(capsys: pytest.CaptureFixture[str],
                                                   signed: GitRepo,
                                                   keys: dict[str, Path]) -> None:
    """ann holds customer-owner and customer-reviewer; the full stage needs a customer-owner
    and a risk-officer: her two approvals fill one slot."""
    _approve(capsys, signed, keys["ann"], "full", "--role", "customer-owner")
    _approve(capsys, signed, keys["ann"], "full", "--role", "customer-reviewer")
    verdict = _verdict(signed, "full")
    assert not verdict.satisfied
    assert sum(len(o.approvers) for o in verdict.outcomes) == 1


# --- GitHub reviews ----------------------------------------------------------------------

@pytest.fixture
def github(github_env: FakeGitHub) -> FakeGitHub:
    return github_env


@pytest.fixture
def pr(tmp_path: Path, github: FakeGitHub) -> Pr:
    return open_pr(approvals_repo(tmp_path, customer_yaml()), github, "eve-dev")


def test_an_approval_dismissed_on_the_last_page_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               *chatter(200, pr.head), review(5000, "raj-risk", "DISMISSED", pr.head))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "  - needs 1 more risk-officer (risk is high: a risk-officer must approve)" \
        in result.out
    assert f"GET /repos/{REPO}/pulls/7/reviews?per_page=100&page=3" in pr.fake.requests


def test_an_approval_then_a_new_push_is_stale(capsys: pytest.CaptureFixture[str],
                                              pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    assert gate(capsys, pr).code == 0
    workflow = pr.repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# sneaky\n")
    write_evidence(pr.repo.work)
    new_head = pr.repo.commit_all("Later push")
    pr.fake.pulls[PR]["head"]["sha"] = new_head
    result = gate(capsys, pr)
    assert result.code == 1
    assert result.out.count("(stale)") == 2


def test_a_bot_account_named_like_a_reviewer_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, bot=True))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "  - needs 1 more risk-officer" in result.out


def test_reviews_by_unknown_logins_and_pending_reviews_do_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk-evil"),
               review(3, "raj-risk", "PENDING", pr.head))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "  - needs 1 more risk-officer" in result.out


def test_a_failure_on_any_page_fails_closed(capsys: pytest.CaptureFixture[str],
                                            pr: Pr) -> None:
    pr.reviews(*(approved(pr, i, "ann-acme") for i in range(1, 6)),
               approved(pr, 6, "raj-risk"), *chatter(250, pr.head))
    pr.fake.fail[("reviews", 3)] = 500
    result = gate(capsys, pr)
    assert result.code == 3
    assert "HTTP 500" in result.err
    assert pr.fake.statuses == []


# --- reviewer identity -------------------------------------------------------------------

def test_a_login_deleted_and_registered_again_by_someone_else_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    """customer.yaml records ann's account id; the login's new holder has another one, even
    as a collaborator."""
    pr.reviews(review(1, "Ann-Acme", "APPROVED", pr.head, user_id=4242),
               approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "acme/triage stage shadow: waiting\n  - needs 1 more customer-reviewer" in result.out
    assert ("not counted: review by Ann-Acme: GitHub account 4242 is not ann's (customer.yaml "
            f"records githubId {ANN_ID}); the login may have been deleted and registered again "
            "by someone else\n") in result.out


@pytest.mark.parametrize("association", ["NONE", "FIRST_TIMER", "FIRST_TIME_CONTRIBUTOR",
                                         "CONTRIBUTOR", "MANNEQUIN"])
def test_a_reviewer_without_access_to_the_repository_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr, association: str) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, association=association))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "  - needs 1 more risk-officer" in result.out
    assert (f"not counted: review by raj-risk: raj-risk has no access to {REPO} (author "
            f"association {association}, permission none)\n") in result.out


def test_the_read_access_everyone_has_to_a_public_repository_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.fake.public = True
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, association="NONE"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert (f"not counted: review by raj-risk: raj-risk is not a collaborator on {REPO} "
            "(author association NONE); the read permission GitHub reports is what every "
            "account has on a public repository\n") in result.out


@pytest.mark.parametrize(("status", "why"), [
    (403, "GitHub refused to show their permission on the repository (HTTP 403): the token "
          "needs read access to the repository's metadata"),
    (404, f"GitHub answered HTTP 404 for their permission on {REPO}: the account may no longer "
          "exist, or the token cannot see the repository")])
def test_a_reviewer_whose_access_github_will_not_show_holds(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch,
        status: int, why: str) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pr.fake.fail[("permission", 1)] = status
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, association="NONE"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert f"not counted: cannot verify reviewer raj-risk: {why}\n" in result.out
    assert [s["state"] for _, s in pr.fake.statuses] == ["failure"]


def test_a_permission_check_that_fails_holds_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pr.fake.fail[("permission", 1)] = 502
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, association="NONE"))
    result = gate(capsys, pr)
    assert (result.code, result.err) == (3, (
        "error: cannot verify reviewer raj-risk: GitHub API GET "
        f"/repos/{REPO}/collaborators/raj-risk/permission answered HTTP 502\n"))
    assert pr.fake.statuses == []
