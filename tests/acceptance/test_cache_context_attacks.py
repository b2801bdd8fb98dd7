"""A cached answer is keyed by more than the bytes of the files it read: where they sit (a
folder that is a link out of the repository), what git reads besides the work tree (its
configuration, replace refs, grafts, the index while the run reads), where a reference
leads, and the machine the checks ran on (flagd's validator, the time zone database).
Each test changes one of those between two runs and asks that the cached answer is the
uncached one. All of them failed before their fix (found by a review session)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipeline.cache import checker_fingerprint
from tests.acceptance.test_cache_stale_attacks import _settle_git_index
from tests.acceptance.test_validate_cache import CLAIMS, _settled_example, edit, in_git, validate
from tests.flagd import NPM_FLAGD_CORE, need_npm_flagd_core
from tests.support import ailoop_subprocess, git, run_cli


def _both(capsys: object, repo: Path, *args: str) -> tuple[tuple[int, str], tuple[int, str]]:
    cached = validate(capsys, repo, *args)
    return cached, validate(capsys, repo, "--no-cache", *args)


def _bot_repo(capsys: object, tmp_path: Path) -> Path:
    """A repository whose status.yaml the bot wrote and signed (trusted)."""
    from tests.acceptance.test_reconcile import make_git_repo, ready
    from tests.acceptance.test_serving_candidate import walk_to

    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    _settle_git_index(repo.work)
    return repo.work


def test_policies_moved_out_of_the_repo_behind_a_folder_link(
        example: Path, tmp_path: Path, capsys: object) -> None:
    """The loader refuses a document whose folder is a link out of the repository; the
    results were keyed by the bytes alone, which the link still leads to."""
    repo = in_git(example)
    assert validate(capsys, repo)[0] == 0
    shutil.move(str(repo / "policies"), str(tmp_path / "outside"))
    (repo / "policies").symlink_to(tmp_path / "outside")
    cached, uncached = _both(capsys, repo)
    assert uncached[0] == 1 and "its folder is a symlink that leaves" in uncached[1]
    assert cached == uncached


def test_git_configuration_that_changes_what_git_status_sees(
        capsys: object, tmp_path: Path) -> None:
    """core.fileMode decides whether a changed executable bit is an uncommitted change."""
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    git(work, "config", "core.fileMode", "false")
    (work / STATUS).chmod(0o755)
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0  # the verdict now cached
    git(work, "config", "core.fileMode", "true")
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1 and "uncommitted changes" in uncached[1]
    assert cached == uncached


def test_a_replace_ref_never_swaps_the_bot_commit(capsys: object, tmp_path: Path) -> None:
    """`git replace` shows an unsigned twin in place of the bot's commit. ailoop reads the
    history as it is (every git command it runs ignores replace refs), cached or not."""
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    assert validate(capsys, work)[0] == 0
    sha = git(work, "log", "-1", "--format=%H", "--", str(STATUS))
    twin = git(work, "commit-tree", f"{sha}^{{tree}}", "-p", f"{sha}^", "-m", "unsigned")
    git(work, "replace", sha, twin)
    cached, uncached = _both(capsys, work)
    assert cached == uncached == (0, cached[1])


def test_grafts_are_part_of_the_key(capsys: object, tmp_path: Path) -> None:
    """A graft (deprecated, still read by git) gives a commit other parents: one that skips
    the bot's commit makes a person's later commit the status file's last change."""
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    bot = git(work, "log", "-1", "--format=%H", "--", str(STATUS))
    git(work, "commit", "-q", "--allow-empty", "-m", "a person's commit")
    _settle_git_index(work)
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0
    head = git(work, "rev-parse", "HEAD")
    before = git(work, "rev-parse", f"{bot}^")
    (work / ".git" / "info").mkdir(exist_ok=True)
    (work / ".git" / "info" / "grafts").write_text(f"{head} {before}\n", encoding="utf-8")
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1
    assert cached == uncached


def test_a_reference_through_a_link_and_dot_dot(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lnk/../x` is resolved as the check resolves it (`..` first, then links): the last
    answer watched the file the link's parent holds, which the check never reads."""
    folder = example / CLAIMS.parent
    edit(example / CLAIMS, "entrypoint: workflow.py:", "entrypoint: lnk/../fixes/deep/x.py:")
    (folder / "deeper" / "sub").mkdir(parents=True)
    (folder / "lnk").symlink_to(folder / "deeper" / "sub")
    (folder / "fixes" / "deep").mkdir(parents=True)
    (folder / "fixes" / "deep" / "x.py").write_text("x = 1\n", encoding="utf-8")
    repo = _settled_example(example, monkeypatch)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    (repo / CLAIMS.parent / "fixes" / "deep" / "x.py").unlink()
    cached, uncached = _both(capsys, repo)
    assert uncached[0] == 1 and "does not exist" in uncached[1]
    assert cached == uncached


def test_git_changed_while_the_run_reads(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (an editor, a terminal) unstages the status while validate runs: the
    answer is stored under the git state the run started from, so the next run checks
    again."""
    from pipeline.cache import stat_index
    from pipeline.validate import run
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    real = run.trust_findings

    def trust_then_unstage(*args: object, **kwargs: object) -> object:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        git(work, "rm", "-q", "--cached", str(STATUS))
        return found

    monkeypatch.setattr(run, "trust_findings", trust_then_unstage)
    assert validate(capsys, work)[0] == 0
    monkeypatch.setattr(run, "trust_findings", real)
    assert "its answer reused" not in run_cli(capsys, "-C", str(work), "validate", "-v").err
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1 and "not committed" in uncached[1]
    assert cached == uncached


def test_flagd_validator_gone_after_a_checked_run(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment flagd's validator accepted is judged again on a machine without it (where
    it cannot be checked, which is an error), not passed on the last machine's word."""
    from tests.acceptance.test_segment_attacks import segment_case

    need_npm_flagd_core()
    root = segment_case(tmp_path / "repo", '{"in": [{"var": "group"}, ["internal"]]}')
    in_git(root)
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(NPM_FLAGD_CORE))
    assert validate(capsys, root)[0] == 0
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(tmp_path / "none"))
    checker_fingerprint.cache_clear()  # a new process, on a machine without the validator
    cached, uncached = _both(capsys, root)
    assert uncached[0] == 1 and "cannot be checked" in uncached[1]
    assert cached == uncached


def test_time_zone_database_gone(example: Path, tmp_path: Path) -> None:
    """ailoop.yaml's timeZone is checked against the time zone database the run finds."""
    repo = in_git(example)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONTZPATH"}
    assert ailoop_subprocess("-C", str(repo), "validate", env=env).code == 0
    env["PYTHONTZPATH"] = str(tmp_path / "no-zoneinfo")
    cached = ailoop_subprocess("-C", str(repo), "validate", env=env)
    uncached = ailoop_subprocess("-C", str(repo), "validate", "--no-cache", env=env)
    assert (cached.code, cached.out) == (uncached.code, uncached.out)
