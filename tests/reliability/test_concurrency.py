"""Concurrency: many reconcilers on one remote, duplicate merge events, and a human commit
landing between the plan and the push. Real processes (forked, each its own git committer,
as separate CI runners are), one bare remote; no update may be lost or applied twice."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.documents.yamlio import read_yaml
from pipeline.model.scalars import typed
from tests.reliability.support import (
    KEYS,
    at,
    bot_subjects,
    copy_repo,
    ready_repo,
    run_forked,
    start_forked,
    wait_forked,
)
from tests.support import GitRepo, candidate_stage, git
from tests.unit.reconciler.builders import incident, set_target

RUNNERS = 10
ROUNDS = [(1, "shadow"), (62, "canary"), (183, "early"), (304, "full")]
REPORT: dict[str, int] = {}


def fork_all(fns: list[Callable[[], int]]) -> list[int]:
    """Start every fn in its own forked process at once; their exit codes."""
    pids = [start_forked(fn) for fn in fns]
    return [wait_forked(pid) for pid in pids]


def runner(work: Path, number: int, now: str) -> Callable[[], int]:
    def run() -> int:
        import contextlib
        import io

        from pipeline.cli.main import main

        os.environ["GIT_COMMITTER_NAME"] = f"runner {number}"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return main(["-C", str(work), "reconcile", "--push", "--now", now])

    return run


def remote_status(repo: GitRepo, key: str) -> dict[str, object]:
    text = git(repo.remote, "show", f"main:customers/{key}/status.yaml")
    path = repo.work.parent / "status-probe.yaml"
    path.write_text(text)
    status: dict[str, object] = typed(read_yaml(str(path), "status.yaml").data)["status"]
    return status


def test_many_reconcilers_on_one_remote_lose_no_update(tmp_path: Path) -> None:
    repo = ready_repo(tmp_path / "t")
    clones = [repo.clone(tmp_path / f"runner{i}") for i in range(RUNNERS)]
    for round_number, (minutes, _stage) in enumerate(ROUNDS):
        codes = fork_all([runner(c.work, i, at(minutes)) for i, c in enumerate(clones)])
        assert codes == [0] * RUNNERS
        # A human pushes between rounds: never lost.
        human = repo.clone(tmp_path / f"human{round_number}")
        (human.work / f"NOTE-{round_number}.md").write_text("note\n")
        human.commit_all(f"Human note {round_number}")
        human.git("push", "-q", "origin", "main")
    bots = bot_subjects(repo)
    assert bots == ["ailoop: reconcile 2 priorities (promote 2)"] * len(ROUNDS)
    lost = 0
    for key in KEYS:
        status = remote_status(repo, key)
        history = status["history"]
        assert isinstance(history, list)
        moves = [h["to"] for h in history if h.get("action") == "promote"]
        lost += len([s for _, s in ROUNDS if s not in moves])
        assert moves == [s for _, s in ROUNDS]  # each stage exactly once, in order
        assert candidate_stage(status) == "full"
    humans = sorted(s for s in git(repo.remote, "log", "--format=%s", "main").splitlines()
                    if s.startswith("Human note"))
    assert humans == [f"Human note {n}" for n in range(len(ROUNDS))]
    REPORT.update(runners=RUNNERS, rounds=len(ROUNDS), lost_updates=lost)
    assert lost == 0


def test_duplicate_merge_events_apply_once(tmp_path: Path) -> None:
    """Two CI jobs for the same merge commit, one after the other: the second one's push
    is rejected, it fetches, replans on the first one's commit and has nothing to do."""
    repo = ready_repo(tmp_path / "t")
    first, second = repo.clone(tmp_path / "job1"), repo.clone(tmp_path / "job2")
    assert run_forked(runner(first.work, 1, at(1))) == 0
    assert run_forked(runner(second.work, 2, at(1))) == 0
    assert bot_subjects(repo) == ["ailoop: reconcile 2 priorities (promote 2)"]
    assert second.git("rev-parse", "HEAD") == git(repo.remote, "rev-parse", "main")
    assert second.git("status", "--porcelain") == ""
    # And the same event again on a job that already saw it.
    assert run_forked(runner(first.work, 1, at(1))) == 0
    assert bot_subjects(repo) == ["ailoop: reconcile 2 priorities (promote 2)"]


def _human_pushes_first(repo: GitRepo, human: GitRepo,
                        change: Callable[[Path], object]) -> Callable[[], int]:
    """A reconcile whose first push is preceded by a human's push from another clone: the
    commit lands between the plan and the push."""
    def run() -> int:
        import pipeline.git as g
        from pipeline.cli.main import main

        real_push = g.push
        done = [False]

        def push(root: str, remote: str, branch: str) -> bool:
            if not done[0]:
                done[0] = True
                human.git("pull", "-q", "--rebase", "origin", "main")
                change(human.work)
                human.commit_all("Human change")
                human.git("push", "-q", "origin", "main")
            return real_push(root, remote, branch)

        g.push = push
        return main(["-C", str(repo.work), "reconcile", "--push", "--now", at(1)])

    return run


HUMAN_CHANGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "unrelated-note": (lambda w: (w / "NOTES.md").write_text("x\n"),
                       "ailoop: reconcile 2 priorities (promote 2)"),
    "workflow-changed": (lambda w: (w / "customers/acme/triage/workflow.py").write_text(
        "def run(input):\n    return 'billing'\n"),
        "ailoop: promote acme/intake to shadow (0%)"),
    "target-lowered-to-shadow": (lambda w: set_target(w, "acme/triage", "shadow"),
                                     "ailoop: reconcile 2 priorities (promote 2)"),
    "incident-filed": (lambda w: incident(w, "acme/triage", "inc-1", "high"),
                       "ailoop: reconcile 2 priorities (hold 1, promote 1)"),
}


@pytest.mark.parametrize("name", sorted(HUMAN_CHANGES))
def test_a_human_commit_between_plan_and_push_is_kept_and_replanned(
        name: str, tmp_path: Path) -> None:
    template = ready_repo(tmp_path / "t")
    repo = copy_repo(template, tmp_path / "c")
    human = repo.clone(tmp_path / "human")
    change, subject = HUMAN_CHANGES[name]
    assert run_forked(_human_pushes_first(repo, human, change)) == 0
    log = git(repo.remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == [subject, "Human change"]  # kept, and the bot's commit on top
    assert repo.git("rev-parse", "HEAD") == git(repo.remote, "rev-parse", "main")
    # Planned on the new head: a stale evidence or an incident keeps triage out.
    shown = git(repo.remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    triage = remote_status(repo, "acme/triage") \
        if "customers/acme/triage/status.yaml" in shown else {}
    entered = name in ("unrelated-note", "target-lowered-to-shadow")
    assert candidate_stage(triage) == ("shadow" if entered else None)
    assert candidate_stage(remote_status(repo, "acme/intake")) == "shadow"
