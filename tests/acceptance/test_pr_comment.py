"""`ailoop comment` against a GitHub REST stand-in on 127.0.0.1: one comment per PR,
found by its hidden marker and edited in place; the same text in the step summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.publish.prcomment import MARKER
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, comment, pull, serve
from tests.support import GitRepo, run_cli

PR = 7
NOW = "2026-11-24T10:00:00Z"
PRIORITY = "customers/northwind-insurance/claims-intake/priority.yaml"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGitHub]:
    with serve(FakeGitHub()) as running:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", running.url)
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
        yield running


def _open_pr(repo: GitRepo, fake: FakeGitHub) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    path = repo.work / PRIORITY
    path.write_text(path.read_text().replace("bakeTime: 48h", "bakeTim: 48h", 1))
    head = repo.commit_all("Change the canary bake time")
    fake.pulls[PR] = pull(PR, "smarquez", head, base)
    fake.files[PR] = []
    # Somebody else's comment that quotes the marker must never be edited.
    fake.comments[PR] = [comment(1, "mallory", f"look: {MARKER}"),
                         comment(2, "lbrandt", "LGTM")]


def test_comment_is_created_then_updated_in_place(repo: GitRepo, fake: FakeGitHub,
                                                   capsys: object, tmp_path: Path) -> None:
    _open_pr(repo, fake)
    args = ("-C", str(repo.work), "comment", "--pr", str(PR), "--base", "origin/main",
            "--now", NOW)
    first = run_cli(capsys, *args)
    assert first.code == 0, first.err
    assert first.out == f"PR #{PR}: comment created\n"
    ours = [c for c in fake.comments[PR] if MARKER in c["body"] and c["user"]["type"] == "Bot"]
    assert len(ours) == 1
    body = ours[0]["body"]
    for heading in ("### Validation", "### Plan", "### Dry runs", "### Approvals"):
        assert heading in body
    assert "unknown field 'bakeTim'; did you mean 'bakeTime'?" in body
    assert "`northwind-insurance/claims-intake`" in body
    assert fake.comments[PR][0]["body"] == f"look: {MARKER}"  # not ours: untouched

    again = run_cli(capsys, *args)
    assert again.out == f"PR #{PR}: comment unchanged\n"
    later = run_cli(capsys, *args[:-1], "2026-11-24T11:00:00Z")
    assert later.out == f"PR #{PR}: comment updated\n"
    assert len([c for c in fake.comments[PR] if MARKER in c["body"]]) == 2  # ours + mallory's
    assert any(r.startswith("PATCH /repos/") for r in fake.requests)
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count(MARKER) == 3


def test_comment_fails_closed_when_github_fails(repo: GitRepo, fake: FakeGitHub,
                                                capsys: object) -> None:
    _open_pr(repo, fake)
    fake.comments[PR] = [comment(i, "someone", "hi") for i in range(150)]
    fake.fail[("comments", 2)] = 502
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--pr", str(PR), "--base",
                     "origin/main", "--now", NOW)
    assert result.code == 3
    assert "answered HTTP 502" in result.err
    assert not any(r.startswith(("POST /repos/acme-corp/ailoop-gitops/issues", "PATCH"))
                   for r in fake.requests)


def test_print_needs_no_github(repo: GitRepo, capsys: object, monkeypatch: pytest.MonkeyPatch
                               ) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base",
                     "origin/main", "--now", NOW)
    assert result.code == 0
    assert result.out.startswith(MARKER)
    assert "All 0 changed files are valid." in result.out


def test_the_comment_summarises_the_candidate_s_shadow_runs_when_traces_are_here(
        repo: GitRepo, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.acceptance.test_update_site import STATUS

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    project = repo.work / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        "    maxStaleness: 15m\n", "    maxStaleness: 15m\n    traces: production/traces.jsonl\n"))
    folder = repo.work / "customers/northwind-insurance/claims-intake"
    (folder / "status.yaml").write_text(STATUS.replace("EVID", "ev-0000000000000000"))
    repo.commit_all("A candidate at canary, traces kept in production/")
    (repo.work / "production").mkdir()
    (repo.work / "production/traces.jsonl").write_text("\n".join(json.dumps({
        "trace": f"{n:032x}", "priority": "northwind-insurance/claims-intake", "time": 1.8e9,
        "serving": {"version": "1.0.0", "output": "motor"},
        "shadow": {"version": "1.1.0", "output": "water" if n else "motor"},
        "agreement": "disagree" if n == 1 else "agree"}) for n in range(5)) + "\n")
    repo.git("checkout", "-q", "-b", "feature")
    path = repo.work / PRIORITY
    path.write_text(path.read_text().replace("goal: ", "goal: Now, ", 1))
    repo.commit_all("A better goal")
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base", "main",
                     "--now", NOW)
    assert result.code == 0, result.err
    assert ("### Shadow runs\n\n- **northwind-insurance/claims-intake**: In shadow, version "
            "1.1.0 answered 5 requests beside the current version and gave the same answer "
            "4 times (80%).\n  - Different answer (trace 000000000000): the current version "
            "said motor, the new one water.") in result.out
