"""approvals.source: github, after merge: the reconciler counts the reviews of the merged
pull request that last changed the priority (GitHub REST stand-in on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.approvals_support import KEY, approvals_repo, customer_yaml, write_evidence
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, pull, review, serve
from tests.support import GitRepo, commit_evidence, run_cli

PR = 12
NOW = "2026-11-20T10:00:00Z"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub()) as running:
        yield running


def merged_pr(tmp_path: Path, fake: FakeGitHub) -> GitRepo:
    repo = approvals_repo(tmp_path, customer_yaml(), risk="medium", source="github")
    base = repo.git("rev-parse", "HEAD").strip()
    """Pull request PR changed the workflow and merged; then the trusted run on the default
    branch committed its dry run's evidence as the bot (the newest commit of the folder)."""
    repo.git("checkout", "-q", "-b", "feature")
    (repo.work / "customers" / KEY / "helpers.py").write_text("LABELS = ('billing',)\n")
    head = repo.commit_all("Triage: a helper").strip()
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "feature")
    write_evidence(repo.work)
    assert commit_evidence(repo.work)
    repo.git("push", "-q", "origin", "main")
    fake.pulls[PR] = {**pull(PR, "eve-dev", head, base), "merged_at": "2026-11-20T09:30:00Z"}
    fake.commit_pulls[head] = [PR]
    return repo


def reconcile(capsys: object, repo: GitRepo, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch,
              *, token: bool = True) -> tuple[int, str, str]:
    if token:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now", NOW)
    return result.code, result.out, result.err


def test_reviews_of_the_merged_pr_approve_the_first_stage(
        tmp_path: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = merged_pr(tmp_path, fake)
    head = fake.pulls[PR]["head"]["sha"]
    fake.reviews[PR] = [review(1, "Ann-Acme", "APPROVED", head),
                        review(2, "eve-dev", "APPROVED", head)]  # the author: never counts
    code, out, err = reconcile(capsys, repo, fake, monkeypatch)
    assert code == 0, err
    assert f"promote {KEY} to shadow (0%)" in out
    status = (repo.work / "customers" / KEY / "status.yaml").read_text()
    assert "person: ann" in status and "person: eve" not in status
    assert any("/commits/" in r and r.endswith("/pulls?per_page=100") for r in fake.requests)


def test_the_merged_pr_on_a_later_page_of_commit_pulls_counts(
        tmp_path: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit can be in many pull requests (closed ones, other bases): every page of
    commits/{sha}/pulls is read, not only the first."""
    repo = merged_pr(tmp_path, fake)
    head = fake.pulls[PR]["head"]["sha"]
    for number in range(100, 230):
        fake.pulls[number] = {**pull(number, "eve-dev", head, head), "state": "closed"}
    fake.commit_pulls[head] = [*range(100, 230), PR]
    fake.reviews[PR] = [review(1, "Ann-Acme", "APPROVED", head)]
    code, out, err = reconcile(capsys, repo, fake, monkeypatch)
    assert code == 0, err
    assert f"promote {KEY} to shadow (0%)" in out
    assert f"GET /repos/{REPO}/commits/{head}/pulls?per_page=100&page=2" in fake.requests


def test_a_stale_review_does_not_approve(tmp_path: Path, fake: FakeGitHub, capsys: object,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo = merged_pr(tmp_path, fake)
    fake.reviews[PR] = [review(1, "Ann-Acme", "APPROVED", "0" * 40)]
    code, out, _ = reconcile(capsys, repo, fake, monkeypatch)
    assert code == 0
    assert "awaits approval for shadow" in out
    assert "approval from customer-reviewer missing for stage shadow" in out


def test_without_github_access_it_holds_and_exits_3(tmp_path: Path, fake: FakeGitHub,
                                                    capsys: object,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo = merged_pr(tmp_path, fake)
    code, out, err = reconcile(capsys, repo, fake, monkeypatch, token=False)
    assert code == 3
    assert "promote" not in out
    assert f"error: {KEY}: holds: approvals unavailable (approvals.source is github: " \
           "GITHUB_TOKEN and GITHUB_REPOSITORY are needed" in err


def test_after_merge_only_verified_reviewers_approve(
        tmp_path: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same identity checks as `ailoop gate`: another account holding ann's login, or
    an account without access to the repository, approves nothing after merge either."""
    repo = merged_pr(tmp_path, fake)
    head = fake.pulls[PR]["head"]["sha"]
    fake.reviews[PR] = [review(1, "Ann-Acme", "APPROVED", head, user_id=4242),
                        review(2, "raj-risk", "APPROVED", head, association="NONE")]
    code, out, _ = reconcile(capsys, repo, fake, monkeypatch)
    assert code == 0
    assert "awaits approval for shadow" in out
    assert "promote" not in out
