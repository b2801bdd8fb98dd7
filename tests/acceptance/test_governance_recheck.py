"""The tool cannot judge itself: on the default branch the reconciler re-checks that every
governance change that landed had a policy owner's approval, and holds every promotion
until it has (pipeline/approvals/governance_check.py). Real git repositories, real SSH
signatures, the GitHub REST stand-in on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.approvals.requirements import governance_requirements
from tests.acceptance.approvals_support import (
    KEY,
    approvals_repo,
    customer_yaml,
    keygen,
    write_evidence,
)
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, pull, review, serve
from tests.support import GitRepo, commit_evidence, run_cli, signed_commit

NOW = "2026-11-20T10:00:00Z"
EVIDENCE_PR, GOVERNANCE_PR = 12, 20
PROMOTED = f"promote {KEY} to shadow (0%)"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub()) as running:
        yield running


@pytest.fixture
def pat_key(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    return keygen(tmp_path / "keys", "pat")


def _repo(tmp_path: Path, pat_key: Path, source: str = "github") -> GitRepo:
    """acme/triage ready for shadow except for its reviewed evidence; pat is the policy
    owner, with a signing key."""
    customer = customer_yaml().replace(
        "roles: [policy-owner]",
        f'roles: [policy-owner]\n      signingKey: "{Path(f"{pat_key}.pub").read_text().strip()}"')
    (tmp_path / "repo").mkdir()
    return approvals_repo(tmp_path / "repo", customer, risk="medium", source=source)


def _land(repo: GitRepo, fake: FakeGitHub, number: int, message: str,
          change: object, author: str = "eve-dev") -> str:
    """A branch with one commit made by CHANGE(work), merged as pull request NUMBER."""
    base = repo.git("rev-parse", "HEAD").strip()
    repo.git("checkout", "-q", "-b", f"pr-{number}")
    change(repo.work)  # type: ignore[operator]
    head = repo.commit_all(message).strip()
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number}", f"pr-{number}")
    merge = repo.git("rev-parse", "HEAD").strip()
    fake.pulls[number] = {**pull(number, author, head, base), "merged_at": "2026-11-20T09:30:00Z"}
    fake.commit_pulls[merge] = [number]
    fake.commit_pulls[head] = [number]
    return merge


def _evidence(repo: GitRepo, fake: FakeGitHub) -> None:
    """A reviewed pull request changes the workflow; on merge, the trusted run commits its
    dry run's evidence as the bot."""
    _land(repo, fake, EVIDENCE_PR, "Triage: a helper", _workflow_change)
    head = fake.pulls[EVIDENCE_PR]["head"]["sha"]
    fake.reviews[EVIDENCE_PR] = [review(1, "Ann-Acme", "APPROVED", head)]
    write_evidence(repo.work)
    assert commit_evidence(repo.work)


def _workflow_change(work: Path) -> None:
    (work / "customers" / KEY / "helpers.py").write_text("LABELS = ('billing', 'other')\n")


def _tool_change(work: Path) -> None:
    (work / "pipeline").mkdir(exist_ok=True)
    (work / "pipeline" / "gate.py").write_text("def passes() -> bool:\n    return True\n")


def _reconcile(capsys: object, repo: GitRepo, fake: FakeGitHub,
               monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now", NOW)
    assert result.code == 0, result.err
    return result.out


def _pushed_and_held(tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
                     monkeypatch: pytest.MonkeyPatch) -> tuple[GitRepo, str]:
    """A change to the tool pushed straight to main, then evidence through a reviewed PR:
    the reconcile promotes nothing."""
    repo = _repo(tmp_path, pat_key)
    _tool_change(repo.work)
    pushed = repo.commit_all("Make the gate pass").strip()
    _evidence(repo, fake)
    assert PROMOTED not in _reconcile(capsys, repo, fake, monkeypatch)
    return repo, pushed


def _plan(capsys: object, repo: GitRepo) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "plan", "--now", NOW)
    return result.out


def test_a_change_to_the_tool_itself_is_a_governance_change() -> None:
    [requirement] = governance_requirements(["pipeline/gate.py", "README.md"])
    assert requirement.roles == ("policy-owner",)
    assert governance_requirements([".github/workflows/ailoop-pr.yml"])
    assert governance_requirements(["pyproject.toml"]) and governance_requirements(["action.yml"])
    assert not governance_requirements(["customers/acme/triage/priority.yaml"])


def test_a_governance_change_pushed_without_a_pull_request_holds_every_promotion(
        tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, pushed = _pushed_and_held(tmp_path, pat_key, fake, capsys, monkeypatch)
    out = _plan(capsys, repo)
    assert f"{KEY}: holds at " in out
    assert (f"governance change {pushed[:12]} landed without a policy "
            "owner's approval (it came from no pull request); to release the hold, a "
            f"policy-owner approves it: `ailoop approve --governance {pushed[:12]}`, or "
            "revert it") in out


def test_a_governance_change_a_policy_owner_approved_lets_promotions_through(
        tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, pat_key)
    _land(repo, fake, GOVERNANCE_PR, "Make the gate pass", _tool_change)
    head = fake.pulls[GOVERNANCE_PR]["head"]["sha"]
    fake.reviews[GOVERNANCE_PR] = [review(7, "pat-policy", "APPROVED", head)]
    _evidence(repo, fake)
    out = _reconcile(capsys, repo, fake, monkeypatch)
    assert PROMOTED in out
    assert "Ailoop-Governance: verified" in repo.git("log", "-1", "--format=%B")


def test_only_a_policy_owners_review_approves_a_governance_change(
        tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, pat_key)
    merge = _land(repo, fake, GOVERNANCE_PR, "Make the gate pass", _tool_change)
    head = fake.pulls[GOVERNANCE_PR]["head"]["sha"]
    fake.reviews[GOVERNANCE_PR] = [review(7, "Ann-Acme", "APPROVED", head)]  # not a policy owner
    _evidence(repo, fake)
    assert PROMOTED not in _reconcile(capsys, repo, fake, monkeypatch)
    out = _plan(capsys, repo)
    assert f"governance change {merge[:12]} landed without a policy owner's approval " \
           f"(pull request #{GOVERNANCE_PR}: " in out


def test_attack_a_verified_trailer_in_a_commit_the_bot_did_not_sign_moves_nothing(
        tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The PR author forges the bot's name and e-mail and the trailer the reconciler writes
    after a passing check; only a commit signed with the bot key says anything."""
    repo = _repo(tmp_path, pat_key)
    _tool_change(repo.work)
    pushed = repo.commit_all("Make the gate pass").strip()
    (repo.work / "notes.md").write_text("x\n")
    repo.git("add", "-A")
    signed_commit(repo.work, "ailoop: reconcile\n\nAiloop-Governance: verified\n", None,
                  ("ailoop-bot", "ailoop-bot@users.noreply.github.com"))
    _evidence(repo, fake)
    assert PROMOTED not in _reconcile(capsys, repo, fake, monkeypatch)
    assert f"governance change {pushed[:12]} landed without" in _plan(capsys, repo)


def test_a_policy_owners_signed_approval_after_the_fact_releases_the_hold(
        tmp_path: Path, pat_key: Path, fake: FakeGitHub, capsys: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, pushed = _pushed_and_held(tmp_path, pat_key, fake, capsys, monkeypatch)
    eve = keygen(tmp_path / "keys", "eve")  # nobody's signingKey: refused, nothing written
    refused = run_cli(capsys, "-C", str(repo.work), "approve", "--governance", pushed[:12],
                      "--key", str(eve))
    assert refused.code == 2 and "is not the signingKey of anyone" in refused.err
    done = run_cli(capsys, "-C", str(repo.work), "approve", "--governance", pushed[:12],
                   "--key", str(pat_key))
    assert done.code == 0, done.err
    assert f"pat approves governance change {pushed[:12]} as policy-owner" in done.out
    assert PROMOTED in _reconcile(capsys, repo, fake, monkeypatch)


def test_git_signed_a_governance_change_holds_until_a_policy_owner_signs_its_approval(
        tmp_path: Path, pat_key: Path, capsys: object) -> None:
    repo = _repo(tmp_path, pat_key, source="git-signed")
    _tool_change(repo.work)
    pushed = repo.commit_all("Make the gate pass").strip()
    held = run_cli(capsys, "-C", str(repo.work), "plan").out
    assert f"governance change {pushed[:12]} landed without a policy owner's approval (no " \
           "policy owner's signed governance approval of it follows)" in held
    done = run_cli(capsys, "-C", str(repo.work), "approve", "--governance", pushed,
                   "--key", str(pat_key))
    assert done.code == 0, done.err
    assert "governance change" not in run_cli(capsys, "-C", str(repo.work), "plan").out
