"""`ailoop verify C/P` on real git repositories with a bare remote: a promoted candidate
verifies link by link, and each way of breaking a link is named (files -> chain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.approvals_support import KEY, approvals_repo, customer_yaml, write_evidence
from tests.acceptance.test_reconcile import make_git_repo, reconcile
from tests.reliability.test_evidence_trust import (
    STATUS,
    WORKFLOW,
    pr_with_forged_evidence,
    stage,
    trusted_run,
)
from tests.support import BOT_WHO, GitRepo, commit_evidence, run_cli, signed_commit

NOW = "2026-11-20T12:00:00Z"
FLAGS = "customers/acme/flags.flagd.json"
STATEMENTS = "customers/acme/triage/evidence"


@pytest.fixture
def promoted(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             keys: dict[str, Path]) -> tuple[GitRepo, str]:
    """A candidate at shadow on the trusted run's evidence, with ann's signed approval."""
    repo = approvals_repo(tmp_path, customer_yaml(keys["ann"], keys["raj"]), risk="medium",
                          source="git-signed")
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    repo.commit_all("Better workflow")
    ev = write_evidence(repo.work)
    assert commit_evidence(repo.work)
    approved = run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "shadow",
                       "--key", str(keys["ann"]))
    assert approved.code == 0, approved.err
    done = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now", NOW)
    assert f"promote {KEY} to shadow" in done.out, done.out + done.err
    return repo, ev


def verify(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str
           ) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(repo.work), "verify", KEY, *args)
    assert "Traceback" not in result.err
    return result.code, result.out + result.err


def edit_statement(repo: GitRepo, ev: str) -> dict[str, Any]:
    return dict(json.loads((repo.work / STATEMENTS / f"{ev}.intoto.json").read_text()))


def write_statement(repo: GitRepo, ev: str, statement: dict[str, Any]) -> None:
    (repo.work / STATEMENTS / f"{ev}.intoto.json").write_text(json.dumps(statement))


def test_a_promoted_candidate_verifies_link_by_link(
        promoted: tuple[GitRepo, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo, ev = promoted
    code, out = verify(capsys, repo)
    assert code == 0, out
    assert out.startswith(f"{KEY}: verified (")
    for link in ("status", "candidate evidence", "candidate trusted run",
                 "candidate statement", "candidate files", "approvals", "governance", "flag"):
        assert f"  ok      {link} " in out
    assert f"{ev} passed" in out
    code, out = verify(capsys, repo, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["verified"] is True and data["broken"] is None


def test_a_pr_that_rewrites_the_statement_breaks_the_trusted_run_link(
        promoted: tuple[GitRepo, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo, ev = promoted
    statement = edit_statement(repo, ev)
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    write_statement(repo, ev, statement)
    repo.commit_all("Fix the statement")
    code, out = verify(capsys, repo)
    assert code == 1
    assert out.startswith(f"{KEY}: BROKEN at candidate trusted run: evidence counts only "
                          "from a trusted run")


def test_a_bot_commit_whose_digests_are_not_the_files_breaks_the_files_link(
        promoted: tuple[GitRepo, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo, ev = promoted
    statement = edit_statement(repo, ev)
    workflow = next(s for s in statement["subject"] if s["name"] == WORKFLOW)
    workflow["digest"]["sha256"] = "0" * 64
    write_statement(repo, ev, statement)
    assert commit_evidence(repo.work)
    code, out = verify(capsys, repo)
    assert code == 1
    assert f"BROKEN at candidate files: {WORKFLOW} at " in out
    assert "does not hash to the digest the dry run recorded" in out


def test_a_status_edit_in_the_bots_name_breaks_the_status_link(
        promoted: tuple[GitRepo, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The bot's author name and e-mail, unsigned: never the bot."""
    repo, _ = promoted
    status = repo.work / STATUS
    status.write_text(status.read_text().replace("percent: 0", "percent: 100"))
    repo.git("add", "-A")
    signed_commit(repo.work, "ailoop: promote\n\nAiloop-Action: promote", None, BOT_WHO)
    code, out = verify(capsys, repo)
    assert code == 1
    assert out.startswith(f"{KEY}: BROKEN at status: status.yaml is written by the "
                          "reconciler only")


def test_a_hand_edited_flag_breaks_the_flag_link(
        promoted: tuple[GitRepo, str], capsys: pytest.CaptureFixture[str]) -> None:
    repo, _ = promoted
    flags = repo.work / FLAGS
    document = json.loads(flags.read_text())
    document["flags"]["triage"]["defaultVariant"] = "candidate"
    flags.write_text(json.dumps(document))
    code, out = verify(capsys, repo)
    assert code == 1
    assert f"BROKEN at flag: {FLAGS} serves other traffic for triage" in out


def test_a_promotion_on_approval_files_is_unverified(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Any author can commit an approval file: what it let through is not verified."""
    repo = make_git_repo(tmp_path)
    pr_with_forged_evidence(repo, passed=False)
    trusted_run(repo, tmp_path, capsys, "--push")
    reconcile(capsys, repo, 60)
    assert stage(repo) == "shadow"
    code, out = verify(capsys, repo)
    assert code == 1
    assert ("BROKEN at approvals: unverified: the promotion relied on approval files "
            "(customers/") in out


def test_a_priority_with_nothing_promoted_verifies_its_status_and_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    code, out = verify(capsys, repo)
    assert code == 0, out
    assert "no status yet: nothing is served or tried" in out


def test_an_unknown_priority_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    result = run_cli(capsys, "-C", str(repo.work), "verify", "acme/nope")
    assert result.code == 2
    assert "no priority 'acme/nope'" in result.err
