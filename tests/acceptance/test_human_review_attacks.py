"""Attacks on the human review gate: who may label the sampled outputs. Real git, real SSH
signatures, the real CLI and reconciler (helpers of tests/acceptance/test_human_review.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.approvals_support import KEY
from tests.acceptance.test_human_review import (
    WORKFLOW,
    build,
    commit_review,
    label,
    review_file,
    run,
    sample,
    triage,
)
from tests.support import GitRepo, commit_evidence, run_cli, signed_commit

ANN = ("Ann Example", "ann@acme.example")


def authored_by_ann(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                    keys: dict[str, Path]) -> GitRepo:
    """Ann (customer-reviewer) writes the workflow change; shadow needs a customer-reviewer
    and a risk-officer, so raj's approval with hers passes the separation of duties."""
    repo = build(tmp_path, keys, capsys)
    folder = repo.work / "customers/acme/triage"
    spec = folder / "priority.yaml"
    spec.write_text(spec.read_text().replace(
        "          - role: customer-reviewer\n        humanReview:",
        "          - role: customer-reviewer\n          - role: risk-officer\n"
        "        humanReview:", 1))
    (folder / "workflow.py").write_text(WORKFLOW + "# ann's tweak\n")
    repo.git("add", "-A")
    signed_commit(repo.work, "Ann's workflow change", None, ANN)
    ran = run_cli(capsys, "-C", str(repo.work), "dry-run", KEY, "--now", "2026-11-20T09:30Z")
    assert ran.code == 0, ran.out + ran.err
    commit_evidence(repo.work)
    for person in ("ann", "raj"):
        approved = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                           "--key", str(keys[person]))
        assert approved.code == 0, approved.err
    return repo


def test_the_author_of_the_workflow_change_cannot_label_its_outputs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, keys: dict[str, Path]) -> None:
    """The attack: ann wrote the change and holds the role: she samples its outputs, labels
    them all as the dry run judged them and signs. People who read the outputs must not be
    the one who made them (as no author is the only approver of the stage that ships it)."""
    repo = authored_by_ann(capsys, tmp_path, keys)
    assert sample(capsys, repo)[0] == 0
    path = review_file(repo)
    label(path, {f"t{i}": "correct" for i in range(1, 7)} | {"t3": "wrong"})
    commit_review(repo, "Labels", keys["ann"], ANN)
    holds = triage(run(repo))
    assert not any(h.startswith("promote:") for h in holds), holds
    assert any("ann authored the workflow or dataset change and cannot label its outputs"
               in h for h in holds), holds


def test_on_github_the_author_of_the_workflow_change_cannot_approve_its_labels(
        tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same attack on GitHub: ann wrote the workflow, eve opens the labels' pull
    request and ann approves it."""
    from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, review, serve
    from tests.acceptance.test_human_review import PR, github_repo

    with serve(FakeGitHub()) as fake:
        repo, head = github_repo(tmp_path, keys, capsys, fake, workflow_by=ANN)
        fake.reviews[PR] = [review(1, "Ann-Acme", "APPROVED", head)]
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        plan = " ".join(run_cli(capsys, "-C", str(repo.work), "plan").out.split())
    assert "ann authored the workflow or dataset change and cannot label its outputs" in plan
