"""Ways the validate cache could answer differently from `--no-cache` on the same tree: each
test changes the tree the way a developer (or a hostile pull request) might, then asks that
the cached answer is the uncached one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from pipeline.cache import cache_dir
from tests.acceptance.test_validate_cache import (
    CLAIMS,
    _settled_example,
    edit,
    in_git,
    validate,
)
from tests.support import git


def _same_as_uncached(capsys: object, repo: Path, *args: str) -> tuple[int, str]:
    cached = validate(capsys, repo, *args)
    assert cached == validate(capsys, repo, "--no-cache", *args)
    return cached


def _swap_for_link(path: Path, copy: Path) -> None:
    """`path` becomes a symlink to `copy`, a copy of its bytes."""
    shutil.copyfile(path, copy)
    path.unlink()
    path.symlink_to(copy)


def test_a_priority_swapped_for_a_link_out_of_the_repo_is_refused(
        example: Path, tmp_path: Path, capsys: object) -> None:
    """A result was cached by the blob read through the link, not by whether the
    document is a link: the loader's "symlink that leaves the repository" was skipped."""
    repo = in_git(example)
    assert validate(capsys, repo)[0] == 0
    _swap_for_link(repo / CLAIMS, tmp_path / "outside.yaml")
    code, out = _same_as_uncached(capsys, repo)
    assert code == 1 and "symlink that leaves the repository" in out


# Files a priority names outside the folders the walk lists (a declared input; an
# entrypoint two folders down): the cross-check asks only whether they exist, so neither
# the folder walk nor the stat index held them, and the full run's answer was reused.
OUTSIDE_THE_WALK = {
    "input": ("    timeoutSeconds: 5\n", "    timeoutSeconds: 5\n    inputs: [shared/x.py]\n",
              "shared/x.py", "'shared/x.py' does not exist"),
    "entrypoint": ("entrypoint: workflow.py:", "entrypoint: fixes/deep/x.py:",
                   "{folder}/fixes/deep/x.py",
                   "workflow file '{folder}/fixes/deep/x.py' does not exist"),
}


@pytest.mark.parametrize("ref", sorted(OUTSIDE_THE_WALK))
def test_a_deleted_file_a_priority_names_is_seen_by_a_full_run(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch, ref: str) -> None:
    old, new, path, message = (s.format(folder=CLAIMS.parent.as_posix())
                               for s in OUTSIDE_THE_WALK[ref])
    edit(example / CLAIMS, old, new)
    (example / path).parent.mkdir(parents=True)
    (example / path).write_text("x = 1\n", encoding="utf-8")
    repo = _settled_example(example, monkeypatch)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    (repo / path).unlink()
    code, out = _same_as_uncached(capsys, repo)
    assert code == 1 and message in out


def test_a_new_top_level_lessons_file_is_seen_by_a_full_run(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """ailoop.yaml and lessons.yaml are found without the walk: a new one changed neither
    a listed folder nor a known file's stat."""
    (example / "lessons.yaml").unlink()
    repo = _settled_example(example, monkeypatch)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    (repo / "lessons.yaml").write_text("kind: Nonsense\n", encoding="utf-8")
    code, out = _same_as_uncached(capsys, repo)
    assert code == 1 and "unknown kind 'Nonsense'" in out


def test_a_folder_whose_mtime_is_restored_is_listed_again(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder listing was reused on (mtime, inode); unlike a file's stat key, no ctime,
    which no tool can set back."""
    repo = _settled_example(example, monkeypatch)
    assert validate(capsys, repo)[0] == 0
    folder = repo / CLAIMS.parent
    st = folder.stat()
    (folder / "status.yaml").write_text("kind: Nonsense\n", encoding="utf-8")
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))  # as rsync -a, tar, cp -a do
    code, out = _same_as_uncached(capsys, repo)
    assert code == 1 and "unknown kind 'Nonsense'" in out


def test_a_document_shrunk_below_the_size_limit_is_read_again(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A document past the size limit is never hashed, so the stat index did not hold it
    and the full run's answer outlived an edit of it (here a stale error)."""
    repo = _settled_example(example, monkeypatch)
    event = repo / CLAIMS.parent / "events" / "FB-2026-0012.yaml"
    text = event.read_text(encoding="utf-8")
    event.write_text(text + "#" * (1024 * 1024) + "\n", encoding="utf-8")
    assert "larger than" in validate(capsys, repo)[1]
    assert "larger than" in validate(capsys, repo)[1]
    event.write_text(text, encoding="utf-8")  # in place: its folder keeps its stat
    assert _same_as_uncached(capsys, repo)[0] == 0


def _settle_git_index(work: Path) -> None:
    """Files an hour old: git's index is no longer racily clean, so `git status` stops
    rewriting it on every run (as on a developer's machine seconds after a commit)."""
    old = time.time() - 3600
    for path in work.rglob("*"):
        if ".git" not in path.parts:
            os.utime(path, (old, old), follow_symlinks=False)
    git(work, "status", "--porcelain")


@pytest.mark.parametrize("change", ["mode", "symlink"])
def test_a_bot_status_changed_only_in_its_mode_or_type_is_untrusted(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, change: str) -> None:
    """The trust verdict was keyed by the status's content, HEAD and git's index: git also
    sees a changed mode, or a link where a file was, as an uncommitted change."""
    from tests.acceptance.test_reconcile import STATUS, make_git_repo, ready
    from tests.acceptance.test_serving_candidate import walk_to

    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    work = repo.work
    _settle_git_index(work)
    assert validate(capsys, work)[0] == 0
    assert validate(capsys, work)[0] == 0
    if change == "mode":
        (work / STATUS).chmod(0o755)
    else:
        _swap_for_link(work / STATUS, work / "status-copy.txt")
    code, out = _same_as_uncached(capsys, work)
    assert code == 1 and "status.yaml is written by the reconciler only" in out


# --- sequences that hold (not covered elsewhere), in both cache layouts ---------------------

REPO_RULE = """
    - id: house/few-priorities
      description: At most three priorities.
      condition: repo.priorities <= 3
      field: spec.owner
      message: "{{ repo.priorities }} priorities"
"""


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.mark.parametrize("sequence", ["stash", "checkout", "reset", "folder for dataset",
                                      "readd", "policy then partial", "customer then partial",
                                      "refs alternate", "repo rule"])
@pytest.mark.parametrize("sharded", [False, True])
def test_sequences_that_hold(example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch,
                             sequence: str, sharded: bool) -> None:
    from pipeline.cache import results

    if sharded:
        monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    repo = _settled_example(example, monkeypatch)
    claims = repo / CLAIMS
    dataset = claims.with_name("dataset.jsonl")
    validate(capsys, repo)
    validate(capsys, repo)
    if sequence == "stash":
        edit(claims, "  risk: ", "  risk: x")
        _same_as_uncached(capsys, repo)
        git(repo, "stash")
        _same_as_uncached(capsys, repo)
        git(repo, "stash", "pop")
    elif sequence == "checkout":
        git(repo, "checkout", "-q", "-b", "other")
        edit(claims, "  risk: ", "  risk: x")
        _commit(repo, "broken")
        _same_as_uncached(capsys, repo)
        git(repo, "checkout", "-q", "main")
        _same_as_uncached(capsys, repo)
        git(repo, "checkout", "-q", "other")
    elif sequence == "reset":
        edit(claims, "  risk: ", "  risk: x")
        _commit(repo, "broken")
        _same_as_uncached(capsys, repo)
        git(repo, "reset", "-q", "--hard", "HEAD~1")
        _same_as_uncached(capsys, repo)
        git(repo, "reset", "-q", "--hard", "HEAD@{1}")
    elif sequence == "folder for dataset":
        dataset.unlink()
        dataset.mkdir()
    elif sequence == "readd":
        data = dataset.read_bytes()
        dataset.unlink()
        _same_as_uncached(capsys, repo)
        dataset.write_bytes(data)
        _same_as_uncached(capsys, repo)
        dataset.write_bytes(data.replace(b"{", b"[", 1))
    elif sequence in ("policy then partial", "customer then partial"):
        if sequence == "policy then partial":
            edit(repo / "policies" / "house-rules.yaml", "condition: size(spec.tags) > 0",
                 "condition: size(spec.tags) > 10")
        else:
            edit(repo / CLAIMS.parent.parent / "customer.yaml", "roles: [risk-officer]",
                 "roles: [engineer]")
        _same_as_uncached(capsys, repo, "--changed-since", "HEAD")
        _same_as_uncached(capsys, repo, str(repo / CLAIMS.parent))
    elif sequence == "repo rule":
        with (repo / "policies" / "house-rules.yaml").open("a", encoding="utf-8") as fh:
            fh.write(REPO_RULE)
        _commit(repo, "a rule that counts priorities")
        _same_as_uncached(capsys, repo)
        _same_as_uncached(capsys, repo)
        copy = claims.parent.with_name("claims-copy")
        shutil.copytree(claims.parent, copy)
        edit(copy / "priority.yaml", "name: claims-intake", "name: claims-copy")
        _same_as_uncached(capsys, repo, "--changed-since", "HEAD")
        _same_as_uncached(capsys, repo, str(repo / CLAIMS.parent))
    elif sequence == "refs alternate":
        edit(claims, "  risk: ", "  risk: x")
        _commit(repo, "broken")
        edit(dataset, "{", "[")
        for ref in ("HEAD", "HEAD~1", "HEAD", "HEAD~1"):
            _same_as_uncached(capsys, repo, "--changed-since", ref)
    _same_as_uncached(capsys, repo)
    out = _same_as_uncached(capsys, repo)[1]
    assert sequence != "repo rule" or "4 priorities" in out


# --- a lost index file and the shard files it leaves behind ----------------------------------

@pytest.mark.parametrize("lost", ["deleted", "damaged"])
def test_shards_a_lost_index_left_behind_never_answer(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
    """The index file is lost (deleted by hand, damaged) while the shard files stay. The
    next full run splits its results into shards again: reading the old shard files then
    laid their entries over the run's own, the last full run's answer among them (keyed
    by the day, HEAD and git's index only, valid beside the stats it was stored with). The
    run after answered "valid" for a broken dataset. Found by review."""
    from pipeline.cache import results

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    repo = _settled_example(example, monkeypatch)
    _settle_git_index(repo)
    assert validate(capsys, repo)[0] == 0
    edit((repo / CLAIMS).with_name("dataset.jsonl"), "{", "[")
    index = Path(cache_dir(str(repo))) / "validate.pickle"
    if lost == "deleted":
        index.unlink()
    else:
        index.write_bytes(b"garbage")
    assert validate(capsys, repo)[0] == 1
    assert _same_as_uncached(capsys, repo)[0] == 1
    assert _same_as_uncached(capsys, repo, "--changed-since", "HEAD")[0] == 1


def test_a_store_written_into_the_index_file_leaves_no_shard_files(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a split store has shard files, so a run over what changed can take their
    journal for the sign that the results live there, and read no index file. A store
    begun again in the index file (its index lost while the repository shrank) removes
    the shard files of the one before."""
    from pipeline.cache import results

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    repo = _settled_example(example, monkeypatch)
    validate(capsys, repo)
    folder = Path(cache_dir(str(repo))) / "validate.d"
    assert (folder / "journal.pickle").is_file()
    (Path(cache_dir(str(repo))) / "validate.pickle").unlink()
    monkeypatch.setattr(results, "SHARD_ABOVE", 2000)
    validate(capsys, repo)
    assert not folder.exists()
    edit((repo / CLAIMS).with_name("dataset.jsonl"), "{", "[")
    assert _same_as_uncached(capsys, repo, "--changed-since", "HEAD")[0] == 1


def test_a_new_priority_folder_younger_than_its_settled_parent(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk with one unsettled folder is not stored, yet the settled listings it made
    are: the customer folder's new listing (naming the new priority folder) is stored
    beside the last walk, which does not list the new folder. The next run verifies that
    walk (every folder it lists matches) and never sees the new priority."""
    from pipeline.cache import walk

    repo = _settled_example(example, monkeypatch)
    _settle_git_index(repo)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    new = repo / CLAIMS.parent.with_name("claims-copy")
    shutil.copytree(repo / CLAIMS.parent, new)
    edit(new / "priority.yaml", "name: claims-intake", "name: claims-copy")
    edit(new / "priority.yaml", "  risk: ", "  risk: x")  # broken
    young = new.stat().st_ino
    real = walk.settled
    # The new folder was written a second ago, its parent three seconds ago.
    monkeypatch.setattr(walk, "settled", lambda st, now: st.st_ino != young and real(st, now))
    first = _same_as_uncached(capsys, repo)
    assert first[0] == 1
    monkeypatch.setattr(walk, "settled", real)
    assert _same_as_uncached(capsys, repo)[0] == 1
