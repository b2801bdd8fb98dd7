"""Shared helpers for tests: example repos, real git repos with a bare remote, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pipeline.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PARTS = ("ailoop.yaml", "lessons.yaml", "customers", "policies", "schemas", "monitoring")
GIT_DATE = "2026-11-20T09:00:00+00:00"


CASES = ROOT / "tests" / "cases"


@dataclass(frozen=True)
class BotKey:
    """The tests' bot key pair (made once per session, see conftest.py)."""

    private: Path
    public: str


_BOT: list[BotKey] = []


def use_bot_key(key: BotKey) -> None:
    _BOT[:] = [key]


def bot_key() -> BotKey:
    assert _BOT, "the session's bot key is made by the conftest fixture `bot_key`"
    return _BOT[0]


def with_bot_key(text: str, public: str) -> str:
    """ailoop.yaml's text with spec.bot.signingKey set to PUBLIC (block-style YAML)."""
    line = f"    signingKey: {public}\n"
    if "\n  bot:\n" in text:
        return text.replace("\n  bot:\n", f"\n  bot:\n{line}", 1)
    if "\nspec:\n" in text:
        return text.replace("\nspec:\n", f"\nspec:\n  bot:\n{line}", 1)
    return text.rstrip("\n") + f"\nspec:\n  bot:\n{line}"


def add_bot_key(root: Path) -> None:
    """Give ROOT's ailoop.yaml the session's bot key (the reconciler signs its commits)."""
    project = root / "ailoop.yaml"
    if _BOT and project.is_file():
        text = project.read_text(encoding="utf-8")
        if "signingKey:" not in text:
            project.write_text(with_bot_key(text, bot_key().public), encoding="utf-8")


def minimal_repo(dest: Path) -> Path:
    """A tiny valid repository (one customer, one priority) copied from tests/cases/base/."""
    shutil.copytree(CASES / "base", dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    add_bot_key(dest)
    return dest


def copy_example(dest: Path) -> Path:
    """Copy the bundled example repository (this repo's own GitOps content) to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in EXAMPLE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dest / part)
    add_bot_key(dest)
    return dest


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def git_ok(cwd: Path, *args: str) -> bool:
    """Whether a git command exits 0 (`diff --quiet`: no differences)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True).returncode == 0


@dataclass
class GitRepo:
    work: Path
    remote: Path

    def git(self, *args: str) -> str:
        return git(self.work, *args)

    def commit_all(self, message: str) -> str:
        """Commit the whole work tree (nothing when commit_evidence already committed it)."""
        self.git("add", "-A")
        if not git_ok(self.work, "diff", "--cached", "--quiet"):
            self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def clone(self, dest: Path) -> GitRepo:
        git(dest.parent, "clone", "-q", str(self.remote), str(dest))
        return GitRepo(dest, self.remote)

    def bot_commit(self, message: str, key: Path | None = None) -> str:
        """Commit everything as the reconciler would: as the bot, signed with KEY (the
        session's bot key unless given)."""
        self.git("add", "-A")
        signed_commit(self.work, message, key or bot_key().private,
                      ("ailoop-bot", "ailoop-bot@users.noreply.github.com"))
        return self.git("rev-parse", "HEAD")


BOT_WHO = ("ailoop-bot", "ailoop-bot@users.noreply.github.com")
EVIDENCE_FILES = ":(glob)customers/*/*/evidence/*"


def save_evidence(root: Path, data: dict[str, object]) -> str:
    """Write an evidence document and its in-toto statement where a dry run writes them
    (pipeline.dryrun.record); returns the evidence file's repo-relative path."""
    from pipeline.dryrun.record import build_statement, dumps

    key, ev = str(data["priority"]), str(data["id"])
    rel = f"customers/{key}/evidence/{ev}.json"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(dumps(data))
    statement = build_statement({"cases": [], **data}, _subjects(root, key), rel)
    (root / rel.replace(".json", ".intoto.json")).write_bytes(dumps(statement))
    return rel


def _subjects(root: Path, key: str) -> list[Any]:
    """The files a dry run of KEY as it is on disk reads, with their digests, as a dry run
    records them (none when the priority cannot be read: such evidence never verifies)."""
    from pipeline.documents.evidence import fingerprint
    from pipeline.documents.load import load_document
    from pipeline.dryrun.runner import subjects_of
    from pipeline.errors import InputError

    doc, _ = load_document(str(root), f"customers/{key}/priority.yaml")
    if doc is None or doc.kind != "Priority":
        return []
    try:
        return list(subjects_of(str(root), key, doc.model,
                                fingerprint(str(root), key, doc.model)))
    except InputError:
        return []


def commit_evidence(work: Path, message: str = "ailoop: evidence of a trusted dry run") -> str:
    """Commit the evidence files that differ from HEAD as the commit job of a trusted run
    does: as the bot, signed with its key, through the product's commit path (what counts
    for a promotion; anything else is only shown). The run ran on a commit: what else the
    work tree changed is committed first, as a person (the files of that commit must hash
    to the digests the run recorded)."""
    from pipeline.git import commit_paths, dirty_paths

    changed = [p for p, _ in dirty_paths(str(work), [EVIDENCE_FILES])]
    if not changed:
        return ""
    git(work, "add", "-A", "--", ".", EVIDENCE_FILES.replace("(glob)", "(exclude,glob)"))
    if not git_ok(work, "diff", "--cached", "--quiet"):
        git(work, "commit", "-q", "-m", "The change the trusted run ran on")
    return commit_paths(str(work), changed, f"{message}\n\nAiloop-Action: evidence\n",
                        *BOT_WHO, str(bot_key().private))


def committed_by_bot(root: Path) -> Path:
    """ROOT made a git repository whose one commit the bot signed: the statuses in it are
    what the reconciler wrote (the state a test starts from)."""
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    signed_commit(root, "ailoop: the state the reconciler left", bot_key().private,
                  ("ailoop-bot", "ailoop-bot@users.noreply.github.com"))
    return root


def signed_commit(work: Path, message: str, key: Path | None,
                  who: tuple[str, str] = ("Test Engineer", "engineer@example.test")) -> None:
    """Commit what is staged as WHO, signed with the SSH key KEY (unsigned when None)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1],
           "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1]}
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    subprocess.run(["git", *sign, "commit", "-q", *(["-S"] if key else []), "-m", message],
                   cwd=work, env=env, capture_output=True, text=True, check=True)


def make_repo(tmp: Path, *, example: bool = True,
              fill: Callable[[Path], object] | None = None) -> GitRepo:
    """A work tree (with the example content, or what `fill(work)` writes) whose `origin`
    is a bare repo in `tmp`."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp / "work"
    work.mkdir()
    if fill is not None:
        fill(work)
    elif example:
        copy_example(work)
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("Initial example")
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def pin_git_env(env: dict[str, str], home: Path) -> None:
    """Deterministic git: fixed identity and dates, no user or system config."""
    env.update({
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_AUTHOR_NAME": "Test Engineer",
        "GIT_AUTHOR_EMAIL": "engineer@example.test",
        "GIT_COMMITTER_NAME": "Test Engineer",
        "GIT_COMMITTER_EMAIL": "engineer@example.test",
        "GIT_AUTHOR_DATE": GIT_DATE,
        "GIT_COMMITTER_DATE": GIT_DATE,
    })


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys: object, *args: str) -> CliResult:
    """Run `ailoop ARGS` in-process through the same entry point as the console script."""
    code = main(list(args))
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    return CliResult(code, captured.out, captured.err)


def ailoop_subprocess(*args: str, cwd: Path | None = None,
                      env: dict[str, str] | None = None) -> CliResult:
    exe = shutil.which("ailoop", path=str(Path(sys.executable).parent)) or "ailoop"
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def candidate_stage(status: dict[str, object]) -> str | None:
    """The candidate's stage in a status.yaml (or `ailoop plan --format json`) read as data;
    None when no candidate is out."""
    candidate = status.get("candidate")
    if not isinstance(candidate, dict):
        return None
    stage = candidate.get("stage")
    return stage if isinstance(stage, str) else None


def missing(reason: str) -> NoReturn:
    """A real component a test needs is not here: skip with the reason on a laptop, fail in
    CI (`CI` or AILOOP_REQUIRE_REAL=1, which .ci/run sets), so CI never passes by skipping."""
    if os.environ.get("CI") or os.environ.get("AILOOP_REQUIRE_REAL") == "1":
        pytest.fail(f"{reason}; CI forbids skipping (.ci/run and `make test` install it)",
                    pytrace=False)
    pytest.skip(reason)


def cache_file(fingerprint: str, body: bytes, fmt: int | None = None) -> bytes:
    """A cache file framed as pipeline.cache.store writes one (its format, the code
    fingerprint, the body's crc32), around BODY: what a test plants gets past the header
    to the pickle."""
    import zlib

    from pipeline.cache.fingerprint import FORMAT

    return b"ailoop-cache %d %s %08x\n" % (FORMAT if fmt is None else fmt,
                                            fingerprint.encode(), zlib.crc32(body)) + body
