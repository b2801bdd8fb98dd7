"""The regression fix cycle end to end on a real git repository: an incident rolls the
candidate back, `ailoop dataset add` turns it into a regression case, and only a version
whose real dry run passes that case (confirmed by a customer reviewer) releases the hold
and ends the cycle as `issue-fixed`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import make_git_repo, reconcile, status_of
from tests.support import GitRepo, commit_evidence, run_cli
from tests.unit.reconciler.builders import (
    KEY,
    T0,
    approve_all,
    healthy_hourly,
    incident,
    iso,
)

CASE = "regression-inc-3"
WORKFLOW = Path("customers/acme/triage/workflow.py")
FIXED = ("def run(input):\n"
         "    return 'urgent' if 'down' in input['text'] else 'support'\n")


def dry_run(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", KEY)
    assert result.code in (0, 1), result.err
    return result.code, result.out


def evidence_id(out: str) -> str:
    return out.split("evidence ", 1)[1].split(" ", 1)[0]


def confirm(repo: GitRepo, ev: str) -> None:
    """Rita (customer-reviewer) confirms the case, bound to evidence EV (an approval file,
    the repository's approval source)."""
    folder = repo.work / "customers" / KEY / "approvals"
    (folder / f"confirm-{CASE}-{ev}.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Approval\nmetadata:\n  name: confirm-rita\n"
        f"spec:\n  stage: case:{CASE}\n  role: customer-reviewer\n  person: rita\n"
        f"  evidenceId: {ev}\n  time: {T0.isoformat()}\n")


def plan_text(capsys: pytest.CaptureFixture[str], repo: GitRepo, minutes: int) -> str:
    return run_cli(capsys, "-C", str(repo.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=minutes))).out


def add_case(capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path) -> None:
    """`ailoop dataset add` on a branch, merged as its pull request would be."""
    case_input = tmp_path / "input.json"
    case_input.write_text(json.dumps({"text": "the system is down"}))
    result = run_cli(capsys, "-C", str(repo.work), "dataset", "add", KEY, "--from-incident",
                     "inc-3", "--input", str(case_input), "--expected", '"urgent"')
    assert result.code == 0, result.err
    branch = repo.git("branch", "--show-current")
    repo.git("switch", "-q", "main")
    repo.git("merge", "-q", "--ff-only", branch)


def test_an_incident_is_fixed_only_by_a_version_that_passes_its_regression_case(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="early")
    code, out = dry_run(capsys, repo)
    assert code == 0
    approve_all(repo.work, KEY, evidence_id(out))
    healthy_hourly(repo.work, KEY, T0, 12)
    commit_evidence(repo.work)  # the trusted run's, on what is committed
    repo.commit_all("Evidence, approvals and readings")
    for minutes in (1, 62, 183):
        reconcile(capsys, repo, minutes)
    assert "stage: early" in status_of(repo)
    incident(repo.work, KEY, "inc-3", "high")
    repo.commit_all("Report incident inc-3")
    assert "roll back acme/triage to shadow" in reconcile(capsys, repo, 190)

    # The incident becomes a regression case; the workflow is not fixed yet.
    add_case(capsys, repo, tmp_path)
    code, out = dry_run(capsys, repo)
    assert code == 1 and f"regression cases: {CASE} FAILED\n" in out  # a critical case
    ev = evidence_id(out)
    approve_all(repo.work, KEY, ev)
    confirm(repo, ev)
    commit_evidence(repo.work)  # the trusted run's, on what is committed
    repo.commit_all("Dry run with the regression case")
    reconcile(capsys, repo, 200)
    text = status_of(repo)
    assert "state: blocked" in text and f"- {CASE}" in text  # required from now on
    assert "released: false" in text or "released: true" not in text
    assert (f"regression case {CASE} of incident inc-3 failed in the dry run of {ev}"
            in plan_text(capsys, repo, 201))

    # The fix: its real dry run runs the case and passes it.
    (repo.work / WORKFLOW).write_text(FIXED)
    code, out = dry_run(capsys, repo)
    assert code == 0 and f"regression cases: {CASE} passed\n" in out
    ev = evidence_id(out)
    approve_all(repo.work, KEY, ev)
    confirm(repo, ev)
    commit_evidence(repo.work)  # the trusted run's, on what is committed
    repo.commit_all("Fix inc-3")
    out = reconcile(capsys, repo, 401)
    assert "replace the candidate of acme/triage" in out
    text = status_of(repo)
    assert "confirmedCases:" in text and "by: rita" in text
    assert "stage: shadow" in text.split("history:")[0]
    reconcile(capsys, repo, 462)
    reconcile(capsys, repo, 583)
    text = status_of(repo)
    assert "stage: early" in text and "state: issue-fixed" in text, text
    assert f"regression case {CASE} passed)" in " ".join(text.split())  # YAML folds it
    assert "rollback:" not in text


def test_an_unconfirmed_regression_case_holds_the_candidate(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="early")
    incident(repo.work, KEY, "inc-3", "low", resolved=True)
    (repo.work / WORKFLOW).write_text(FIXED)
    repo.commit_all("Incident, fixed workflow")
    add_case(capsys, repo, tmp_path)
    code, out = dry_run(capsys, repo)
    assert code == 0
    approve_all(repo.work, KEY, evidence_id(out))  # every stage, but nobody confirmed the case
    commit_evidence(repo.work)  # the trusted run's, on what is committed
    repo.commit_all("Evidence and approvals")
    out = reconcile(capsys, repo, 1)
    assert f"regression case {CASE} awaits confirmation by a customer reviewer" in out
    assert "stage: shadow" not in status_of(repo)


def test_attack_whoever_wrote_the_case_cannot_confirm_it_after_merge(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconciler reads who wrote the case from git (every commit touching its line):
    rita, a customer-reviewer, changed it, so her confirmation is none."""
    repo = make_git_repo(tmp_path, target="early")
    incident(repo.work, KEY, "inc-3", "low", resolved=True)
    (repo.work / WORKFLOW).write_text(FIXED)
    repo.commit_all("Incident, fixed workflow")
    add_case(capsys, repo, tmp_path)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "rita@acme.example")
    dataset = repo.work / "customers/acme/triage/dataset.jsonl"
    dataset.write_text(dataset.read_text().replace("the system is down",
                                                   "the whole system is down"))
    repo.commit_all("Rita edits the case")
    _code, out = dry_run(capsys, repo)
    ev = evidence_id(out)
    approve_all(repo.work, KEY, ev)
    confirm(repo, ev)  # rita
    commit_evidence(repo.work)  # the trusted run's, on what is committed
    repo.commit_all("Evidence, approvals and rita's confirmation")
    out = reconcile(capsys, repo, 1)
    assert f"regression case {CASE} awaits confirmation by a customer reviewer" in out
    assert "confirmedCases: []" in status_of(repo) or "confirmedCases" not in status_of(repo)
