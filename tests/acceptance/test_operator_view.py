"""The operator's view, complete: nothing an operator needs is cut off or left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import make_git_repo, ready, reconcile
from tests.support import run_cli


def test_status_wide_and_json_show_the_whole_next_action(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    reconcile(capsys, repo, 1)
    moment = "2026-11-20T09:30:00Z"
    table = run_cli(capsys, "-C", str(repo.work), "status", "--now", moment).out
    wide = run_cli(capsys, "-C", str(repo.work), "status", "--format", "wide", "--now",
                   moment).out
    data = json.loads(run_cli(capsys, "-C", str(repo.work), "status", "--format", "json",
                              "--now", moment).out)
    [row] = data["priorities"]
    cell = f"{row['next']['action']}: {row['next']['reason']}"
    assert len(cell) > 60 and cell not in table and "…" in table  # the table cuts it short
    assert cell in wide and "…" not in wide
    assert row["priority"] == "acme/triage" and row["reviewDue"] is None  # not at target yet


def test_status_json_gives_the_review_due_date(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path, target="shadow")
    ready(repo)
    reconcile(capsys, repo, 1)
    data = json.loads(run_cli(capsys, "-C", str(repo.work), "status", "--format", "json",
                              "--now", "2026-11-20T09:30:00Z").out)
    assert data["priorities"][0]["reviewDue"] == "2026-12-20T09:01:00Z"
