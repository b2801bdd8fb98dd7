"""End to end: the reconciler does not advance a stage until the right role approves it,
with a real SSH signature, on the evidence the stage will run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.approvals.signed import SignedApprovals, approval_message
from pipeline.model.project import ProjectSpec
from pipeline.reconcile.apply import ReconcileOptions, ReconcileResult, Sources, reconcile
from pipeline.reconcile.state import default_monitoring
from tests.acceptance.approvals_support import (
    KEY,
    approvals_repo,
    customer_yaml,
    keygen,
    write_evidence,
)
from tests.support import GitRepo, commit_evidence, run_cli

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def run(repo: GitRepo) -> ReconcileResult:
    root = str(repo.work)
    sources = Sources(SignedApprovals(root), default_monitoring(root, ProjectSpec()))
    return reconcile(ReconcileOptions(root, NOW), sources)


def triage(result: ReconcileResult) -> list[str]:
    return [f"{a.kind}: {a.reason}" for p in result.plan.priorities if p.key == KEY
            for a in p.actions]


def status(repo: GitRepo) -> str:
    return (repo.work / "customers/acme/triage/status.yaml").read_text()


def test_a_stage_waits_for_the_right_role_on_the_right_evidence(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    ann, raj = keygen(keys, "ann"), keygen(keys, "raj")
    repo = approvals_repo(tmp_path, customer_yaml(ann, raj), risk="medium")
    old = write_evidence(repo.work)
    commit_evidence(repo.work)

    # The wrong role, signed by a real key: raj is a risk-officer, shadow needs a reviewer.
    forged = approval_message(KEY, "shadow", old, "raj", ["customer-reviewer"])
    repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={raj}", "commit", "-q", "-S",
             "--allow-empty", "-m", forged)
    assert triage(run(repo)) == [
        "await-approval: holds: approval from customer-reviewer missing for stage shadow; to "
        f"release: approve the pull request, or `ailoop approve {KEY} --stage shadow`"]
    assert "phase: awaiting-approval" in status(repo)

    # The right role on evidence that is no longer current.
    approved = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                       "--key", str(ann))
    assert approved.code == 0, approved.err
    workflow = repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# handle refunds\n")
    new = write_evidence(repo.work)
    commit_evidence(repo.work)
    repo.commit_all("Handle refunds")
    assert new != old
    assert triage(run(repo))[-1] == (
        "await-approval: holds: approval from customer-reviewer missing for stage shadow "
        "(1 approval(s) bound to other evidence); to release: approve the pull request, or "
        f"`ailoop approve {KEY} --stage shadow`")

    # The right role on the right evidence: the stage advances.
    again = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                    "--key", str(ann))
    assert again.code == 0, again.err
    result = run(repo)
    kinds = [a.kind for p in result.plan.priorities if p.key == KEY for a in p.actions]
    assert kinds[:1] == ["promote"]
    text = status(repo)
    assert "stage: shadow" in text
    assert f"evidenceId: {new}" in text
    assert "person: ann" in text and "source: git-signed:" in text
