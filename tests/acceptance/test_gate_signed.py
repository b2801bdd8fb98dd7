"""`ailoop gate` in a repository whose approvals are signed git commits: a verdict with no
forge, roles and keys from the base branch, and every approval that does not count listed
with its reason (real SSH keys, real git repositories)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.approvals_support import (
    KEY,
    approvals_repo,
    customer_yaml,
    keygen,
    write_evidence,
)
from tests.support import GitRepo, run_cli


@pytest.fixture
def change(tmp_path: Path) -> tuple[GitRepo, dict[str, Path]]:
    """main has the priority (no status yet); the branch `change` adds its evidence."""
    keys = tmp_path / "keys"
    keys.mkdir()
    made = {name: keygen(keys, name) for name in ("ann", "raj", "mallory")}
    repo = approvals_repo(tmp_path, customer_yaml(made["ann"], made["raj"]), risk="medium")
    repo.git("checkout", "-q", "-b", "change")
    write_evidence(repo.work)
    repo.commit_all("Dry-run evidence for triage")
    return repo, made


def approve(capsys: pytest.CaptureFixture[str], repo: GitRepo, key: Path, stage: str) -> None:
    result = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", stage, "--key",
                     str(key), "--base", "main")
    assert result.code == 0, result.err


def gate(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(repo.work), "gate", "--base", "main")
    assert "Traceback" not in result.err, result.err
    return result.code, result.out


def test_the_reviewers_signed_approvals_pass_the_gate(
        capsys: pytest.CaptureFixture[str], change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, keys = change
    code, out = gate(capsys, repo)
    assert code == 1 and "acme/triage stage shadow: waiting\n" in out, out
    assert "needs 1 more customer-reviewer" in out
    for stage in ("shadow", "canary"):
        approve(capsys, repo, keys["ann"], stage)
    code, out = gate(capsys, repo)
    assert code == 0, out
    assert "acme/triage stage shadow: approved\n  approved by customer-reviewer: ann" in out
    assert "acme/triage stage canary: approved" in out


def test_the_author_of_the_change_never_approves_it(
        capsys: pytest.CaptureFixture[str], change: tuple[GitRepo, dict[str, Path]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, keys = change
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ann@acme.example")
    (repo.work / "customers/acme/triage/NOTES.md").write_text("ann's own change\n")
    repo.commit_all("Ann changes her own priority")
    approve(capsys, repo, keys["ann"], "shadow")
    code, out = gate(capsys, repo)
    assert code == 1 and "acme/triage stage shadow: waiting" in out, out


def test_a_key_nobody_holds_does_not_count_and_says_why(
        capsys: pytest.CaptureFixture[str], change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, keys = change
    approve(capsys, repo, keys["ann"], "shadow")
    # mallory copies ann's approval message and signs it with her own key
    message = repo.git("log", "-1", "--format=%B")
    repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['mallory']}", "commit", "-q",
             "-S", "--allow-empty", "-m", message)
    code, out = gate(capsys, repo)
    assert code == 1  # canary still waits: ann signed shadow only
    assert "not counted: commit " in out and "is not the signingKey of anyone in " \
        "customers/acme/customer.yaml on " in out, out


def test_an_approval_of_older_evidence_does_not_count(
        capsys: pytest.CaptureFixture[str], change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, keys = change
    approve(capsys, repo, keys["ann"], "shadow")
    workflow = repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# a change after the approval\n")
    write_evidence(repo.work)
    repo.commit_all("Change the workflow after the approval")
    code, out = gate(capsys, repo)
    assert code == 1 and "acme/triage stage shadow: waiting" in out, out


def test_a_governance_change_waits_for_the_forges_code_owners(
        capsys: pytest.CaptureFixture[str], change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, _ = change
    (repo.work / "policies").mkdir(exist_ok=True)
    (repo.work / "policies" / "README.md").write_text("rules\n")
    repo.commit_all("A policy note")
    code, out = gate(capsys, repo)
    assert code == 1 and "governance files: waiting" in out
    assert "code-owner review in the forge" in out
