"""`ailoop reconcile`, `plan` and `status` on real git repositories with a bare remote."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import GitRepo, commit_evidence, git, run_cli
from tests.unit.reconciler.builders import (
    KEY,
    T0,
    approve_all,
    healthy_hourly,
    incident,
    iso,
    make_tree,
    set_target,
    write_evidence,
)

STATUS = Path("customers/acme/triage/status.yaml")
FLAGS = Path("customers/acme/flags.flagd.json")


def make_git_repo(tmp: Path, target: str = "full") -> GitRepo:
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    work = make_tree(tmp / "work", target=target)
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("Add acme/triage")
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def ready(repo: GitRepo, hours: int = 12) -> str:
    """Evidence, every approval and healthy readings, committed by a human."""
    ev = write_evidence(repo.work)
    commit_evidence(repo.work)
    approve_all(repo.work, KEY, ev)
    healthy_hourly(repo.work, KEY, T0, hours)
    repo.commit_all("Evidence, approvals and readings")
    return ev


def reconcile(capsys: pytest.CaptureFixture[str], repo: GitRepo, minutes: int,
              *extra: str) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now",
                     iso(T0 + timedelta(minutes=minutes)), *extra)
    assert result.code == 0, result.err
    return result.out


def status_of(repo: GitRepo) -> str:
    return (repo.work / STATUS).read_text()


def trailers(repo: GitRepo) -> str:
    return repo.git("log", "-1", "--format=%(trailers)")


def test_full_stage_walk_with_bake_times(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    assert reconcile(capsys, repo, 0) == "No changes\n"  # pending: no evidence yet
    ev = ready(repo)
    out = reconcile(capsys, repo, 1, "--push")
    assert out.startswith("promote acme/triage to shadow (0%): promotes v1.0.0 to shadow 0%: "
                          f"every gate holds (evidence {ev}; rita (customer-reviewer))\n")
    assert repo.git("log", "-1", "--format=%s") == \
        "ailoop: promote acme/triage to shadow (0%)"
    assert trailers(repo) == (f"Ailoop-Priority: acme/triage\nAiloop-Action: promote\n"
                              f"Ailoop-Evidence: {ev}\nAiloop-Stage: shadow\n"
                              "Ailoop-Serving: none")
    assert repo.git("rev-parse", "HEAD") == git(repo.remote, "rev-parse", "main")
    assert reconcile(capsys, repo, 1) == "No changes\n"
    assert reconcile(capsys, repo, 30) == "No changes\n"
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now", iso(T0 + timedelta(minutes=30)))
    assert ("acme/triage: holds at shadow 0%: bake time ends 2026-11-20 10:01 UTC  "
            "[bake-time]") in plan.out
    walk = [(62, "canary", 5), (183, "early", 25), (304, "full", 100)]
    for minutes, stage, percent in walk:
        out = reconcile(capsys, repo, minutes, "--push")
        assert out.startswith(f"promote acme/triage to {stage} ({percent}%)"), out
        flags = json.loads((repo.work / FLAGS).read_text())
        weights = flags["flags"]["triage"]["targeting"]["fractional"]
        assert weights == [["candidate", percent * 100], ["serving", 10000 - percent * 100]]
        assert flags["flags"]["triage"]["variants"]["serving"] == {"version": "off"}
        assert reconcile(capsys, repo, minutes) == "No changes\n"
    # At 100 % it is still the candidate: it becomes the serving version once it has baked
    # there with every gate passing.
    assert "phase: progressing" in status_of(repo)
    out = reconcile(capsys, repo, 365, "--push")
    assert out.startswith("complete the rollout of acme/triage (the candidate is now "
                          "serving): v1.0.0 baked at full 100% with every gate passing"), out
    text = status_of(repo)
    assert "phase: complete" in text and "state: stage-reached" in text
    assert "candidate:" not in text and "serving:" in text
    served = json.loads((repo.work / FLAGS).read_text())["flags"]["triage"]
    assert "targeting" not in served and served["variants"]["serving"]["evidenceId"] == ev
    assert reconcile(capsys, repo, 366) == "No changes\n"
    subjects = repo.git("log", "--format=%s").splitlines()
    assert [s for s in subjects if s.startswith("ailoop:")] == [
        "ailoop: complete the rollout of acme/triage (the candidate is now serving)",
        "ailoop: promote acme/triage to full (100%)",
        "ailoop: promote acme/triage to early (25%)",
        "ailoop: promote acme/triage to canary (5%)",
        "ailoop: promote acme/triage to shadow (0%)",
        "ailoop: evidence of a trusted dry run"]


def test_no_promotion_without_approval_and_status_table(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="canary")
    write_evidence(repo.work)
    commit_evidence(repo.work)
    out = reconcile(capsys, repo, 1)
    assert "acme/triage awaits approval for shadow: holds: approval from customer-reviewer " \
           "missing for stage shadow" in out
    assert "phase: awaiting-approval" in status_of(repo)
    table = run_cli(capsys, "-C", str(repo.work), "status", "acme", "--now",
                    iso(T0 + timedelta(minutes=2)))
    assert table.code == 0
    header, row = table.out.splitlines()
    assert header.split() == ["PRIORITY", "PHASE", "SERVING", "CANDIDATE", "HEALTH", "NEXT",
                              "ACTION", "TERMINAL", "NEXT", "CHECK"]
    assert row.startswith("acme/triage") and "awaiting-approval" in row


def test_incident_rolls_back_and_the_rollback_survives(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="early")
    ready(repo)
    for minutes in (1, 62, 183):
        reconcile(capsys, repo, minutes)
    assert "stage: early" in status_of(repo)
    incident(repo.work, KEY, "inc-3", "high")
    repo.commit_all("Report incident inc-3")
    out = reconcile(capsys, repo, 190)
    assert "roll back acme/triage to shadow (0%): rolls back to shadow 0%: incident inc-3 " \
           "severity high; to release: mark incident inc-3 resolved, or ship a fix" in out
    assert trailers(repo).splitlines()[1] == "Ailoop-Action: rollback"
    assert "phase: rolled-back" in status_of(repo)
    # Hours later every gate would pass again; the rollback still holds.
    assert reconcile(capsys, repo, 400) == "No changes\n"
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now", iso(T0 + timedelta(hours=7)))
    assert ("acme/triage: holds at v1.0.0 at shadow 0%: rolled back after incident inc-3; to "
            "release: mark incident inc-3 resolved, or ship a fix (a new version)  "
            "[incident]") in plan.out
    assert "state: blocked" in status_of(repo)  # not "stage-reached early" any more
    # The fix: a new workflow version, new evidence and approvals. A new fingerprint is a
    # new candidate: it replaces the rolled-back one and starts again at the first stage.
    wf = repo.work / "customers/acme/triage/workflow.py"
    wf.write_text("def run(input):\n    return 'support'  # fixed\n")
    ev = write_evidence(repo.work)
    commit_evidence(repo.work)
    approve_all(repo.work, KEY, ev)
    repo.commit_all("Fix inc-3")
    out = reconcile(capsys, repo, 401)
    assert "replace the candidate of acme/triage" in out
    assert "stage: shadow" in status_of(repo).split("history:")[0]  # and it enters shadow
    assert "promote acme/triage to canary (5%)" in reconcile(capsys, repo, 462)
    assert "state: blocked" not in status_of(repo)
    reconcile(capsys, repo, 583)
    text = status_of(repo)
    assert "stage: early" in text and "state: issue-fixed" in text, text
    assert "rollback:" not in text  # the fix cycle is closed


def test_lowering_the_target_rolls_back_without_approval(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="canary")
    ready(repo)
    reconcile(capsys, repo, 1)
    reconcile(capsys, repo, 62)
    set_target(repo.work, KEY, "shadow")
    repo.commit_all("Back to shadow")
    out = reconcile(capsys, repo, 63)
    assert "roll back acme/triage to shadow (0%): rolls back to shadow 0%: rollout.target " \
           "lowered to shadow" in out
    assert reconcile(capsys, repo, 64) == "No changes\n"


def test_failed_dry_run_blocks_with_owner(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    write_evidence(repo.work, passed=False)
    commit_evidence(repo.work)
    out = reconcile(capsys, repo, 1)
    assert "mark acme/triage blocked: blocked (owner olga): dry run" in out
    text = status_of(repo)
    assert "state: blocked" in text and "owner: olga" in text
    assert reconcile(capsys, repo, 2) == "No changes\n"


def test_a_new_version_replaces_the_candidate_and_gets_no_traffic(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    reconcile(capsys, repo, 1)
    reconcile(capsys, repo, 62)  # at canary: 5 % of the traffic
    (repo.work / "customers/acme/triage/workflow.py").write_text("def run(input):\n"
                                                                 "    return 'sales'\n")
    repo.commit_all("Change the workflow")
    out = reconcile(capsys, repo, 183)
    assert "replace the candidate of acme/triage (its traffic returns to serving)" in out
    assert "its traffic returns to the existing process; the new candidate starts at the " \
           "first stage" in out
    text = status_of(repo)
    assert "phase: dry-run" in text and "stage: canary" not in text.split("history:")[0]
    flag = json.loads((repo.work / FLAGS).read_text())["flags"]
    assert flag == {}  # nothing exposed: production runs its existing process


def test_review_due_feedback_and_healthy_review(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="shadow")
    ready(repo)
    reconcile(capsys, repo, 1)
    assert "nextReview: '2026-12-20T09:01:00Z'" in status_of(repo)
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now", "2026-12-21T00:00:00Z")
    assert ("acme/triage: scheduled review due since 2026-12-20 09:01 UTC: run "
            "`ailoop review acme/triage`  [review]") in plan.out
    when = T0 + timedelta(days=31)
    healthy_hourly(repo.work, KEY, when - timedelta(hours=2), 2)
    repo.commit_all("Fresh readings")
    review = run_cli(capsys, "-C", str(repo.work), "review", KEY, "--now",
                     when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert review.code == 0, review.out + review.err
    assert repo.git("log", "-1", "--format=%s") == "ailoop: review acme/triage: healthy-review"
    assert "state: healthy-review" in status_of(repo)
    assert reconcile(capsys, repo, 31 * 24 * 60) == "No changes\n"
