"""Shared helpers for the reliability suite: ready reconciler repositories, forked runs
that die at a chosen step, and a scanner for planted values in everything a run produced."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support import GitRepo, commit_evidence, git
from tests.unit.reconciler.builders import (
    T0,
    approve_all,
    healthy_hourly,
    iso,
    make_tree,
    write_evidence,
)

CUSTOMER = "acme"
NAMES = ("triage", "intake")
KEYS = tuple(f"{CUSTOMER}/{n}" for n in NAMES)


def at(minutes: int) -> str:
    return iso(T0 + timedelta(minutes=minutes))


def when(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ready_repo(tmp: Path, names: tuple[str, ...] = NAMES, hours: int = 12) -> GitRepo:
    """Priorities with passing evidence, every approval and healthy readings, committed
    and pushed to a bare `origin` (whose URL is relative, so the pair can be copied)."""
    tmp.mkdir(parents=True, exist_ok=True)
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    work = make_tree(tmp / "work", names)
    for name in names:
        key = f"{CUSTOMER}/{name}"
        approve_all(work, key, write_evidence(work, key))
        healthy_hourly(work, key, T0, hours)
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", "../remote.git")
    repo = GitRepo(work, remote)
    commit_evidence(work)  # the trusted run's evidence, as its commit job commits it
    repo.commit_all("Ready to roll out")
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def copy_repo(template: GitRepo, dest: Path) -> GitRepo:
    """A byte copy of a work tree + bare remote pair (fast: no git commands)."""
    shutil.copytree(template.work.parent, dest, symlinks=True)
    return GitRepo(dest / template.work.name, dest / template.remote.name)


def bot_subjects(repo: GitRepo, ref: str = "main") -> list[str]:
    """The reconciler's commits on REF, oldest first (not a trusted run's evidence)."""
    log = git(repo.remote, "log", "--format=%s", ref).splitlines()
    return [s for s in reversed(log)
            if s.startswith("ailoop:") and not s.startswith("ailoop: evidence")]


def worktree_state(repo: GitRepo) -> dict[str, str]:
    """Every file of HEAD's tree (path -> blob id): what a run left committed."""
    out = repo.git("ls-tree", "-r", "HEAD")
    return {line.split("\t", 1)[1]: line.split()[2] for line in out.splitlines()}


# --- a process that dies at step N ------------------------------------------------------

@dataclass
class Steps:
    """Counts the steps a reconcile takes (each file rename and each git command) and
    kills the process with os._exit(137) just before step `kill_at`."""

    kill_at: int
    log: Path
    count: int = 0

    def step(self, name: str) -> None:
        self.count += 1
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{self.count} {name}\n")
        if self.count == self.kill_at:
            os._exit(137)


@contextlib.contextmanager
def _patched(steps: Steps) -> Iterator[None]:
    import pipeline.git as g

    real_replace, real_run, real_input, real_push = os.replace, g._run, g._run_input, g.push

    def replace(src: str, dst: str, *a: object, **k: object) -> None:
        steps.step(f"rename -> {os.path.basename(dst)}")
        real_replace(src, dst)

    def run(root: str, *args: str, **options: Any) -> str:
        steps.step(f"git {args[0]}")
        return real_run(root, *args, **options)

    def run_input(root: str, stdin: str, *args: str, **options: Any) -> str:
        steps.step(f"git {' '.join(a for a in args if not a.startswith('user.'))[:40]}")
        return real_input(root, stdin, *args, **options)

    def push(root: str, remote: str, branch: str) -> bool:
        steps.step("git push")
        pushed = real_push(root, remote, branch)
        steps.step("after push")
        return pushed

    os.replace = replace  # type: ignore[assignment]
    g._run, g._run_input, g.push = run, run_input, push
    try:
        yield
    finally:
        os.replace = real_replace
        g._run, g._run_input, g.push = real_run, real_input, real_push


def run_forked(fn: Callable[[], int]) -> int:
    """Run fn in a forked child (a real process that may die half-way); its exit code."""
    return wait_forked(start_forked(fn))


def wait_forked(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def start_forked(fn: Callable[[], int]) -> int:
    """Fork a quiet child running fn (exceptions go to $AILOOP_TEST_CHILD_LOG); its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = fn()
        except BaseException:
            import traceback

            with open(os.environ.get("AILOOP_TEST_CHILD_LOG", os.devnull), "a") as fh:
                traceback.print_exc(file=fh)
        finally:
            os._exit(code)
    return pid


def reconcile_dying_at(work: Path, now: str, kill_at: int, log: Path,
                       *extra: str) -> int:
    """`ailoop reconcile --push` in a forked process killed just before step `kill_at`."""
    def child() -> int:
        from pipeline.cli.main import main

        with _patched(Steps(kill_at, log)):
            return main(["-C", str(work), "reconcile", "--push", "--now", now, *extra])

    return run_forked(child)


# --- planted values ---------------------------------------------------------------------

def files_under(*roots: Path, skip: Iterable[str] = (".git",)) -> list[Path]:
    skipped = set(skip)
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
            continue
        for path in root.rglob("*"):
            if path.is_file() and not skipped & set(path.relative_to(root).parts):
                found.append(path)
    return found


def hits(needles: Iterable[str], texts: dict[str, str]) -> list[tuple[str, str]]:
    """(where, needle) for every planted value found; case-insensitive."""
    out: list[tuple[str, str]] = []
    for where, text in texts.items():
        low = text.lower()
        out.extend((where, n) for n in needles if n.lower() in low)
    return out


def read_all(paths: Iterable[Path]) -> dict[str, str]:
    return {str(p): p.read_bytes().decode("utf-8", errors="replace") for p in paths}
