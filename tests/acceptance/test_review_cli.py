"""`ailoop review` against real git repositories (with a bare origin) made in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.yamlio import dump_yaml, parse_yaml
from pipeline.model.status import StatusBody
from pipeline.reconcile.apply import status_text
from tests.support import GitRepo, git, minimal_repo, run_cli

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = "acme/triage"
FOLDER = Path("customers/acme/triage")


def project_monitoring(provider: str) -> dict[str, Any]:
    return {"provider": provider, "file": {"path": "monitoring/readings.jsonl"},
            "prometheus": {"url": "http://127.0.0.1:9", "timeoutSeconds": 2},
            "maxStaleness": "15m"}


def priority_extra(drift: bool) -> dict[str, Any]:
    return {
        "roi": {"currency": "EUR",
                "baseline": {"minutesPerCase": 6, "casesPerMonth": 9000, "costPerHour": 48},
                "expected": {"automationRate": 0.8, "valuePerMonth": 34560,
                             "costPerMonth": 1900}},
        "monitoring": {"reaction": "rollback", "gates": [
            {"name": "error rate", "metric": "error_rate", "comparison": "<=",
             "threshold": 0.02, "window": "1h", "minSamples": 200}]},
        "review": {"cadence": "30d", "driftCheck": drift},
    }


def edit_spec(path: Path, changes: dict[str, Any]) -> None:
    """Set top-level fields of a document's `spec` (parsed and written back as YAML)."""
    data = parse_yaml(path.read_bytes(), str(path)).data
    data.setdefault("spec", {}).update(changes)
    path.write_text(dump_yaml(data))


def readings(error_rate: float, *, success: float = 0.8) -> str:
    lines = []
    for minute in range(0, 60, 10):
        when = (NOW - timedelta(minutes=minute)).isoformat()
        lines.append({"priority": KEY, "metric": "error_rate", "time": when,
                      "value": error_rate, "samples": 100})
    for day in range(30):  # 300 runs a day = 9,000 a month
        when = (NOW - timedelta(days=day, minutes=5)).isoformat()
        lines.append({"priority": KEY, "metric": "success_rate", "time": when,
                      "value": success, "samples": 300})
        lines.append({"priority": KEY, "metric": "cost_per_run", "time": when,
                      "value": 0.2, "samples": 300})
    return "".join(json.dumps(line) + "\n" for line in lines)


def status(**over: object) -> StatusBody:
    base = {"phase": "complete", "stage": "canary", "percent": 25,
            "lastReview": "2026-10-21T12:00:00Z", "nextReview": "2026-11-20T12:00:00Z"}
    return StatusBody.model_validate({**base, **over})


def setup(tmp_path: Path, *, provider: str = "file", drift: bool = False,
          error_rate: float = 0.01, success: float = 0.8,
          body: StatusBody | None = None) -> GitRepo:
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    minimal_repo(work)
    edit_spec(work / "ailoop.yaml", {"monitoring": project_monitoring(provider)})
    edit_spec(work / FOLDER / "priority.yaml", priority_extra(drift))
    (work / "monitoring").mkdir()
    (work / "monitoring" / "readings.jsonl").write_text(readings(error_rate, success=success))
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("Initial")
    (work / FOLDER / "status.yaml").write_text(status_text(KEY, body or status()))
    repo.bot_commit("ailoop: the status the reconciler wrote")
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def event(repo: GitRepo, name: str, kind: str, spec: str) -> None:
    folder = repo.work / FOLDER / "events"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        f"apiVersion: ailoop.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}")
    repo.commit_all(f"event {name}")


def review(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> object:
    return run_cli(capsys, "-C", str(repo.work), "review", *args, "--now", NOW.isoformat())


def status_yaml(repo: GitRepo) -> str:
    return (repo.work / FOLDER / "status.yaml").read_text()


def test_healthy_review_records_the_next_check(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path)
    result = run_cli(capsys, "-C", str(repo.work), "review", KEY, "--now", NOW.isoformat(),
                     "--push")
    assert result.code == 0, result.err
    assert "  pass         error rate: error_rate 0.01 <= 0.02 over 1h (600 samples)\n" \
        in result.out
    assert "Cost: 9,000 runs in 30d, EUR 0.2 per run, success rate 80.0%\n" in result.out
    assert ("ROI: on-track (net EUR 32,760/month against EUR 32,660 expected (within the ±10% "
            "band))") in result.out
    assert "  net per month               EUR 32,760      EUR 32,660\n" in result.out
    assert "Drift: not-configured" in result.out
    assert result.out.endswith("Result: healthy-review; next check 2026-12-20 12:00 UTC\n")
    text = status_yaml(repo)
    assert "  terminal:\n    state: healthy-review\n" in text
    assert "    nextCheck: '2026-12-20T12:00:00Z'\n" in text or \
        "    nextCheck: 2026-12-20T12:00:00Z\n" in text
    assert repo.git("log", "-1", "--format=%s") == "ailoop: review acme/triage: healthy-review"
    trailers = repo.git("log", "-1", "--format=%(trailers:only,unfold)")
    assert "Ailoop-Priority: acme/triage\nAiloop-Action: review\n" in trailers
    assert "Ailoop-Stage: " in trailers
    changed = repo.git("show", "--name-only", "--format=", "HEAD").splitlines()
    assert any(p.startswith("customers/acme/updates/triage-") for p in changed), changed
    assert git(repo.remote, "rev-parse", "main") == repo.git("rev-parse", "HEAD")
    assert repo.git("status", "--porcelain") == ""


def test_issues_end_blocked_with_the_owner(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path, error_rate=0.05, success=0.5)
    event(repo, "inc-1", "Incident", "  severity: high\n  reportedBy: ann\n"
          "  time: 2026-11-10T09:00:00Z\n  summary: wrong queue for refunds\n")
    event(repo, "fb-1", "Feedback", "  author: raj\n  time: 2026-11-11T09:00:00Z\n"
          "  sentiment: negative\n  text: too many misroutes\n  caseIds: [t2]\n")
    event(repo, "fb-old", "Feedback", "  author: raj\n  time: 2026-10-01T09:00:00Z\n"
          "  sentiment: negative\n  text: already reviewed\n")
    text = review(capsys, repo, KEY, "--no-record").out  # type: ignore[attr-defined]
    assert "too many misroutes (cases t2)" in text
    result = review(capsys, repo, KEY, "--format", "json")
    assert result.code == 1  # type: ignore[attr-defined]
    data = json.loads(result.out)  # type: ignore[attr-defined]
    assert data["issues"] == [
        "gate 'error rate' fails: error_rate 0.05 > 0.02 over 1h (600 samples)",
        "incident inc-1 (high) is still open: wrong queue for refunds",
        "negative feedback fb-1 from raj on cases t2",
        "ROI is behind the hypothesis: net EUR 19,800/month against EUR 32,660 expected "
        "(below the ±10% band)"]
    assert data["feedback"] == ["fb-1"] and data["incidents"] == ["inc-1"]
    assert data["terminal"]["state"] == "blocked" and data["terminal"]["owner"] == "ann"
    assert "blocked" in status_yaml(repo) and "owner: ann" in status_yaml(repo)
    assert repo.git("log", "-1", "--format=%s") == "ailoop: review acme/triage: blocked"


def test_no_record_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path)
    before, head = status_yaml(repo), repo.git("rev-parse", "HEAD")
    result = review(capsys, repo, KEY, "--no-record", "--format", "md")
    assert result.code == 0  # type: ignore[attr-defined]
    assert "| error rate | pass | error_rate 0.01 <= 0.02 over 1h (600 samples) |" \
        in result.out  # type: ignore[attr-defined]
    assert (status_yaml(repo), repo.git("rev-parse", "HEAD")) == (before, head)


def test_a_hand_edited_status_is_reviewed_as_the_bot_wrote_it_and_never_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path)
    path = repo.work / FOLDER / "status.yaml"
    path.write_text(path.read_text().replace("percent: 25", "percent: 100"))
    sha = repo.commit_all("Hand edit")
    before, head = status_yaml(repo), repo.git("rev-parse", "HEAD")
    result = review(capsys, repo, KEY, "--push")
    assert result.code == 1  # type: ignore[attr-defined]
    assert (f"  - status.yaml is written by the reconciler only: last changed by commit "
            f"{sha[:7]} (Test Engineer <[redacted:email]>), not a signed ailoop bot "
            f"commit; to release the hold, revert the edit: git revert {sha[:7]}\n"
            ) in result.out  # type: ignore[attr-defined]
    assert "at canary (25% of traffic)" in result.out  # type: ignore[attr-defined]  # not the edit's
    assert (status_yaml(repo), repo.git("rev-parse", "HEAD")) == (before, head)


def test_unreachable_prometheus_exits_3_and_records_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path, provider="prometheus")
    before, head = status_yaml(repo), repo.git("rev-parse", "HEAD")
    result = review(capsys, repo, KEY)
    assert result.code == 3  # type: ignore[attr-defined]
    assert result.err == ("error: Prometheus at http://127.0.0.1:9 is unreachable: "  # type: ignore[attr-defined]
                          "ConnectError\n")
    assert (status_yaml(repo), repo.git("rev-parse", "HEAD")) == (before, head)


def test_stale_readings_are_an_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path)
    later = (NOW + timedelta(hours=2)).isoformat()
    result = run_cli(capsys, "-C", str(repo.work), "review", KEY, "--now", later, "--no-record")
    assert result.code == 1
    assert "gate 'error rate' cannot be judged: no error_rate readings in the last 1h" \
        in result.out


def test_due_reviews(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path, body=status(nextReview="2026-12-01T00:00:00Z"))
    result = review(capsys, repo, "--due")
    assert (result.code, result.out, result.err) == (0, "", "No reviews are due.\n")  # type: ignore[attr-defined]
    event(repo, "rr-1", "ReviewRequest", "  requestedBy: raj\n  time: 2026-11-19T09:00:00Z\n"
          "  reason: quarterly check\n")
    result = review(capsys, repo, "--due")
    assert result.code == 0 and "Review of acme/triage" in result.out  # type: ignore[attr-defined]
    assert "- ReviewRequest/rr-1\n" in status_yaml(repo)
    assert review(capsys, repo, "--due").err == "No reviews are due.\n"  # type: ignore[attr-defined]


def test_drift_reruns_the_dataset_without_touching_the_repo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path, drift=True)
    result = review(capsys, repo, KEY, "--no-record")
    # The bundled case's workflow answers plain text where JSON is expected: it drifted.
    assert "\nDrift: failed: the dataset no longer passes on the production version: pass " \
        "rate 0.0%\n" in result.out  # type: ignore[attr-defined]
    assert result.code == 1  # type: ignore[attr-defined]
    assert repo.git("status", "--porcelain") == ""


def test_drift_that_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = setup(tmp_path, drift=True)
    edit_spec(repo.work / FOLDER / "priority.yaml",
              {"expectedOutput": {"description": "the queue name", "format": "text"}})
    (repo.work / FOLDER / "workflow.py").write_text(
        "def run(input):\n    return 'billing' if 'refund' in input['text'] else 'it'\n")
    repo.commit_all("fix the workflow")
    result = review(capsys, repo, KEY)
    assert "\nDrift: passed: the dataset still passes: pass rate 100.0%\n" \
        in result.out  # type: ignore[attr-defined]
    assert result.code == 0  # type: ignore[attr-defined]
    assert repo.git("status", "--porcelain") == ""


@pytest.mark.parametrize("args", [(), ("acme/triage", "--due"), ("../etc",)])
def test_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   args: tuple[str, ...]) -> None:
    repo = setup(tmp_path)
    result = review(capsys, repo, *args)
    assert result.code == 2  # type: ignore[attr-defined]


def test_roi_behind_over_part_of_the_window_is_shown_as_partial_and_never_blocks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The version went out 3 days before a 30-day review: its ROI is scaled and marked
    partial, and being behind on so little is not an issue on its own."""
    repo = setup(tmp_path, success=0.5, body=status(since="2026-11-17T12:00:00Z"))
    result = review(capsys, repo, KEY, "--format", "json")
    data = json.loads(result.out)  # type: ignore[attr-defined]
    assert result.code == 0, data  # type: ignore[attr-defined]
    assert data["issues"] == [] and data["terminal"]["state"] == "healthy-review"
    roi = data["roi"]
    assert roi["verdict"] == "behind", roi
    assert roi["reason"].endswith("; partial: production covered 3.0 days of the 30 days "
                                  "window, scaled to a month")
    # only the runs of those 3 days count (the file holds 30 days of readings)
    assert roi["observed"]["runsPerMonth"] == 9000.0
