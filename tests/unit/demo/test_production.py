"""The demo's production: ailoop-runtime serving replayed e-mails on the flags in a clone,
with the versions the flag names installed from the clone's git history."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ailoop_runtime import workflow_digest

from pipeline.demo.production import Arrival, Production
from pipeline.demo.story import example_root
from pipeline.model.status import StatusBody
from pipeline.reconcile import flags

KEY = "northwind-insurance/claims-intake"
NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)
LEAK = {"subject": "Fuite", "body": "une fuite d'eau, l'eau coule toujours"}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A repository with v1.0.0 of claims-intake, then v1.1.0 (the German keywords)."""
    repo = tmp_path / "ci"
    folder = repo / "customers" / KEY
    shutil.copytree(example_root() / "customers" / KEY, folder,
                    ignore=shutil.ignore_patterns("fixes", "events"))
    (repo / "monitoring").mkdir()
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1.0.0")
    shutil.copy2(example_root() / "customers" / KEY / "fixes" / "workflow_v2.py",
                 folder / "workflow.py")
    git(repo, "commit", "-q", "-am", "v1.1.0")
    return repo


def flag(clone: Path, stage: str, percent: float, candidate_digest: str) -> None:
    since = NOW - timedelta(days=3)
    body = StatusBody.model_validate({"candidate": {
        "version": "1.1.0", "evidenceId": "ev-bbbbbbbbbbbbbbbb", "since": since,
        "stage": stage, "percent": percent, "workflowDigest": candidate_digest}})
    path = clone / "customers" / "northwind-insurance" / "flags.flagd.json"
    path.write_text(flags.render(flags.customer_flags([("claims-intake", body)])))


def test_the_flags_candidate_serves_its_share_and_the_gates_get_its_readings(
        clone: Path, tmp_path: Path) -> None:
    flag(clone, "early", 25, workflow_digest(str(clone / "customers" / KEY)))
    service = Production(tmp_path / "production", clone, KEY)
    window = service.replay(NOW)
    assert window is not None and window.hours == 24
    served = sum(window.requests.values())
    assert served == 300 and 0.15 < window.requests["candidate v1.1.0"] / served < 0.35
    queued = window.decisions["escalate-urgent-claim queued"]
    assert queued and queued == (window.decisions["escalate-urgent-claim confirmed"]
                                 + window.decisions["escalate-urgent-claim rejected"])
    lines = [json.loads(x) for x in (clone / "monitoring" / "readings.jsonl").read_text()
             .splitlines()]
    assert {(x["variant"], x["stage"]) for x in lines} == {("candidate", "early")}
    assert len({x["time"] for x in lines}) == 24  # one export an hour
    assert sum(x["samples"] for x in lines if x["metric"] == "error_rate") == \
        window.requests["candidate v1.1.0"]
    again = service.replay(NOW)  # nothing new since: nothing served, nothing exported
    assert again is not None and not again.hours and not again.requests


def test_a_version_whose_code_no_commit_has_is_refused(
        clone: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flag(clone, "canary", 5, "c" * 64)
    service = Production(tmp_path / "production", clone, KEY)
    with caplog.at_level(logging.ERROR, "ailoop_runtime"):
        window = service.replay(NOW)
    assert window is not None and window.requests["candidate v1.1.0"] == 0
    assert f"REFUSED {KEY} candidate version 1.1.0" in caplog.text


def test_an_arrival_is_served_and_traced_like_any_request(clone: Path, tmp_path: Path) -> None:
    flag(clone, "full", 100, workflow_digest(str(clone / "customers" / KEY)))
    service = Production(tmp_path / "production", clone, KEY)
    service.arrivals.append(Arrival(NOW - timedelta(hours=1), LEAK,
                                    {"claim_type": "property", "urgency": "urgent"}, "leak"))
    window = service.replay(NOW)
    assert window is not None
    answer = window.answers["leak"]
    assert (answer.variant, answer.version) == ("candidate", "1.1.0")
    assert answer.output["urgency"] == "normal"  # v1.1.0 knows no French
    traces = [json.loads(x) for x in service.traces.read_text().splitlines()]
    (traced,) = [t for t in traces if t["trace"] == answer.trace]
    assert traced["input"] == LEAK and traced["serving"]["output"] == answer.output
