"""The last full run's answer (pipeline.validate.memo) is valid only beside the file stats
it was stored with. It lived among the results, in a file of its own (the journal, the
shard of customer files), written apart from the index file that holds the stats: a
damaged or unwritten journal, a lost index, a run that keeps no answer or one that wrote
the journal back over a newer one left an older answer beside newer stats, and the next
full run reported a broken dataset valid. Found by review; every case here failed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.cache import ResultCache, cache_dir, store
from tests.acceptance.test_cache_stale_attacks import (
    REPO_RULE,
    _commit,
    _same_as_uncached,
    _settle_git_index,
)
from tests.acceptance.test_validate_cache import CLAIMS, _settled_example, edit, validate
from tests.support import run_cli

NOW_RULE = """
    - id: house/clock
      description: A rule that reads the clock.
      condition: now.getFullYear() < 2000
      field: spec.owner
      message: "the clock says so"
"""


def _folder(repo: Path) -> Path:
    return Path(cache_dir(str(repo))) / "validate.d"


def _index(repo: Path) -> Path:
    return Path(cache_dir(str(repo))) / "validate.pickle"


@pytest.fixture
def split(example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example in git, its results in shard files, its answer stored (valid)."""
    from pipeline.cache import results

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    repo = _settled_example(example, monkeypatch)
    _settle_git_index(repo)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    yield repo


def _failing(monkeypatch: pytest.MonkeyPatch, which: Callable[[str], bool]) -> None:
    """Writes of the cache files `which` accepts fail, as on a full disk."""
    real = store.write_atomic

    def write(path: str, content: bytes) -> None:
        if which(path):
            raise OSError(28, "No space left on device")
        real(path, content)

    monkeypatch.setattr(store, "write_atomic", write)


def _break_dataset(repo: Path) -> None:
    edit((repo / CLAIMS).with_name("dataset.jsonl"), "{", "[")


def test_a_damaged_journal(split: Path, capsys: object) -> None:
    _break_dataset(split)
    assert validate(capsys, split)[0] == 1
    (_folder(split) / "journal.pickle").write_bytes(b"garbage")
    assert _same_as_uncached(capsys, split)[0] == 1


def test_a_journal_that_could_not_be_written(split: Path, capsys: object,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _break_dataset(split)
    with monkeypatch.context() as m:
        _failing(m, lambda path: path.endswith("journal.pickle"))
        assert validate(capsys, split)[0] == 1
    assert _same_as_uncached(capsys, split)[0] == 1


def test_shards_that_could_not_be_written_after_the_index_was_lost(
        split: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_dataset(split)
    _index(split).unlink()
    with monkeypatch.context() as m:
        _failing(m, lambda path: "validate.d" in path and not path.endswith("journal.pickle"))
        assert validate(capsys, split)[0] == 1
    assert _same_as_uncached(capsys, split)[0] == 1


def test_a_run_over_changed_files_saving_after_a_full_run(
        split: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between a --changed-since run's read of the journal and its write, a full run
    stores its answer; the journal written back must not bring the older one back."""
    claims = split / CLAIMS
    os.utime(claims, (1, 1))  # a new stat, the same bytes: a new answer is stored
    assert validate(capsys, split)[0] == 0
    save = ResultCache.save
    raced: list[bool] = []

    def racing(self: ResultCache) -> None:
        if self.deferred and not raced:  # the --changed-since run, before it writes
            raced.append(True)
            with monkeypatch.context() as m:
                m.setattr(ResultCache, "save", save)
                _break_dataset(split)
                assert validate(capsys, split)[0] == 1
        save(self)

    monkeypatch.setattr(ResultCache, "save", racing)
    edit(claims, "  risk: ", "  # a comment\n  risk: ")
    assert validate(capsys, split, "--changed-since", "HEAD")[0] == 0
    assert raced
    monkeypatch.setattr(ResultCache, "save", save)
    assert _same_as_uncached(capsys, split)[0] == 1


@pytest.mark.parametrize("sharded", [False, True])
def test_a_full_run_that_keeps_no_answer_drops_the_last(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch, sharded: bool) -> None:
    """A run whose rules read the clock keeps no answer, yet learns the new stats: the
    last answer must go, not wait for a run that finds every stat matching."""
    from pipeline.cache import results

    if sharded:
        monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    repo = _settled_example(example, monkeypatch)
    _settle_git_index(repo)
    assert validate(capsys, repo)[0] == 0
    assert validate(capsys, repo)[0] == 0
    with (repo / "policies" / "house-rules.yaml").open("a", encoding="utf-8") as fh:
        fh.write(NOW_RULE)
    _break_dataset(repo)
    assert validate(capsys, repo)[0] == 1
    verbose = run_cli(capsys, "-C", str(repo), "validate", "-v")
    assert verbose.code == 1
    assert "its answer reused" not in verbose.err


# --- an answer beside a stat it was not computed from ------------------------------------
# A file read too soon after its change to store its new stat kept the entry of the file
# before; the answer was stored beside it, and swapping that file back (a folder renamed
# away and back: same inode, same ctime) brought the answer back. Found by review.

def _deep_dataset(example: Path) -> Path:
    """The dataset three folders below the priority folder (below what the walk lists)."""
    claims = example / CLAIMS
    deep = claims.parent / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (claims.parent / "dataset.jsonl").rename(deep / "dataset.jsonl")
    edit(claims, "dataset: dataset.jsonl", "dataset: a/b/c/dataset.jsonl")
    return deep / "dataset.jsonl"


def test_a_folder_swapped_back_under_the_walk_within_the_racy_window(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file edited too recently to store its stat leaves the entry of the file before in
    the stat index; `touched <= entries` still passes, so the run's answer is stored beside
    a stat it was not computed from. Swapping the old folder back (a rename of a folder
    the walk does not list changes no stat the memo checks) brings that stat back."""
    from pipeline.cache import stat_index

    dataset = _deep_dataset(example)
    repo = _settled_example(example, monkeypatch)  # RACY_SECONDS = -1
    dataset = repo / dataset.relative_to(example)
    _settle_git_index(repo)
    assert validate(capsys, repo)[0] == 0
    edit(dataset, "{", "[")  # broken, same inode
    assert validate(capsys, repo)[0] == 1
    assert validate(capsys, repo)[0] == 1
    c = dataset.parent
    c.rename(c.with_name("c.orig"))
    c.mkdir()
    (c / "dataset.jsonl").write_text(
        (c.with_name("c.orig") / "dataset.jsonl").read_text().replace("[", "{", 1))
    monkeypatch.setattr(stat_index, "RACY_SECONDS", 1e9)  # the copy was written just now
    assert validate(capsys, repo)[0] == 0  # valid: right
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    shutil.rmtree(c)
    c.with_name("c.orig").rename(c)  # the broken dataset, its stat as stored
    code, _ = _same_as_uncached(capsys, repo)
    assert code == 1


def test_a_shared_input_folder_swapped_back_within_the_racy_window(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same with a dataset in a declared input folder at the top (no folder the walk
    lists is involved at all): a regenerated folder moved in, validated at once, then the
    old one moved back."""
    from pipeline.cache import stat_index

    claims = example / CLAIMS
    (example / "shared").mkdir()
    (claims.parent / "dataset.jsonl").rename(example / "shared" / "dataset.jsonl")
    edit(claims, "dataset: dataset.jsonl", "dataset: ../../../shared/dataset.jsonl")
    edit(claims, "    timeoutSeconds: 5\n", "    timeoutSeconds: 5\n    inputs: [shared/]\n")
    repo = _settled_example(example, monkeypatch)
    _settle_git_index(repo)
    shared = repo / "shared"
    assert validate(capsys, repo)[0] == 0
    edit(shared / "dataset.jsonl", "{", "[")
    assert validate(capsys, repo)[0] == 1
    shared.rename(repo / "shared.old")
    shutil.copytree(repo / "shared.old", shared)
    edit(shared / "dataset.jsonl", "[", "{")  # the regenerated folder: valid
    monkeypatch.setattr(stat_index, "RACY_SECONDS", 1e9)  # validated seconds after
    assert validate(capsys, repo)[0] == 0
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    shutil.rmtree(shared)
    (repo / "shared.old").rename(shared)  # back to the broken one
    verbose = run_cli(capsys, "-C", str(repo), "validate", "-v")
    assert "its answer reused" not in verbose.err
    assert _same_as_uncached(capsys, repo)[0] == 1


# --- what held, kept so it keeps holding --------------------------------------------------

@pytest.mark.parametrize("journal_max", [0, 3])
def test_runs_over_changed_files_fold_the_journal(
        split: Path, capsys: object, monkeypatch: pytest.MonkeyPatch, journal_max: int) -> None:
    from pipeline.cache import results

    monkeypatch.setattr(results, "JOURNAL_MAX", journal_max)
    claims = split / CLAIMS
    dataset = claims.with_name("dataset.jsonl")
    customer = claims.parent.parent / "customer.yaml"
    steps = [(claims, "  risk: ", "  risk: x"), (dataset, "{", "["),
             (claims, "  risk: x", "  risk: "), (customer, "roles: [risk-officer]",
                                                  "roles: [engineer]"),
             (dataset, "[", "{"), (customer, "roles: [engineer]", "roles: [risk-officer]")]
    for i, (path, old, new) in enumerate(steps):
        edit(path, old, new)
        _same_as_uncached(capsys, split, "--changed-since", "HEAD")
        _same_as_uncached(capsys, split, "--changed-since", "HEAD")
        if i % 2:
            _same_as_uncached(capsys, split)
    assert _same_as_uncached(capsys, split)[0] == 0


@pytest.mark.parametrize("repo_rule", [False, True])
def test_a_journal_left_beside_an_index_that_holds_the_results(
        split: Path, capsys: object, monkeypatch: pytest.MonkeyPatch, repo_rule: bool) -> None:
    """An interrupted removal of the shard folder, or a run over changed files that
    wrote it again meanwhile: a journal beside an index file that holds the results."""
    from pipeline.cache import results

    dataset = (split / CLAIMS).with_name("dataset.jsonl")
    _break_dataset(split)
    assert validate(capsys, split)[0] == 1
    edit(dataset, "[", "{")
    assert validate(capsys, split)[0] == 0
    keep = _folder(split).with_name("validate.keep")
    shutil.copytree(_folder(split), keep)
    _index(split).unlink()
    monkeypatch.setattr(results, "SHARD_ABOVE", 2000)
    assert validate(capsys, split)[0] == 0
    assert not _folder(split).exists()
    shutil.copytree(keep, _folder(split))
    if repo_rule:
        with (split / "policies" / "house-rules.yaml").open("a", encoding="utf-8") as fh:
            fh.write(REPO_RULE)
        _commit(split, "A rule that counts priorities")
        _same_as_uncached(capsys, split)
    for _ in range(2):
        edit(dataset, "{", "[")
        _same_as_uncached(capsys, split, "--changed-since", "HEAD")
        _same_as_uncached(capsys, split)
        edit(dataset, "[", "{")
        _same_as_uncached(capsys, split, "--changed-since", "HEAD")
        _same_as_uncached(capsys, split)
        monkeypatch.setattr(results, "SHARD_ABOVE", 0)
