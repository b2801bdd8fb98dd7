"""A cached answer is keyed by more than the bytes of the files it read: where they sit (a
folder that is a link out of the repository), what git reads besides the work tree (its
configuration, replace refs, grafts, the index while the run reads), where a reference
leads, and the machine the checks ran on (flagd's validator, the time zone database).
Each test changes one of those between two runs and asks that the cached answer is the
uncached one. All of them failed before their fix (found by a review session)."""

from __future__ import annotations

import os
import shutil
import subprocess
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
    assert uncached.code == 1 and "unknown time zone" in uncached.out
    assert (cached.code, cached.out) == (uncached.code, uncached.out)


@pytest.mark.parametrize("where", ["info", "top", "priority", "priority in place"])
def test_git_attributes_that_change_what_git_status_sees(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """`text` normalises CRLF: the status with CRLF endings is clean to git while the
    attribute holds, and has uncommitted changes once it is gone. .git/info/attributes and
    the top folder's .gitattributes are part of git.state(); with one in a folder above a
    status, the verdict is not kept (an edit in place changes no folder's listing)."""
    from pipeline.cache import stat_index
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    attributes = {"info": work / ".git" / "info" / "attributes",
                  "top": work / ".gitattributes"}.get(where, (work / STATUS).parent /
                                                      ".gitattributes")
    attributes.parent.mkdir(exist_ok=True)
    attributes.write_text("*.yaml text\n", encoding="utf-8")
    status = work / STATUS
    # CRLF endings, staged: git stores what HEAD has (the attribute normalises them), and
    # the index keeps the new size. Then a touch: git hashes the file again on each status.
    status.write_bytes(status.read_bytes().replace(b"\n", b"\r\n"))
    git(work, "add", str(STATUS))
    later = status.stat().st_mtime - 100
    os.utime(status, (later, later))
    assert git(work, "--no-optional-locks", "status", "--porcelain", "--", str(STATUS)) == ""
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0  # the answer now kept
    if where == "priority in place":
        attributes.write_text("*.yaml -text\n", encoding="utf-8")
    else:
        attributes.unlink()
    assert git(work, "--no-optional-locks", "status", "--porcelain", "--", str(STATUS)) != ""
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1 and "uncommitted changes" in uncached[1]
    assert cached == uncached


def test_git_index_file_from_the_environment(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pre-commit hook of `git commit <paths>` runs with GIT_INDEX_FILE naming a
    temporary index: git.state() stamps the index git reads."""
    from tests.acceptance.test_reconcile import STATUS

    work = _bot_repo(capsys, tmp_path)
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0
    other = tmp_path / "other-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(other)}
    subprocess.run(["git", "-C", str(work), "read-tree", "HEAD"], env=env, check=True)
    subprocess.run(["git", "-C", str(work), "rm", "-q", "--cached", str(STATUS)], env=env,
                   check=True)
    monkeypatch.setenv("GIT_INDEX_FILE", str(other))
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1 and "not committed" in uncached[1]
    assert cached == uncached


def test_a_dependency_of_flagd_core_gone(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the validator loads beside flagd-core's package.json (the node_modules folder
    it sits in) is part of the fingerprint: a dependency removed is seen."""
    import shutil

    from pipeline.cache import checker_fingerprint
    from tests.acceptance.test_segment_attacks import segment_case
    from tests.acceptance.test_validate_cache import in_git
    from tests.flagd import NPM_FLAGD_CORE, need_npm_flagd_core

    need_npm_flagd_core()
    modules = tmp_path / "node_modules"
    shutil.copytree(NPM_FLAGD_CORE.parent.parent, modules, symlinks=True)
    root = segment_case(tmp_path / "repo", '{"in": [{"var": "group"}, ["internal"]]}')
    in_git(root)
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(modules / "@openfeature" / "flagd-core"))
    assert validate(capsys, root)[0] == 0
    shutil.rmtree(modules / "json-logic-engine")  # a broken install: `npm prune`, say
    checker_fingerprint.cache_clear()  # a new process
    cached, uncached = _both(capsys, root)
    assert uncached[0] == 1 and "cannot be checked" in uncached[1]
    assert cached == uncached


def test_policies_linked_inside_the_repo_after_a_run_with_the_folder(
        example: Path, tmp_path: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """policies/ becomes a link to a folder inside the repository (the loader accepts it).
    Its documents are never hashed (in_linked_folder); their entries from the run before
    once stood for them, and the last answer was kept without them: an in-place edit of a
    policy (its folder's stat unchanged) was never looked at."""
    from tests.acceptance.test_validate_cache import _settled_example

    repo = _settled_example(example, monkeypatch)
    assert validate(capsys, repo)[0] == 0
    (repo / "policies").rename(repo / "shared-policies")
    (repo / "policies").symlink_to("shared-policies")
    assert validate(capsys, repo)[0] == 0  # --no-cache says the same
    assert "its answer reused" not in run_cli(capsys, "-C", str(repo), "validate", "-v").err
    rules = repo / "shared-policies" / "house-rules.yaml"
    with open(rules, "r+", encoding="utf-8") as fh:  # in place, as `>` or an editor does
        text = fh.read().replace("kind: Policy", "kind: Polizy")
        fh.seek(0)
        fh.write(text)
    cached, uncached = _both(capsys, repo)
    assert uncached[0] == 1 and "Polizy" in uncached[1]
    assert cached == uncached


def _crlf_status_clean_under(work: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As test_git_attributes_that_change_what_git_status_sees: the status with CRLF
    endings, staged, clean to git only while `text` holds for it."""
    from pipeline.cache import stat_index
    from tests.acceptance.test_reconcile import STATUS

    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    status = work / STATUS
    status.write_bytes(status.read_bytes().replace(b"\n", b"\r\n"))
    git(work, "add", str(STATUS))
    later = status.stat().st_mtime - 100
    os.utime(status, (later, later))
    return status


def _dirty(work: Path) -> str:
    from tests.acceptance.test_reconcile import STATUS
    return git(work, "--no-optional-locks", "status", "--porcelain", "--", str(STATUS))


@pytest.mark.parametrize("how", ["relative", "last wins", "prefix"])
def test_attributes_file_git_reads_is_the_one_stamped(
        capsys: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """core.attributesFile as git reads it: a path from the top folder, the last of two
    values, `%(prefix)/` (git's install folder)."""
    work = _bot_repo(capsys, tmp_path)
    attrs = work / ".review-attrs" if how == "relative" else tmp_path / "attrs"
    attrs.write_text("*.yaml text\n", encoding="utf-8")
    if how == "relative":  # git reads it from the top folder (git -C root)
        git(work, "config", "core.attributesFile", ".review-attrs")
    elif how == "last wins":  # git uses the last value
        git(work, "config", "--add", "core.attributesFile", str(tmp_path / "unused"))
        git(work, "config", "--add", "core.attributesFile", str(attrs))
    else:  # git expands %(prefix)/ (its install folder)
        git(work, "config", "core.attributesFile", f"%(prefix)/..{attrs}")
    _crlf_status_clean_under(work, monkeypatch)
    assert _dirty(work) == ""
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0  # the answer now kept
    attrs.write_text("*.yaml -text\n", encoding="utf-8")  # in place
    assert _dirty(work) != ""
    cached, uncached = _both(capsys, work)
    assert uncached[0] == 1 and "uncommitted changes" in uncached[1]
    assert cached == uncached
