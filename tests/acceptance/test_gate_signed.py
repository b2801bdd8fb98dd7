"""`ailoop gate` in a repository whose approvals are signed git commits: a verdict with no
forge, roles and keys from the base branch, and every approval that does not count listed
with its reason (real SSH keys, real git repositories with a bare remote)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.approvals.signed import approval_message
from tests.acceptance.approvals_support import (
    KEY,
    approvals_repo,
    customer_yaml,
    keygen,
    write_evidence,
)
from tests.acceptance.github_fake import FakeGitHub
from tests.support import CliResult, GitRepo, run_cli

CUSTOMER = "customers/acme/customer.yaml"
PRIORITY = "customers/acme/triage/priority.yaml"
UNKNOWN_KEY = f"signed with a key that is not the signingKey of anyone in {CUSTOMER} on"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {name: keygen(folder, name) for name in ("ann", "raj", "mallory")}


@pytest.fixture
def repo(tmp_path: Path, keys: dict[str, Path],
         monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """origin/main has the priority (no status yet); the branch `change` adds its evidence."""
    for name in ("GITHUB_BASE_REF", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_ACTIONS",
                 "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    made = approvals_repo(tmp_path, customer_yaml(keys["ann"], keys["raj"]), risk="medium")
    made.git("checkout", "-q", "-b", "change")
    write_evidence(made.work)
    made.commit_all("Dry-run evidence for triage")
    return made


def approve(capsys: pytest.CaptureFixture[str], repo: GitRepo, key: Path, stage: str,
            *more: str) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", stage, "--key",
                     str(key), "--base", "main", *more)
    assert result.code == 0, result.err
    return repo.git("rev-parse", "HEAD")


def gate(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> CliResult:
    result = run_cli(capsys, "-C", str(repo.work), "gate", *args)
    assert "Traceback" not in result.err, result.err
    return result


def heading(repo: GitRepo, base: str = "origin/main", head: str = "HEAD") -> str:
    start = repo.git("merge-base", base, head)[:12]
    return (f"changes {start}..{repo.git('rev-parse', head)[:12]} (signed git approvals; "
            f"roles and keys from {base})\n")


def sign_by_hand(repo: GitRepo, key: Path | None, message: str, email: str = "") -> str:
    """A commit made with plain git, as an attacker would: MESSAGE signed with KEY."""
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    who = ["-c", f"user.email={email}"] if email else []
    repo.git(*sign, *who, "commit", "-q", *(["-S"] if key else []), "--allow-empty",
             "-m", message)
    return repo.git("rev-parse", "HEAD")


def evidence_id(repo: GitRepo) -> str:
    return next((repo.work / "customers/acme/triage/evidence").glob("ev-*.json")).stem


def set_target(repo: GitRepo, target: str) -> None:
    priority = repo.work / PRIORITY
    priority.write_text(priority.read_text().replace("target: canary", f"target: {target}"))
    for old in (repo.work / "customers/acme/triage/evidence").glob("*.json"):
        old.unlink()
    write_evidence(repo.work)
    repo.commit_all(f"Target {target}")


# --- the verdict --------------------------------------------------------------------------

def test_the_reviewers_signed_approvals_pass_the_gate(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    waiting = gate(capsys, repo)
    assert waiting.code == 1
    assert waiting.out == heading(repo) + (
        "acme/triage stage shadow: waiting\n"
        "  - needs 1 more customer-reviewer (stage 'shadow' asks for 1 customer-reviewer)\n"
        "acme/triage stage canary: waiting\n"
        "  - needs 1 more customer-reviewer (stage 'canary' asks for 1 customer-reviewer)\n")
    for stage in ("shadow", "canary"):
        approve(capsys, repo, keys["ann"], stage)
    passed = gate(capsys, repo)
    assert passed.code == 0, passed.out
    assert passed.out == heading(repo) + (
        "acme/triage stage shadow: approved\n"
        "  approved by customer-reviewer: ann\n"
        "acme/triage stage canary: approved\n"
        "  approved by customer-reviewer: ann\n")


def test_every_missing_role_is_named(capsys: pytest.CaptureFixture[str], repo: GitRepo,
                                     keys: dict[str, Path]) -> None:
    set_target(repo, "full")
    approve(capsys, repo, keys["ann"], "full", "--role", "customer-owner")
    result = gate(capsys, repo)
    assert result.code == 1
    assert "acme/triage stage full: waiting\n  approved by customer-owner: ann\n" \
           "  - needs 1 more risk-officer (stage 'full' asks for 1 risk-officer)\n" in result.out
    nobody = gate(capsys, repo, "--head", "HEAD~1")
    assert "acme/triage stage full: waiting\n" \
           "  - needs 1 more customer-owner (stage 'full' asks for 1 customer-owner)\n" \
           "  - needs 1 more risk-officer (stage 'full' asks for 1 risk-officer)\n" in nobody.out


def test_only_approval_commits_of_the_change_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """--head picks the commit judged; approvals after it are not part of that change."""
    before = repo.git("rev-parse", "HEAD")
    approve(capsys, repo, keys["ann"], "shadow")
    result = gate(capsys, repo, "--head", before)
    assert result.code == 1
    assert result.out.startswith(heading(repo, head=before))
    assert "acme/triage stage shadow: waiting" in result.out


def test_the_work_tree_must_be_the_head_it_judges(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    """The evidence is computed from the work tree: judging another commit's approvals
    against it would pass what was never approved."""
    before = repo.git("rev-parse", "HEAD")
    workflow = repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# tuned\n")
    write_evidence(repo.work)
    repo.commit_all("Tune the workflow")
    result = gate(capsys, repo, "--head", before)
    assert result.code == 2
    assert result.err == (
        f"error: customers/acme/triage in the work tree is not what it is at {before[:12]} "
        f"(--head); check out {before[:12]} to judge it\n")


def test_uncommitted_changes_are_not_judged(capsys: pytest.CaptureFixture[str],
                                            repo: GitRepo) -> None:
    (repo.work / "customers/acme/triage/NOTES.md").write_text("not committed\n")
    result = gate(capsys, repo)
    assert (result.code, result.err) == (
        2, "error: customers/acme/triage has changes that are not committed; commit them "
           "first (approvals bind to what is committed)\n")


def test_the_base_defaults_to_the_merge_base_with_origins_default_branch(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path) -> None:
    """main moved on after the branch was made (another priority changed): the change is
    still only what the branch did."""
    other = repo.clone(tmp_path / "other")
    billing = other.work / "customers/acme/billing/priority.yaml"
    billing.write_text(billing.read_text().replace("target: canary", "target: shadow"))
    other.commit_all("Billing: shadow only")
    other.git("push", "-q", "origin", "main")
    repo.git("fetch", "-q", "origin")
    result = gate(capsys, repo)
    assert result.out.startswith(heading(repo)), result.out
    assert "acme/billing" not in result.out
    assert repo.git("merge-base", "origin/main", "HEAD") != repo.git("rev-parse", "origin/main")


def test_roles_and_keys_are_read_from_the_tip_of_the_base_branch(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        tmp_path: Path) -> None:
    """A key removed on main after the branch was made no longer approves anything."""
    approve(capsys, repo, keys["ann"], "shadow")
    sha = approve(capsys, repo, keys["ann"], "canary")
    other = repo.clone(tmp_path / "other")
    (other.work / CUSTOMER).write_text(customer_yaml(None, keys["raj"]))
    other.commit_all("Ann's key was lost: remove it")
    other.git("push", "-q", "origin", "main")
    repo.git("fetch", "-q", "origin")
    result = gate(capsys, repo)
    assert result.code == 1
    assert (f"not counted: commit {sha[:12]} (canary as ann, customer-reviewer): "
            f"{UNKNOWN_KEY} origin/main\n") in result.out


def test_github_base_ref_names_the_base_branch(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In a GitHub Actions pull_request run GITHUB_BASE_REF is the branch the PR goes into."""
    repo.git("push", "-q", "origin", "main:release")
    repo.git("fetch", "-q", "origin")
    monkeypatch.setenv("GITHUB_BASE_REF", "release")
    result = gate(capsys, repo)
    assert result.out.startswith(heading(repo, base="origin/release")), result.out


def test_a_base_that_does_not_exist_is_an_input_error(
        capsys: pytest.CaptureFixture[str], repo: GitRepo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    result = gate(capsys, repo, "--base", "origin/nope")
    assert (result.code, result.err) == (
        2, "error: --base origin/nope: not a commit in this repository (fetch it first: "
           "git fetch origin)\n")
    repo.git("remote", "remove", "origin")
    result = gate(capsys, repo)
    assert (result.code, result.err) == (
        2, "error: cannot tell the branch this change goes into: the repository has no "
           "remote 'origin' with a default branch; pass --base REF\n")


def test_a_governance_change_waits_for_the_forges_code_owners(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    (repo.work / "policies").mkdir(exist_ok=True)
    (repo.work / "policies" / "README.md").write_text("rules\n")
    repo.commit_all("A policy note")
    result = gate(capsys, repo)
    assert result.code == 1 and "governance files: waiting" in result.out
    assert "code-owner review in the forge" in result.out


# --- approvals that do not count, each with its reason --------------------------------------

def test_the_authors_own_signed_approval_does_not_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ann@acme.example")
    (repo.work / "customers/acme/triage/NOTES.md").write_text("ann's own change\n")
    wrote = repo.commit_all("Ann changes her own priority")
    sha = approve(capsys, repo, keys["ann"], "shadow")
    result = gate(capsys, repo)
    assert result.code == 1 and "acme/triage stage shadow: waiting" in result.out
    assert (f"not counted: commit {sha[:12]} (shadow as ann, customer-reviewer): ann wrote "
            f"commit {wrote[:12]} of this change and cannot approve it\n") in result.out


def test_approval_trailers_do_not_hide_the_author_of_a_change(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only empty commits are approvals: a commit that changes files is authored, whatever
    its message says."""
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ann@acme.example")
    (repo.work / "customers/acme/triage/NOTES.md").write_text("ann's own change\n")
    repo.git("add", "-A")
    message = approval_message(KEY, "shadow", evidence_id(repo), "ann", ["customer-reviewer"])
    wrote = sign_by_hand(repo, keys["ann"], message)
    sha = approve(capsys, repo, keys["ann"], "shadow")
    result = gate(capsys, repo)
    assert result.code == 1
    assert f"not counted: commit {sha[:12]} (shadow as ann, customer-reviewer): ann wrote " \
           f"commit {wrote[:12]} of this change and cannot approve it\n" in result.out


def test_an_approval_signed_by_a_key_nobody_holds_does_not_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    message = approval_message(KEY, "shadow", evidence_id(repo), "mallory",
                               ["customer-reviewer"])
    sha = sign_by_hand(repo, keys["mallory"], message)
    result = gate(capsys, repo)
    assert result.code == 1
    assert result.out.endswith(f"not counted: commit {sha[:12]} (shadow as mallory, "
                               f"customer-reviewer): {UNKNOWN_KEY} origin/main\n"), result.out


def test_a_copied_approval_signed_by_the_wrong_key_does_not_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """ann's approval message, copied into new commits signed by mallory (a key nobody
    holds) and by raj (a known key, but not ann's)."""
    original = approve(capsys, repo, keys["ann"], "shadow")
    message = repo.git("log", "-1", "--format=%B")
    repo.git("reset", "-q", "--hard", "HEAD~1")  # the PR carries only the copies
    by_mallory = sign_by_hand(repo, keys["mallory"], message)
    by_raj = sign_by_hand(repo, keys["raj"], message)
    result = gate(capsys, repo)
    assert result.code == 1 and "acme/triage stage shadow: waiting" in result.out
    label = "(shadow as ann, customer-reviewer)"
    assert result.out.endswith(
        f"not counted: commit {by_raj[:12]} {label}: it names ann as the approver but is "
        "signed by raj\n"
        f"not counted: commit {by_mallory[:12]} {label}: {UNKNOWN_KEY} origin/main\n"), \
        result.out
    assert original[:12] not in result.out


def test_an_approval_bound_to_older_evidence_does_not_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    old = evidence_id(repo)
    sha = approve(capsys, repo, keys["ann"], "shadow")
    workflow = repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# a change after the approval\n")
    new = write_evidence(repo.work)
    repo.commit_all("Change the workflow after the approval")
    result = gate(capsys, repo)
    assert result.code == 1 and "acme/triage stage shadow: waiting" in result.out
    assert (f"not counted: commit {sha[:12]} (shadow as ann, customer-reviewer): given on "
            f"evidence {old}; the evidence is now {new} (workflow changed)\n") in result.out


def test_a_role_the_signer_does_not_hold_and_an_unsigned_approval_do_not_count(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    ev = evidence_id(repo)
    wrong_role = sign_by_hand(repo, keys["raj"], approval_message(
        KEY, "shadow", ev, "raj", ["customer-reviewer"]))
    unsigned = sign_by_hand(repo, None, approval_message(
        KEY, "shadow", ev, "ann", ["customer-reviewer"]))
    result = gate(capsys, repo)
    assert result.code == 1
    assert result.out.endswith(
        f"not counted: commit {unsigned[:12]} (shadow as ann, customer-reviewer): the "
        "approval commit is not signed\n"
        f"not counted: commit {wrong_role[:12]} (shadow as raj, customer-reviewer): raj does "
        f"not hold the role customer-reviewer in {CUSTOMER} on origin/main\n"), result.out


# --- the commit status, when GitHub is at hand ------------------------------------------------

def test_with_a_token_it_sets_the_commit_status_and_step_summary(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path],
        github_env: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    waiting = gate(capsys, repo)
    assert waiting.code == 1
    head = repo.git("rev-parse", "HEAD")
    assert github_env.statuses == [(head, {
        "state": "failure", "context": "ailoop/approvals",
        "description": "waiting for approval: acme/triage stage shadow; acme/triage stage "
                       "canary",
        "target_url": "https://github.example/acme-corp/ailoop-gitops/actions/runs/42"})]
    assert "| acme/triage stage shadow | ⏳ waiting | needs 1 more customer-reviewer" \
        in summary.read_text()
    approve(capsys, repo, keys["ann"], "shadow")
    approve(capsys, repo, keys["ann"], "canary")
    assert gate(capsys, repo).code == 0
    assert github_env.statuses[-1] == (repo.git("rev-parse", "HEAD"), {
        "state": "success", "context": "ailoop/approvals",
        "description": "all approval gates are met",
        "target_url": "https://github.example/acme-corp/ailoop-gitops/actions/runs/42"})


def test_a_failing_status_write_is_an_external_error(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, github_env: FakeGitHub) -> None:
    github_env.fail[("statuses", 1)] = 502
    result = gate(capsys, repo)
    assert result.code == 3
    assert "HTTP 502" in result.err


def test_a_pull_request_number_and_a_range_do_not_mix(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    result = gate(capsys, repo, "--pr", "7", "--base", "origin/main")
    assert result.code == 2
    assert "--pr reads a pull request's reviews; --base and --head judge signed git " \
           "approvals: use one or the other" in result.err


def test_what_the_gate_approves_the_reconciler_promotes_after_merge(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, keys: dict[str, Path]) -> None:
    """The gate and `ailoop plan` read the same signed commits with the same signature,
    role and evidence rules: once the change the gate passed is merged, the reconciler
    takes its first stage on those approvals."""
    from tests.acceptance.test_approvals_reconcile import run, triage

    message = approval_message(KEY, "shadow", evidence_id(repo), "mallory",
                               ["customer-reviewer"])
    sign_by_hand(repo, keys["mallory"], message)  # neither counts it
    approve(capsys, repo, keys["ann"], "shadow")
    approve(capsys, repo, keys["ann"], "canary")
    assert gate(capsys, repo).code == 0
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "change")
    handed = repo.work.parent / "handed"  # the trusted run on main hands its evidence over
    shutil.copytree(repo.work / "customers/acme/triage/evidence", handed)
    committed = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(handed))
    assert committed.code == 0, committed.err
    [first] = triage(run(repo))
    assert first.startswith("promote: ") and "ann (customer-reviewer)" in first, first
    assert "mallory" not in first
