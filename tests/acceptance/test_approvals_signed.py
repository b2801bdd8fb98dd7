"""Git-native SSH-signed approvals with real keys (ssh-keygen) in real git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.approvals.context import current_fingerprint, roles_of
from pipeline.approvals.evaluate import Facts, evaluate_stage
from pipeline.approvals.requirements import stage_requirements
from pipeline.approvals.signed import SignedApprovals, approval_message
from pipeline.documents.evidence import read_evidence
from tests.acceptance.approvals_support import (
    KEY,
    approvals_repo,
    customer_yaml,
    write_evidence,
)
from tests.support import GitRepo, run_cli


def approve(capsys: pytest.CaptureFixture[str], repo: GitRepo, key: Path, *extra: str):
    return run_cli(capsys, "-C", str(repo.work), "approve", KEY, "--stage", "canary",
                   "--key", str(key), *extra)


def verdict(repo: GitRepo, stage: str = "canary"):
    root = str(repo.work)
    priority, fp = current_fingerprint(root, KEY)
    from pipeline.approvals.context import base_customer, people_of

    people = people_of(base_customer(root, "HEAD", "acme"))
    known = {e.evidence_id: e.fingerprint for e in read_evidence(root, KEY)}
    facts = Facts(fp.evidence_id, roles_of(people), current=fp, known=known)
    return evaluate_stage(stage_requirements(KEY, priority, stage),
                          SignedApprovals(root).approvals(KEY), facts)


def test_a_valid_signed_approval_counts(capsys: pytest.CaptureFixture[str],
                                        signed_repo: GitRepo, keys: dict[str, Path]) -> None:
    result = approve(capsys, signed_repo, keys["ann"])
    assert result.code == 0, result.err
    sha = signed_repo.git("rev-parse", "HEAD")
    assert result.out.startswith(f"recorded approval {sha[:12]}: ann approves acme/triage "
                                 "stage canary as customer-reviewer on evidence ev-")
    body = signed_repo.git("log", "-1", "--format=%B")
    assert "Ailoop-Approval: canary\nAiloop-Priority: acme/triage\n" in body
    first = verdict(signed_repo)
    assert not first.satisfied
    assert first.reasons() == ["needs 1 more risk-officer (risk is high: a risk-officer "
                               "must approve)"]
    assert approve(capsys, signed_repo, keys["raj"]).code == 0
    second = verdict(signed_repo)
    assert second.satisfied
    assert [o.approvers for o in second.outcomes] == [("ann",), ("raj",)]


def test_an_unsigned_approval_does_not_count(signed_repo: GitRepo) -> None:
    ev = current_fingerprint(str(signed_repo.work), KEY)[1].evidence_id
    message = approval_message(KEY, "canary", ev, "ann", ["customer-reviewer"])
    signed_repo.git("commit", "-q", "--allow-empty", "-m", message)
    sha = signed_repo.git("rev-parse", "HEAD")
    result = verdict(signed_repo)
    assert not result.satisfied
    assert [(i.approval.label, i.reason) for i in result.ignored] == [
        (f"commit {sha[:12]} (canary as ann, customer-reviewer)",
         "the approval commit is not signed")]


def test_a_wrong_key_does_not_count(capsys: pytest.CaptureFixture[str], signed_repo: GitRepo,
                                    keys: dict[str, Path]) -> None:
    refused = approve(capsys, signed_repo, keys["mallory"])
    assert refused.code == 2
    assert refused.err == (f"error: the key {keys['mallory']} is not the signingKey of anyone "
                           "in customers/acme/customer.yaml on HEAD\n")
    # Forged by hand: names ann, signed with mallory's key.
    ev = current_fingerprint(str(signed_repo.work), KEY)[1].evidence_id
    message = approval_message(KEY, "canary", ev, "ann", ["customer-reviewer"])
    signed_repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={keys['mallory']}",
                    "commit", "-q", "-S", "--allow-empty", "-m", message)
    sha = signed_repo.git("rev-parse", "HEAD")
    result = verdict(signed_repo)
    assert [(i.approval.label, i.reason) for i in result.ignored] == [
        (f"commit {sha[:12]} (canary as ann, customer-reviewer)", "signed with a key that is "
         "not the signingKey of anyone in customers/acme/customer.yaml on HEAD")]
    assert not result.satisfied


def test_an_approval_on_older_evidence_goes_stale(capsys: pytest.CaptureFixture[str],
                                                  signed_repo: GitRepo,
                                                  keys: dict[str, Path]) -> None:
    assert approve(capsys, signed_repo, keys["ann"]).code == 0
    old = current_fingerprint(str(signed_repo.work), KEY)[1].evidence_id
    workflow = signed_repo.work / "customers/acme/triage/workflow.py"
    workflow.write_text(workflow.read_text() + "# tuned\n")
    new = write_evidence(signed_repo.work)
    signed_repo.commit_all("Tune the workflow")
    result = verdict(signed_repo)
    assert [(i.reason, i.stale) for i in result.ignored] == [
        (f"given on evidence {old}; the evidence is now {new} (workflow changed)", True)]
    assert "needs 1 more customer-reviewer (stage 'canary' asks for 1 customer-reviewer)" \
        in result.reasons()


def test_an_approval_replayed_onto_another_priority_does_not_count(
        capsys: pytest.CaptureFixture[str], signed_repo: GitRepo,
        keys: dict[str, Path]) -> None:
    assert approve(capsys, signed_repo, keys["ann"]).code == 0
    raw = signed_repo.git("cat-file", "commit", "HEAD") + "\n"
    forged = raw.replace("acme/triage", "acme/billing")
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"],
                         cwd=signed_repo.work, input=forged, capture_output=True, text=True,
                         check=True).stdout.strip()
    signed_repo.git("update-ref", "HEAD", sha)
    billing = SignedApprovals(str(signed_repo.work)).approvals("acme/billing")
    assert [(a.valid, a.label, a.reason) for a in billing] == [
        (False, f"commit {sha[:12]} (canary as ann, customer-reviewer)",
         "the signature does not match the commit (it was changed after signing)")]
    assert SignedApprovals(str(signed_repo.work)).approvals(KEY) == []


def test_approve_refuses_a_role_the_person_does_not_hold(
        capsys: pytest.CaptureFixture[str], signed_repo: GitRepo,
        keys: dict[str, Path]) -> None:
    result = approve(capsys, signed_repo, keys["ann"], "--role", "risk-officer")
    assert result.code == 2
    assert result.err == "error: ann does not hold the role risk-officer on HEAD\n"
    assert signed_repo.git("log", "-1", "--format=%s") == "ailoop: evidence of a trusted dry run"


def test_approve_needs_evidence(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                keys: dict[str, Path]) -> None:
    repo = approvals_repo(tmp_path, customer_yaml(keys["ann"]))
    result = approve(capsys, repo, keys["ann"])
    ev = current_fingerprint(str(repo.work), KEY)[1].evidence_id
    assert result.code == 2
    assert result.err == (f"error: no dry-run evidence {ev} for acme/triage; run `ailoop "
                          "dry-run acme/triage` first (approvals bind to evidence)\n")


def test_write_signers_and_push(capsys: pytest.CaptureFixture[str], signed_repo: GitRepo,
                                keys: dict[str, Path]) -> None:
    result = run_cli(capsys, "-C", str(signed_repo.work), "approve", "--write-signers")
    assert result.out == "wrote .ailoop/allowed_signers (2 signing keys from customer.yaml " \
                         "at HEAD)\n"
    signers = (signed_repo.work / ".ailoop/allowed_signers").read_text()
    assert signers.splitlines()[0] == "# acme/ann"
    signed_repo.commit_all("Allowed signers")
    assert approve(capsys, signed_repo, keys["ann"], "--push").code == 0
    # Anyone can verify by hand with plain git and the maintained file.
    check = subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.ailoop/allowed_signers",
                            "verify-commit", "HEAD"], cwd=signed_repo.work,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert 'Good "git" signature for ann@acme.example' in check.stderr
    assert signed_repo.git("rev-parse", "origin/main") == signed_repo.git("rev-parse", "HEAD")
