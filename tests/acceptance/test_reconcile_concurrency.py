"""Reconcilers racing on one remote, and reconcilers killed half-way, in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import make_git_repo, ready
from tests.support import CliResult, ailoop_subprocess, git
from tests.unit.reconciler.builders import T0, iso

pytestmark = pytest.mark.slow

ROUNDS = [(1, "shadow"), (62, "canary"), (183, "early"), (304, "full")]


def bot_subjects(remote: Path) -> list[str]:
    log = git(remote, "log", "--format=%s", "main").splitlines()
    return [s for s in reversed(log)
            if s.startswith("ailoop:") and not s.startswith("ailoop: evidence")]


def run_runner(work: Path, number: int, when: str) -> CliResult:
    # Each runner its own commit time, as on real CI: otherwise identical content, parent,
    # bot identity and pinned dates give identical commits (SSH signatures are
    # deterministic) and no push would ever be rejected.
    env = {**os.environ, "GIT_COMMITTER_DATE": f"2026-11-20T09:00:{number:02d}+00:00"}
    return ailoop_subprocess("-C", str(work), "reconcile", "--push", "--now", when, env=env)


def test_eight_concurrent_reconcilers_advance_each_stage_once(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    repo.git("push", "-q", "origin", "main")
    clones = [repo.clone(tmp_path / f"runner{i}") for i in range(8)]
    for number, (minutes, _stage) in enumerate(ROUNDS):
        when = iso(T0 + timedelta(minutes=minutes))
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(run_runner, [c.work for c in clones], range(8),
                                    [when] * 8))
        assert [r.code for r in results] == [0] * 8, [r.err for r in results]
        outs = [r.out for r in results]
        assert sum("Pushed to origin" in out for out in outs) == 1, outs
        assert sum(out == "No changes\n" for out in outs) == 7, outs
        # A human pushes between rounds from their own clone: it must never be lost.
        human = repo.clone(tmp_path / f"human{number}")
        (human.work / f"NOTES-{number}.md").write_text("note\n")
        human.commit_all(f"Human note {number}")
        human.git("push", "-q", "origin", "main")
    assert bot_subjects(repo.remote) == [
        "ailoop: promote acme/triage to shadow (0%)",
        "ailoop: promote acme/triage to canary (5%)",
        "ailoop: promote acme/triage to early (25%)",
        "ailoop: promote acme/triage to full (100%)"]
    humans = [s for s in git(repo.remote, "log", "--format=%s", "main").splitlines()
              if s.startswith("Human note")]
    assert sorted(humans) == [f"Human note {n}" for n in range(4)]


def run_killed(work: Path, function: str, when: str) -> int:
    """Run `ailoop reconcile --push` in a process that dies (os._exit) as soon as
    pipeline.git.<function> is called: the state a killed CI job leaves behind."""
    code = (
        "import os, sys\n"
        "import pipeline.git as g\n"
        f"setattr(g, {function!r}, lambda *a, **k: os._exit(137))\n"
        "from pipeline.cli.main import main\n"
        f"sys.exit(main(['-C', {str(work)!r}, 'reconcile', '--push', '--now', {when!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120, check=False)
    return proc.returncode


@pytest.mark.parametrize("killed_at", ["commit_paths", "push"])
def test_killed_reconcile_converges_on_the_next_run(tmp_path: Path, killed_at: str) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    repo.git("push", "-q", "origin", "main")
    when = iso(T0 + timedelta(minutes=1))
    assert run_killed(repo.work, killed_at, when) == 137
    status = repo.work / "customers/acme/triage/status.yaml"
    assert status.exists()  # written before the kill
    assert bot_subjects(repo.remote) == []
    result = ailoop_subprocess("-C", str(repo.work), "reconcile", "--push", "--now", when)
    assert result.code == 0, result.err
    assert "Pushed to origin" in result.out
    if killed_at == "commit_paths":
        # status, flags and the customer update
        assert result.out.startswith("Recomputed 3 file(s) a previous run left uncommitted.")
    assert bot_subjects(repo.remote) == ["ailoop: promote acme/triage to shadow (0%)"]
    assert repo.git("status", "--porcelain") == ""
    again = ailoop_subprocess("-C", str(repo.work), "reconcile", "--push", "--now", when)
    assert again.out == "No changes\n"


def test_human_edits_are_never_committed_by_the_reconciler(tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    (repo.work / "customers/acme/triage/NOTES.md").write_text("work in progress\n")
    (repo.work / "scratch.txt").write_text("mine\n")
    repo.git("add", "scratch.txt")  # even a staged human edit stays out of the bot's commit
    result = ailoop_subprocess("-C", str(repo.work), "reconcile", "--now",
                               iso(T0 + timedelta(minutes=1)))
    assert result.code == 0, result.err
    changed = repo.git("show", "--name-only", "--format=", "HEAD").splitlines()
    assert changed == ["customers/acme/flags.flagd.json", "customers/acme/triage/status.yaml",
                       "customers/acme/updates/triage-2026-11-20.md"]
    assert (repo.work / "scratch.txt").read_text() == "mine\n"
    assert repo.git("status", "--porcelain").splitlines() == [
        "A  scratch.txt", "?? customers/acme/triage/NOTES.md"]


