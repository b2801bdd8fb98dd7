"""Crash consistency: a reconcile killed at every step (each file rename, each git command,
just before and just after the push) leaves every owned file either as it was or fully
written, and the next run converges to exactly what an uninterrupted run commits.

The process is a real forked child that dies with os._exit(137): no cleanup runs, as when
a CI runner is killed. Product code is not changed for the test: the child wraps
os.replace and pipeline.git's command runners and counts steps."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.documents.evidence import read_evidence
from tests.reliability.support import (
    GitRepo,
    at,
    bot_subjects,
    copy_repo,
    ready_repo,
    reconcile_dying_at,
    run_forked,
    worktree_state,
)
from tests.support import ROOT, git, run_cli

OWNED = ("customers/acme/flags.flagd.json", "customers/acme/triage/status.yaml",
         "customers/acme/intake/status.yaml")
KILL_POINTS_TRIED: list[int] = []  # for the report: how many kill points were exercised


@dataclass
class Scenario:
    name: str
    before: int  # minutes: a reconcile done before the killed one (0: none)
    killed: int  # minutes: the killed reconcile's clock


SCENARIOS = [Scenario("enter-first-stage", 0, 1), Scenario("advance-stage", 1, 62)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return ready_repo(tmp_path_factory.mktemp("crash") / "template")


def _prepare(template: GitRepo, dest: Path, scenario: Scenario) -> GitRepo:
    repo = copy_repo(template, dest)
    if scenario.before:
        assert _reconcile(repo, scenario.before) == 0
    return repo


def _reconcile(repo: GitRepo, minutes: int) -> int:
    from pipeline.cli.main import main

    return run_forked(lambda: main(["-C", str(repo.work), "reconcile", "--push",
                                    "--now", at(minutes)]))


def _contents(repo: GitRepo) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for rel in OWNED:
        path = repo.work / rel
        out[rel] = path.read_text() if path.exists() else None
    return out


def _untracked_or_dirty(repo: GitRepo) -> list[str]:
    return repo.git("status", "--porcelain", "--untracked-files=all").splitlines()


def _step_name(log: Path, number: int) -> str:
    for line in log.read_text().splitlines():
        n, name = line.split(" ", 1)
        if int(n) == number:
            return name
    return ""


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_reconcile_killed_at_every_step_converges(template: GitRepo, tmp_path: Path,
                                                  scenario: Scenario) -> None:
    reference = _prepare(template, tmp_path / "reference", scenario)
    old, old_bots = _contents(reference), bot_subjects(reference)
    assert _reconcile(reference, scenario.killed) == 0
    new, want_tree, want_bots = _contents(reference), worktree_state(reference), \
        bot_subjects(reference)
    assert new != old and want_bots[:-1] == old_bots

    problems: dict[str, list[str]] = {}
    number = 0
    while True:
        number += 1
        repo = _prepare(template, tmp_path / f"kill{number}", scenario)
        log = tmp_path / f"kill{number}.log"
        code = reconcile_dying_at(repo.work, at(scenario.killed), number, log)
        if code != 137:
            assert code == 0
            break  # the run finished before reaching this step: every point was tried
        step = _step_name(log, number)
        found: list[str] = []
        # Per file: as it was, or fully written; never a torn file.
        for rel, text in _contents(repo).items():
            if text not in (old[rel], new[rel]):
                found.append(f"{rel} is neither the old nor the new content")
        # The remote holds the old state or exactly the new commit, nothing in between.
        remote_bots = bot_subjects(repo)
        if remote_bots not in (want_bots[:-1], want_bots):
            found.append(f"remote has {remote_bots}")
        # The next run converges: same tree, pushed, one commit, clean, then idle.
        again = _reconcile(repo, scenario.killed)
        if again != 0:
            found.append(f"the next run exited {again}")
        if worktree_state(repo) != want_tree:
            found.append("the next run committed a different tree")
        if bot_subjects(repo) != want_bots:
            found.append(f"bot commits on the remote: {bot_subjects(repo)}")
        if repo.git("rev-parse", "HEAD") != git(repo.remote, "rev-parse", "main"):
            found.append("HEAD is not pushed")
        if _untracked_or_dirty(repo):
            found.append(f"work tree not clean: {_untracked_or_dirty(repo)}")
        if not found and _reconcile(repo, scenario.killed) == 0 and \
                worktree_state(repo) != want_tree:
            found.append("a third run changed something")
        if found:
            problems[f"{number} {step}"] = found
    KILL_POINTS_TRIED.append(number - 1)
    assert number - 1 >= 10  # every rename, git command, and both sides of the push
    assert problems == {}


def test_a_run_killed_before_a_rename_leaves_no_temporary_file(template: GitRepo,
                                                               tmp_path: Path) -> None:
    repo = copy_repo(template, tmp_path / "repo")
    log = tmp_path / "log"
    # Find the first rename, then die there.
    assert reconcile_dying_at(copy_repo(template, tmp_path / "probe").work, at(1), 10**6,
                              log) == 0
    first = next(int(n) for n, name in (ln.split(" ", 1) for ln in log.read_text()
                                        .splitlines()) if name.endswith((".yaml", ".json")))
    assert reconcile_dying_at(repo.work, at(1), first, tmp_path / "log2") == 137
    assert _reconcile(repo, 1) == 0
    assert _untracked_or_dirty(repo) == []


def test_a_run_killed_between_add_and_commit_recovers(template: GitRepo,
                                                      tmp_path: Path) -> None:
    """New owned files staged but not committed: the next run unstages and recomputes them
    (this was a bug: `git checkout HEAD -- <new file>` failed with exit 3 every time)."""
    repo = copy_repo(template, tmp_path / "repo")
    probe_log = tmp_path / "probe.log"
    assert reconcile_dying_at(copy_repo(template, tmp_path / "probe").work, at(1), 10**6,
                              probe_log) == 0
    commit = next(int(n) for n, name in (ln.split(" ", 1) for ln in probe_log.read_text()
                                         .splitlines()) if "commit" in name)
    assert reconcile_dying_at(repo.work, at(1), commit, tmp_path / "log") == 137
    assert repo.git("status", "--porcelain").splitlines()[0].startswith("A  ")
    assert _reconcile(repo, 1) == 0
    assert bot_subjects(repo) == ["ailoop: reconcile 2 priorities (promote 2)"]


def test_a_human_edit_survives_a_killed_run_and_its_recovery(template: GitRepo,
                                                             tmp_path: Path) -> None:
    """Recovery only ever touches the files the reconciler owns."""
    for kill_at in (4, 8, 12):
        repo = copy_repo(template, tmp_path / f"repo{kill_at}")
        notes = repo.work / "customers/acme/triage/NOTES.md"
        notes.write_text("half-written design notes\n")
        readme = repo.work / "ailoop.yaml"
        readme.write_text(readme.read_text() + "# local edit\n")
        reconcile_dying_at(repo.work, at(1), kill_at, tmp_path / f"log{kill_at}")
        _reconcile(repo, 1)
        assert notes.read_text() == "half-written design notes\n"
        assert readme.read_text().endswith("# local edit\n")
        changed = git(repo.remote, "show", "--name-only", "--format=", "main").splitlines()
        assert "ailoop.yaml" not in changed and "customers/acme/triage/NOTES.md" not in changed


def test_a_dry_run_killed_while_writing_evidence_leaves_none_that_counts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support import minimal_repo

    root = minimal_repo(tmp_path / "repo")
    key = "acme/triage"

    def dry_run_dying_at_rename(kill_at: int) -> int:
        import os

        from pipeline.cli.main import main

        real = os.replace
        count = [0]

        def replace(src: str, dst: str) -> None:
            count[0] += 1
            if count[0] == kill_at:
                os._exit(137)
            real(src, dst)

        os.replace = replace  # type: ignore[assignment]
        return main(["-C", str(root), "dry-run", key, "--now", "2026-11-20T10:00:00Z",
                     "--no-cache"])

    for kill_at in (1, 2):  # before the in-toto statement, before the evidence itself
        assert run_forked(lambda k=kill_at: dry_run_dying_at_rename(k)) == 137
        assert read_evidence(str(root), key) == []
    result = run_cli(capsys, "-C", str(root), "dry-run", key, "--now",
                     "2026-11-20T10:00:00Z", "--no-cache")
    assert result.code in (0, 1), result.err
    written = read_evidence(str(root), key)
    assert len(written) == 1
    body = json.loads((root / written[0].path).read_text())
    assert body["id"] == written[0].evidence_id and body["kind"] == "Evidence"


# --- by construction: every write in the product is a temp file + rename -----------------

# Writes that are not renames, and why that is safe.
NOT_RENAMED = {
    ("pipeline/approvals/gate.py", "_append"): "appends to $GITHUB_STEP_SUMMARY (Actions' file)",
    ("pipeline/publish/prcomment.py", "append_summary"): "appends to $GITHUB_STEP_SUMMARY",
    ("pipeline/approvals/signed.py", "_commits"): "a private mkstemp file in /tmp, deleted",
    ("pipeline/trust/written.py", "run"): "a private mkstemp file in /tmp, deleted",
    ("pipeline/git.py", "allowed_signers_file"): "a private mkstemp file in /tmp, deleted",
    ("pipeline/notify/deliver.py", "_bot_commits"): "a private mkstemp file in /tmp, deleted",
    ("pipeline/cli/main.py", "_crash_log"): "a new mkstemp crash log in /tmp",
    ("pipeline/providers/python_worker.py", "_private_channels"): "a pipe, not a file",
}


# Whole modules that play a person, not the tool: their files are a human's edits.
ACTORS = {"pipeline/demo/story.py": "the demo plays the engineer and reviewers in a scratch folder",
          "pipeline/demo/production.py": "the demo plays the customer's service (it installs "
                                         "workflow versions in a scratch folder)"}


def _writes(path: Path) -> list[tuple[str, int, bool]]:
    """(function, line, renamed) for every open-for-writing and write_text/bytes call."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, ast.FunctionDef):
            continue
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
        names = {ast.unparse(c.func) for c in calls}
        renamed = any(n.endswith("replace") for n in names) and \
            any("mkstemp" in n or "mkdtemp" in n for n in names)
        for call in calls:
            func = ast.unparse(call.func)
            if func in ("open", "os.fdopen", "io.open"):
                args = [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "mode")]
                if not args or not any(ch in ast.unparse(args[0]) for ch in "wax"):
                    continue
            elif not func.endswith((".write_text", ".write_bytes")):
                continue
            found.append((fn.name, call.lineno, renamed))
    return found


def test_every_file_the_tool_writes_is_a_temporary_file_renamed_into_place() -> None:
    offenders = []
    checked = 0
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ACTORS:
            continue
        for function, line, renamed in _writes(path):
            checked += 1
            if not renamed and (rel, function) not in NOT_RENAMED:
                offenders.append(f"{rel}:{line} in {function}()")
    assert checked >= 8
    assert offenders == []
