"""Who confirms a regression case: `ailoop gate` on the pull request that adds it, against
the GitHub REST stand-in and a real git repository. The attacks come first: the author of
the pull request never confirms it, whatever their role, nor does a status they edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.approvals_support import approvals_repo, customer_yaml, write_evidence
from tests.acceptance.github_fake import FakeGitHub, changed_file, pull, review
from tests.support import CliResult, GitRepo, run_cli

PR = 7
FOLDER = "customers/acme/triage"
CASE = "regression-inc-1"
GATE = f"acme/triage regression case {CASE}"
NEEDS = (f"  - needs 1 more customer-reviewer (regression case {CASE} awaits confirmation by "
         "a customer reviewer)\n")


def open_pr(tmp_path: Path, fake: FakeGitHub, author: str, *, status: bool = False,
            risk: str = "medium") -> tuple[GitRepo, str]:
    """A pull request by AUTHOR that adds a regression case (and, with STATUS, a status.yaml
    claiming it is confirmed)."""
    repo = approvals_repo(tmp_path, customer_yaml(), risk=risk)
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "regression")
    dataset = repo.work / FOLDER / "dataset.jsonl"
    case = {"id": CASE, "input": {"text": "urgent: printer on fire"}, "expected": "it",
            "tags": ["regression"], "critical": True, "regression": {"incident": "inc-1"}}
    dataset.write_text(dataset.read_text() + json.dumps(case) + "\n")
    files = [f"{FOLDER}/dataset.jsonl"]
    if status:
        forged = {"case": CASE, "digest": "rc-0000000000000000", "by": "ann",
                  "source": "github:pull/7", "at": "2026-11-20T09:00:00Z"}
        (repo.work / FOLDER / "status.yaml").write_text(
            "apiVersion: ailoop.dev/v1\nkind: Status\nmetadata:\n  name: triage\nstatus:\n"
            f"  confirmedCases: [{json.dumps(forged)}]\n")
        files.append(f"{FOLDER}/status.yaml")
    ev = write_evidence(repo.work)
    files.append(f"{FOLDER}/evidence/{ev}.json")
    head = repo.commit_all("Add regression case")
    fake.pulls[PR] = pull(PR, author, head, base)
    fake.files[PR] = [changed_file(f) for f in files]
    return repo, head


def gate(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> CliResult:
    return run_cli(capsys, "-C", str(repo.work), "gate", "--pr", str(PR))


def approved(login: str, head: str, review_id: int = 1) -> dict[str, Any]:
    return review(review_id, login, "APPROVED", head)


def test_attack_the_author_approves_their_own_regression_case(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    repo, head = open_pr(tmp_path, github_env, "Ann-Acme")  # ann holds customer-reviewer
    github_env.reviews[PR] = [approved("Ann-Acme", head)]
    result = gate(capsys, repo)
    assert result.code == 1
    assert f"{GATE}: waiting\n{NEEDS}" in result.out
    assert "review by Ann-Acme: the author of a pull request cannot approve it" in result.out


def test_attack_a_status_written_in_the_pull_request_confirms_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    repo, _ = open_pr(tmp_path, github_env, "eve-dev", status=True)
    github_env.reviews[PR] = []
    result = gate(capsys, repo)
    assert result.code == 1
    assert f"{GATE}: waiting\n{NEEDS}" in result.out


def test_attack_another_role_does_not_confirm(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    repo, head = open_pr(tmp_path, github_env, "eve-dev")
    github_env.reviews[PR] = [approved("raj-risk", head)]
    result = gate(capsys, repo)
    assert result.code == 1
    assert f"{GATE}: waiting\n{NEEDS}" in result.out


def test_an_approval_of_an_older_commit_does_not_confirm(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    repo, _ = open_pr(tmp_path, github_env, "eve-dev")
    github_env.reviews[PR] = [approved("Ann-Acme", repo.git("rev-parse", "main"))]
    result = gate(capsys, repo)
    assert result.code == 1
    assert f"{GATE}: waiting\n" in result.out


def test_a_customer_reviewer_who_is_not_the_author_confirms_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    repo, head = open_pr(tmp_path, github_env, "eve-dev")
    github_env.reviews[PR] = [approved("Ann-Acme", head)]
    result = gate(capsys, repo)
    assert result.code == 0, result.out
    assert f"{GATE}: approved\n  approved by customer-reviewer: ann\n" in result.out


# --- signed confirmations (`ailoop approve C/P --case ID`, `ailoop gate --base`) ------------

@pytest.fixture
def signed_change(tmp_path: Path) -> tuple[GitRepo, dict[str, Path]]:
    """main has the priority; the branch `change` adds a regression case (written by eve,
    the tests' git identity) and its evidence."""
    from tests.acceptance.approvals_support import keygen

    keys = tmp_path / "keys"
    keys.mkdir()
    made = {name: keygen(keys, name) for name in ("ann", "raj")}
    repo = approvals_repo(tmp_path, customer_yaml(made["ann"], made["raj"]), risk="medium")
    repo.git("checkout", "-q", "-b", "change")
    add_case(repo)
    write_evidence(repo.work)
    repo.commit_all("Dry-run evidence with the regression case")
    return repo, made


def add_case(repo: GitRepo) -> None:
    dataset = repo.work / FOLDER / "dataset.jsonl"
    case = {"id": CASE, "input": {"text": "urgent"}, "expected": "it", "tags": ["regression"],
            "critical": True, "regression": {"incident": "inc-1"}}
    dataset.write_text(dataset.read_text() + json.dumps(case) + "\n")
    repo.commit_all("Add regression case")


def confirm(capsys: pytest.CaptureFixture[str], repo: GitRepo, key: Path,
            case: str = CASE) -> CliResult:
    return run_cli(capsys, "-C", str(repo.work), "approve", "acme/triage", "--case", case,
                   "--key", str(key), "--base", "main")


def signed_gate(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(repo.work), "gate", "--base", "main")
    return result.code, result.out


def test_a_signed_confirmation_by_a_customer_reviewer(
        capsys: pytest.CaptureFixture[str],
        signed_change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, keys = signed_change
    code, out = signed_gate(capsys, repo)
    assert code == 1 and f"{GATE}: waiting\n{NEEDS}" in out
    done = confirm(capsys, repo, keys["ann"])
    assert done.code == 0, done.err
    assert f"ann confirms regression case {CASE} of acme/triage as customer-reviewer" in done.out
    code, out = signed_gate(capsys, repo)
    assert f"{GATE}: approved\n  approved by customer-reviewer: ann\n" in out


def test_attack_the_author_signs_a_confirmation_of_their_own_case(
        capsys: pytest.CaptureFixture[str], signed_change: tuple[GitRepo, dict[str, Path]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, keys = signed_change
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ann@acme.example")
    dataset = repo.work / FOLDER / "dataset.jsonl"
    dataset.write_text(dataset.read_text().replace('"expected": "it", "tags": ["regression"]',
                                                   '"expected": "billing", "tags": ["regression"]'))
    write_evidence(repo.work)
    repo.commit_all("Ann changes the expected output")
    assert confirm(capsys, repo, keys["ann"]).code == 0
    code, out = signed_gate(capsys, repo)
    assert code == 1 and f"{GATE}: waiting\n" in out
    assert "ann wrote commit" in out and "of this change and cannot approve it" in out


def test_confirming_a_case_that_is_not_there_or_without_the_role(
        capsys: pytest.CaptureFixture[str],
        signed_change: tuple[GitRepo, dict[str, Path]]) -> None:
    repo, keys = signed_change
    missing = confirm(capsys, repo, keys["ann"], "nope")
    assert (missing.code, missing.err) == (
        2, f"error: no regression case 'nope' in the dataset of acme/triage (regression "
           f"cases: {CASE})\n")
    raj = confirm(capsys, repo, keys["raj"])
    assert (raj.code, raj.err) == (
        2, f"error: raj holds none of the roles confirming regression case '{CASE}' needs "
           "(customer-reviewer)\n")
