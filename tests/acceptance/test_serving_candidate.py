"""What is served is what was tested and approved: the stories of issue 17, on real git
repositories with a bare remote, through the real CLI."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_reconcile import FLAGS, STATUS, make_git_repo, ready, reconcile
from tests.support import GitRepo, commit_evidence, run_cli
from tests.unit.reconciler.builders import (
    KEY,
    T0,
    add_readings,
    approve_all,
    healthy_hourly,
    iso,
    write_evidence,
)

WORKFLOW = Path("customers/acme/triage/workflow.py")
SPEC = Path("customers/acme/triage/priority.yaml")
# Minutes from T0 at which each stage is entered (bake times 1h, 2h, 2h, 1h).
WALK = {"shadow": 1, "canary": 62, "early": 183, "full": 304}


def flag(repo: GitRepo) -> dict[str, Any]:
    flags: dict[str, Any] = json.loads((repo.work / FLAGS).read_text())["flags"]
    return flags.get("triage", {})


def served(repo: GitRepo) -> dict[str, float]:
    """Who gets the requests, by version, as the flag says: {version: percent}."""
    found = flag(repo)
    if not found:
        return {"existing process": 100.0}
    variants = found["variants"]
    shares = {"serving": 100.0}
    if "targeting" in found:
        (_, candidate), (_, serving) = found["targeting"]["fractional"]
        shares = {"candidate": candidate / 100, "serving": serving / 100}
    return {("existing process" if variants[v]["version"] == "off" else
             variants[v]["version"]): share for v, share in shares.items() if share}


def bump(repo: GitRepo, version: str) -> None:
    """A PR changes the workflow code and its version (no dry run yet)."""
    path = repo.work / WORKFLOW
    path.write_text(path.read_text() + f"# {version}\n")
    spec = repo.work / SPEC
    text = spec.read_text()
    old = text.split('version: "', 1)[1].split('"', 1)[0]
    spec.write_text(text.replace(f'version: "{old}"', f'version: "{version}"'))
    repo.commit_all(f"Workflow {version}")


def walk_to(capsys: pytest.CaptureFixture[str], repo: GitRepo, stage: str,
            start: int = 0) -> None:
    for name, minutes in WALK.items():
        out = reconcile(capsys, repo, start + minutes)
        assert f"to {name} (" in out, out
        if name == stage:
            return


def serving_v1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> GitRepo:
    """v1.0.0 walked every stage and completed: it is the serving version."""
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "full")
    assert "complete the rollout" in reconcile(capsys, repo, 365)
    assert served(repo) == {"1.0.0": 100.0}
    return repo


@pytest.mark.parametrize("stage", ["early", "full"])
def test_a_version_bump_keeps_every_request_on_the_serving_version(
        stage: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = serving_v1(capsys, tmp_path)
    bump(repo, "1.1.0")
    start = 400
    healthy_hourly(repo.work, KEY, T0 + timedelta(minutes=start), 12)
    assert "awaits approval" not in reconcile(capsys, repo, start)  # no dry run: nothing
    assert served(repo) == {"1.0.0": 100.0}
    ready(repo)  # evidence and approvals for v1.1.0
    walk_to(capsys, repo, stage, start)
    share = {"early": 25.0, "full": 100.0}[stage]
    assert served(repo) == {"1.1.0": share, "1.0.0": 100.0 - share} if share < 100 \
        else {"1.1.0": 100.0}
    # v1.2.0 arrives with no dry run at all: v1.1.0 is withdrawn, v1.2.0 gets nothing.
    bump(repo, "1.2.0")
    out = reconcile(capsys, repo, start + WALK[stage] + 1)
    assert "replace the candidate of acme/triage (its traffic returns to serving)" in out
    assert served(repo) == {"1.0.0": 100.0}
    # ...and still nothing with evidence but no approvals, hours later.
    write_evidence(repo.work)
    commit_evidence(repo.work)
    reconcile(capsys, repo, start + WALK[stage] + 200)
    assert served(repo) == {"1.0.0": 100.0}
    status = (repo.work / STATUS).read_text()
    assert "phase: awaiting-approval" in status
    # With its own approvals it starts again at the first stage (shadow: it runs beside
    # the serving version and is never acted on).
    approve_all(repo.work)
    repo.commit_all("Approve v1.2.0")
    reconcile(capsys, repo, start + WALK[stage] + 201)
    assert served(repo) == {"1.0.0": 100.0}
    assert flag(repo)["variants"]["serving"]["shadow"]["version"] == "1.2.0"


def test_a_version_bump_on_a_new_priority_falls_back_to_the_existing_process(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "early")
    assert served(repo) == {"1.0.0": 25.0, "existing process": 75.0}
    bump(repo, "1.1.0")
    reconcile(capsys, repo, 200)
    assert served(repo) == {"existing process": 100.0}


@pytest.mark.parametrize("edit, message", [
    (r"(?m)^    percent: 5(\.0)?$", "    percent: 150"),
    (r"(?m)^    stage: canary$", "    stage: full"),
])
def test_a_hand_edited_status_is_never_acted_on(edit: str, message: str,
                                               capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    before = (repo.work / FLAGS).read_text()
    status = repo.work / STATUS
    text, count = re.subn(edit, message, status.read_text(), count=1)
    assert count == 1
    status.write_text(text)
    repo.commit_all("Hand edit")
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now",
                     iso(T0 + timedelta(minutes=200)))
    assert result.code == 0, result.err
    assert "promote" not in result.out and (repo.work / FLAGS).read_text() == before
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=200)))
    assert "acme/triage: holds: " in plan.out and "status" in plan.out
    checked = run_cli(capsys, "-C", str(repo.work), "validate", "--no-cache")
    assert checked.code == 1 and "customers/acme/triage/status.yaml:" in checked.out


def test_a_skipped_stage_in_the_history_is_refused(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    status = repo.work / STATUS
    text = status.read_text().replace("    to: canary\n", "    to: early\n", 1)
    status.write_text(re.sub(r"(?m)^    percent: 5(\.0)?$", "    percent: 25",
                             text.replace("    stage: canary", "    stage: early")))
    repo.commit_all("Hand edit")
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=200)))
    assert ("acme/triage: holds: status.yaml: status.history[1].to: a promotion from shadow "
            "to early skips canary") in plan.out


def test_a_monitoring_rollback_opens_an_incident_and_the_fix_ends_in_issue_fixed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="early")
    ready(repo, hours=2)
    walk_to(capsys, repo, "canary")
    # Canary goes bad: 8 % errors for an hour.
    add_readings(repo.work, KEY, [T0 + timedelta(minutes=130 + 10 * i) for i in range(7)],
                 value=0.08)
    repo.commit_all("Bad readings")
    out = reconcile(capsys, repo, 190)
    assert "roll back acme/triage to shadow (0%)" in out
    events = sorted((repo.work / "customers/acme/triage/events").glob("ailoop-monitoring-*"))
    assert len(events) == 1 and events[0].name == \
        "ailoop-monitoring-error-rate-20261120-1210.yaml"
    incident = events[0].read_text()
    assert "kind: Incident" in incident and "error_rate" in incident
    assert "\n  resolved:" not in incident  # open until a person says otherwise
    assert repo.git("status", "--porcelain") == ""  # committed with the rollback
    text = (repo.work / STATUS).read_text()
    assert "state: blocked" in text and "incident: ailoop-monitoring-error-rate" in text
    assert reconcile(capsys, repo, 191) == "No changes\n"
    # The fix is a new version: it walks again, and its end closes the fix cycle.
    bump(repo, "1.0.1")
    healthy_hourly(repo.work, KEY, T0 + timedelta(minutes=200), 8)
    ready(repo, hours=0)
    for minutes in (200, 261, 382):
        reconcile(capsys, repo, minutes)
    text = (repo.work / STATUS).read_text()
    assert "state: issue-fixed" in text and "rollback:" not in text, text


def test_the_update_written_with_a_review_shows_the_readings_the_review_judged(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = serving_v1(capsys, tmp_path)
    when = T0 + timedelta(days=31)
    healthy_hourly(repo.work, KEY, when - timedelta(hours=2), 2, variant="serving")
    repo.commit_all("Production readings")
    review = run_cli(capsys, "-C", str(repo.work), "review", KEY, "--now", iso(when))
    assert review.code == 0, review.out
    judged = re.search(r"error rate: error_rate (\S+) <= 0\.02 over 1h \((\d+) samples\)",
                       review.out)
    assert judged is not None, review.out
    changed = repo.git("show", "--name-only", "--format=", "HEAD").split()
    update = next(repo.work / p for p in changed if "/updates/" in p and p.endswith(".md"))
    text = update.read_text()
    assert "Figures for version 1.0.0:" in text
    value = float(judged.group(1))
    assert f"error rate: {value:.3g} (target <= 0.02, {judged.group(2)} requests)." in text
    assert "no recent data" not in text


def test_the_update_and_the_dashboard_show_the_plans_readings_and_decision(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    moment = iso(T0 + timedelta(minutes=100))
    plan = json.loads(run_cli(capsys, "-C", str(repo.work), "plan", "--format", "json",
                              "--now", moment).out)
    decision = plan["priorities"][0]["actions"][0]["reason"]
    update = run_cli(capsys, "-C", str(repo.work), "update", KEY, "--stdout", "--now", moment)
    assert "Figures for version 1.0.0 (on trial at canary):" in update.out
    assert "error rate: 0.005 (target <= 0.02" in update.out
    site = run_cli(capsys, "-C", str(repo.work), "site", "--out", str(tmp_path / "site"),
                   "--now", moment)
    assert site.code == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert decision.split(":")[0] in index and "bake time ends" in index
