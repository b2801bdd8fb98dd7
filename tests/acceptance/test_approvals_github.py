"""`ailoop gate` against a GitHub REST stand-in on 127.0.0.1 and a real git repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.approvals_support import (
    ANN_ID,
    approvals_repo,
    customer_yaml,
    use_approvals_source,
    write_evidence,
)
from tests.acceptance.github_fake import (
    REPO,
    FakeGitHub,
    changed_file,
    chatter,
    pull,
    review,
)
from tests.support import CliResult, GitRepo, run_cli

PR = 7
WORKFLOW = "customers/acme/triage/workflow.py"


@dataclass
class Pr:
    repo: GitRepo
    fake: FakeGitHub
    base: str
    head: str

    def reviews(self, *items: dict[str, Any]) -> None:
        self.fake.reviews[PR] = list(items)


def open_pr(repo: GitRepo, fake: FakeGitHub, author: str, edit_customer: str = "") -> Pr:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    workflow = repo.work / WORKFLOW
    workflow.write_text(workflow.read_text() + "# handle refunds\n")
    ev = write_evidence(repo.work)
    files = [WORKFLOW, f"customers/acme/triage/evidence/{ev}.json"]
    if edit_customer:
        (repo.work / "customers/acme/customer.yaml").write_text(edit_customer)
        files.append("customers/acme/customer.yaml")
    head = repo.commit_all("Handle refunds")
    fake.pulls[PR] = pull(PR, author, head, base)
    fake.files[PR] = [changed_file(f) for f in files]
    return Pr(repo, fake, base, head)


@pytest.fixture
def fake(github_env: FakeGitHub) -> FakeGitHub:
    return github_env


@pytest.fixture
def pr(tmp_path: Path, fake: FakeGitHub) -> Pr:
    return open_pr(approvals_repo(tmp_path, customer_yaml()), fake, "eve-dev")


def gate(capsys: pytest.CaptureFixture[str], pr: Pr) -> CliResult:
    return run_cli(capsys, "-C", str(pr.repo.work), "gate", "--pr", str(PR))


def approved(pr: Pr, review_id: int, login: str, sha: str = "") -> dict[str, Any]:
    return review(review_id, login, "APPROVED", sha or pr.head)


def test_approvals_on_page_two_count(capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(*chatter(100, pr.head), review(2, "ann-acme", "COMMENTED", pr.head),
               approved(pr, 3, "ann-acme"), approved(pr, 4, "raj-risk"))
    result = gate(capsys, pr)
    assert result.code == 0, result.out + result.err
    assert result.out == (
        f"pull request #7 at {pr.head[:12]}\n"
        "acme/triage stage shadow: approved\n"
        "  approved by customer-reviewer: ann\n"
        "acme/triage stage canary: approved\n"
        "  approved by customer-reviewer: ann\n"
        "  approved by risk-officer: raj\n")
    assert f"GET /repos/{REPO}/pulls/7/reviews?per_page=100&page=2" in pr.fake.requests


def test_a_stale_approval_on_an_older_sha_does_not_count(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk", pr.base))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "acme/triage stage canary: waiting\n  approved by customer-reviewer: ann\n" \
           "  - needs 1 more risk-officer (risk is high: a risk-officer must approve)\n" \
        in result.out
    assert result.out.endswith(
        f"not counted: review by raj-risk: approved commit {pr.base[:12]}, not the current "
        f"head {pr.head[:12]} (stale)\n")


def test_approved_then_commented_is_still_approved(capsys: pytest.CaptureFixture[str],
                                                   pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               review(3, "raj-risk", "COMMENTED", pr.head))
    assert gate(capsys, pr).code == 0


def test_approved_then_changes_requested_blocks(capsys: pytest.CaptureFixture[str],
                                                pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               review(3, "RAJ-risk", "CHANGES_REQUESTED", pr.head))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "acme/triage stage canary: waiting\n  approved by customer-reviewer: ann\n" \
           "  - raj (risk-officer) requested changes (review on pull request #7)\n" \
           "  - needs 1 more risk-officer" in result.out
    assert "acme/triage stage shadow: approved\n" in result.out  # raj is not needed there


def test_a_dismissed_approval_counts_for_nothing(capsys: pytest.CaptureFixture[str],
                                                 pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "ann-acme"), review(2, "raj-risk", "DISMISSED", pr.head),
               review(3, "raj-risk", "PENDING", pr.head))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "not counted: review by raj-risk: the review was dismissed\n" in result.out


def test_self_approval_with_different_case_does_not_count(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fake: FakeGitHub) -> None:
    pr = open_pr(approvals_repo(tmp_path, customer_yaml()), fake, "ann-acme")
    pr.reviews(approved(pr, 1, "ANN-Acme"), approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "acme/triage stage shadow: waiting\n  - needs 1 more customer-reviewer" in result.out
    assert "not counted: review by ANN-Acme: the author of a pull request cannot approve " \
           "it\n" in result.out


def test_a_bot_approval_does_not_count(capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(review(1, "ailoop-bot[bot]", "APPROVED", pr.head, bot=True),
               review(2, "raj-risk", "APPROVED", pr.head, bot=True))
    result = gate(capsys, pr)
    assert result.code == 1
    assert result.out.endswith(
        "not counted: review by ailoop-bot[bot]: bot accounts never count as approvers\n"
        "not counted: review by raj-risk: bot accounts never count as approvers\n")


def test_a_502_in_the_middle_of_pagination_fails_closed(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"), *chatter(100, pr.head))
    pr.fake.fail[("reviews", 2)] = 502
    result = gate(capsys, pr)
    assert result.code == 3
    assert result.err == (f"error: GitHub API GET /repos/{REPO}/pulls/7/reviews answered "
                          "HTTP 502\n")
    assert pr.fake.statuses == []
    assert not (tmp_path / "summary.md").exists()


def test_a_pr_cannot_grant_a_role_and_use_it(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, fake: FakeGitHub) -> None:
    granted = customer_yaml().replace("roles: [engineer]", "roles: [engineer, risk-officer, "
                                      "customer-reviewer]")
    granted += ("    - id: mallory\n      name: Mallory\n      email: m@acme.example\n"
                "      github: mallory\n      roles: [risk-officer, policy-owner]\n")
    pr = open_pr(approvals_repo(tmp_path, customer_yaml()), fake, "eve-dev", granted)
    pr.reviews(approved(pr, 1, "eve-dev"), approved(pr, 2, "mallory"),
               approved(pr, 3, "ann-acme"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "  - needs 1 more risk-officer (risk is high: a risk-officer must approve)" \
        in result.out
    assert "governance files: waiting\n  - needs 1 more policy-owner (governance files " \
           "changed (customers/acme/customer.yaml): a policy-owner must approve)\n" in result.out
    assert "not counted: review by eve-dev: the author of a pull request cannot approve it\n" \
        in result.out
    assert "not counted: review by mallory: not a person with a github login in " \
           "customer.yaml on the base branch\n" in result.out


def test_in_actions_sets_the_commit_status_and_step_summary(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    event = tmp_path / "event.json"
    event.write_text('{"action": "synchronize", "number": 7, "pull_request": {"number": 7}}')
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    use_approvals_source(pr.repo.work, "github")  # then no option is needed
    pr.reviews(approved(pr, 1, "ann-acme"))
    result = run_cli(capsys, "-C", str(pr.repo.work), "gate")
    assert result.code == 1
    assert pr.fake.statuses == [(pr.head, {
        "state": "failure", "context": "ailoop/approvals",
        "description": "waiting for approval: acme/triage stage canary"})]
    assert summary.read_text() == (
        "## ailoop approvals\n\n| Gate | State | Still needed |\n|---|---|---|\n"
        "| acme/triage stage shadow | ✅ approved | — |\n"
        "| acme/triage stage canary | ⏳ waiting | needs 1 more risk-officer (risk is high: "
        "a risk-officer must approve) |\n")
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    assert run_cli(capsys, "-C", str(pr.repo.work), "gate").code == 0
    assert pr.fake.statuses[-1] == (pr.head, {"state": "success", "context": "ailoop/approvals",
                                              "description": "all approval gates are met"})


def test_a_head_that_moves_during_the_check_writes_nothing(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    pr.fake.after_first_pull = pull(PR, "eve-dev", "f" * 40, pr.base)
    result = gate(capsys, pr)
    assert result.code == 3
    assert result.err == (f"error: pull request #7 moved from {pr.head[:12]} to ffffffffffff "
                          "during the check; nothing was written (the new push runs the check "
                          "again)\n")
    assert pr.fake.statuses == []


def test_without_a_token_it_is_an_input_error(capsys: pytest.CaptureFixture[str], pr: Pr,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = gate(capsys, pr)
    assert (result.code, result.err) == (
        2, "error: GITHUB_TOKEN is not set; `ailoop gate` reads reviews from GitHub\n")


# --- reviewer identity: the account id and access to the repository ---------------------

def test_owners_members_and_collaborators_need_no_permission_request(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(review(1, "ann-acme", "APPROVED", pr.head, association="OWNER"),
               review(2, "raj-risk", "APPROVED", pr.head, association="MEMBER"))
    result = gate(capsys, pr)
    assert result.code == 0, result.out
    assert not any("/collaborators/" in r for r in pr.fake.requests)


def test_a_reviewer_with_read_access_counts_without_push_rights(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    """A customer reviewer with read access whose association does not show it (private
    organization membership reads as CONTRIBUTOR or NONE): GitHub confirms the access."""
    pr.fake.collaborators["Raj-Risk"] = "read"
    pr.reviews(approved(pr, 1, "ann-acme"),
               review(2, "raj-risk", "APPROVED", pr.head, association="CONTRIBUTOR"))
    result = gate(capsys, pr)
    assert result.code == 0, result.out
    assert [r for r in pr.fake.requests if "/collaborators/" in r] == [
        f"GET /repos/{REPO}/collaborators/raj-risk/permission",
        f"GET /repos/{REPO}/collaborators/raj-risk"]


def test_a_matching_github_id_counts(capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(review(1, "ANN-ACME", "APPROVED", pr.head, user_id=ANN_ID),
               approved(pr, 2, "raj-risk"))
    assert gate(capsys, pr).code == 0


def test_a_renamed_login_is_named_in_the_message(capsys: pytest.CaptureFixture[str],
                                                 pr: Pr) -> None:
    pr.reviews(review(1, "ann-renamed", "APPROVED", pr.head, user_id=ANN_ID),
               approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert (f"not counted: review by ann-renamed: not a person with a github login in "
            f"customer.yaml on the base branch (GitHub account {ANN_ID} is ann's githubId: "
            "was the login renamed? Update github in customer.yaml)\n") in result.out


# --- the same report as signed approvals: every reason, every missing role ----------------

def test_every_missing_role_and_every_review_not_counted_is_listed(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.reviews(approved(pr, 1, "eve-dev"), approved(pr, 2, "raj-risk", pr.base),
               review(3, "ann-acme", "DISMISSED", pr.head), approved(pr, 4, "mallory"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert result.out == (
        f"pull request #7 at {pr.head[:12]}\n"
        "acme/triage stage shadow: waiting\n"
        "  - needs 1 more customer-reviewer (stage 'shadow' asks for 1 customer-reviewer)\n"
        "acme/triage stage canary: waiting\n"
        "  - needs 1 more customer-reviewer (stage 'canary' asks for 1 customer-reviewer)\n"
        "  - needs 1 more risk-officer (risk is high: a risk-officer must approve)\n"
        "not counted: review by ann-acme: the review was dismissed\n"
        "not counted: review by eve-dev: the author of a pull request cannot approve it\n"
        f"not counted: review by raj-risk: approved commit {pr.base[:12]}, not the current "
        f"head {pr.head[:12]} (stale)\n"
        "not counted: review by mallory: not a person with a github login in customer.yaml on "
        "the base branch\n")


def test_whoever_wrote_a_commit_of_the_pull_request_cannot_approve_it(
        capsys: pytest.CaptureFixture[str], pr: Pr, monkeypatch: pytest.MonkeyPatch) -> None:
    """eve opened it, but ann pushed a commit to it: ann's review does not count either."""
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ann@acme.example")
    notes = pr.repo.work / "customers/acme/triage/NOTES.md"
    notes.write_text("ann's part\n")
    wrote = pr.repo.commit_all("Ann's part of the change")
    pr.fake.pulls[PR] = pull(PR, "eve-dev", wrote, pr.base)
    pr.fake.files[PR].append(changed_file("customers/acme/triage/NOTES.md"))
    pr.reviews(review(1, "ann-acme", "APPROVED", wrote), review(2, "raj-risk", "APPROVED", wrote))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "acme/triage stage shadow: waiting\n" in result.out
    assert result.out.endswith(f"not counted: review by ann-acme: ann wrote commit "
                               f"{wrote[:12]} of this change and cannot approve it\n"), result.out
