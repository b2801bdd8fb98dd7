from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.cache import (
    ResultCache,
    blob_id,
    cache_dir,
    checker_fingerprint,
    read_blob,
    results,
    stat_index,
    store,
)
from pipeline.documents.layout import discover
from tests.support import git


@pytest.mark.parametrize("data", [b"", b"hello\n", bytes(range(256)) * 40])
def test_blob_id_is_what_git_hash_object_prints(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert blob_id(data) == expected
    read = read_blob(str(path))
    assert read is not None and read[0] == expected


def test_cache_lives_inside_dot_git(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    assert cache_dir(str(tmp_path)) == str(tmp_path / ".git" / "ailoop-cache")


def test_cache_of_a_plain_folder_is_in_the_user_cache(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    where = Path(cache_dir(str(folder)))
    assert where.parent == Path(os.environ["XDG_CACHE_HOME"]) / "ailoop"
    assert folder not in where.parents


def test_saved_results_are_read_back(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    first = ResultCache(str(tmp_path), "t")
    first.put("a.yaml", "b1", ("value",))
    first.save()
    again = ResultCache(str(tmp_path), "t")
    assert again.get("a.yaml", "b1") == ("value",)
    assert again.get("a.yaml", "other-blob") is None


@pytest.mark.parametrize("content", [b"", b"garbage\x00\xff", pickle.dumps([1, 2]),
                                     pickle.dumps({"fingerprint": "x"}),
                                     b"\x80\x05\x95\xff\xff\xff\xff"])
def test_a_damaged_cache_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    git(tmp_path, "init", "-q")
    path = Path(cache_dir(str(tmp_path))) / "t.pickle"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    loaded = ResultCache(str(tmp_path), "t")
    assert (loaded.results.results, loaded.stat, loaded.walk.dirs) == ({}, {}, {})


def test_a_cache_with_the_right_fingerprint_but_wrong_shape_is_ignored(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    path = Path(cache_dir(str(tmp_path))) / "t.pickle"
    path.parent.mkdir(parents=True)
    store.save(str(path), checker_fingerprint(), {"stat": [], "dirs": {}, "results": {}})
    assert ResultCache(str(tmp_path), "t").stat == {}


def test_disabled_cache_neither_reads_nor_writes(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    first = ResultCache(str(tmp_path), "t")
    first.put("a", "b", 1)
    first.save()
    off = ResultCache(str(tmp_path), "t", enabled=False)
    assert off.get("a", "b") is None
    off.put("c", "d", 2)
    off.save()
    assert ResultCache(str(tmp_path), "t").get("c", "d") is None


def test_blob_of_a_young_file_is_not_trusted_from_the_index(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    path = tmp_path / "doc.yaml"
    path.write_bytes(b"a: 1\n")
    cache = ResultCache(str(tmp_path), "t")
    assert cache.blob_of(str(path), "doc.yaml") == blob_id(b"a: 1\n")
    assert "doc.yaml" not in cache.stat  # written within the racy window


def test_a_settled_edit_with_the_old_mtime_and_size_is_still_seen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stat_index, "RACY_SECONDS", 0.0)
    git(tmp_path, "init", "-q")
    path = tmp_path / "doc.yaml"
    path.write_bytes(b"a: 1\n")
    before = path.stat()
    cache = ResultCache(str(tmp_path), "t")
    cache.now = before.st_ctime + 1
    assert cache.blob_of(str(path), "doc.yaml") == blob_id(b"a: 1\n")
    assert "doc.yaml" in cache.stat
    for wait in (0.01, 0.1, 1.0, 2.5):  # until the file system's clock has ticked
        time.sleep(wait)
        path.write_bytes(b"a: 2\n")  # same size; mtime put back: only the ctime differs
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if path.stat().st_ctime_ns != before.st_ctime_ns:
            break
    assert path.stat().st_ctime_ns != before.st_ctime_ns, "the ctime never moved"
    assert cache.blob_of(str(path), "doc.yaml") == blob_id(b"a: 2\n")


def _tree(root: Path) -> None:
    for rel in ("ailoop.yaml", "lessons.yaml", "policies/p.yaml", "policies/waivers/w.yaml",
                "policies/notes.txt", "customers/acme/customer.yaml",
                "customers/acme/triage/priority.yaml", "customers/acme/triage/status.yaml",
                "customers/acme/triage/events/fb.yaml", "customers/acme/triage/dataset.jsonl",
                "customers/acme/.hidden/priority.yaml", "customers/acme/x/y/z/deep.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("a: 1\n")
    (root / "customers" / "linked").symlink_to(root / "customers" / "acme")


def test_cached_folder_listings_find_what_discover_finds(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    _tree(tmp_path)
    expected = discover(str(tmp_path))
    cache = ResultCache(str(tmp_path), "t")
    cache.now += 10  # treat every folder as settled, so listings are stored
    assert discover(str(tmp_path), cache.scan) == expected
    cache.save()
    again = ResultCache(str(tmp_path), "t")
    assert again.walk.dirs, "listings were stored"
    assert discover(str(tmp_path), again.scan) == expected
    (tmp_path / "customers" / "acme" / "triage" / "events" / "fb.yaml").unlink()
    assert discover(str(tmp_path), again.scan) == discover(str(tmp_path))


def _settled_cache(root: Path) -> ResultCache:
    cache = ResultCache(str(root), "t")
    cache.now += 10  # treat every folder as settled, so the walk is stored
    return cache


def test_an_unchanged_tree_reuses_the_last_walk(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    _tree(tmp_path)
    first = _settled_cache(tmp_path)
    assert first.documents() == discover(str(tmp_path))
    assert not first.walk.verified
    first.save()
    again = ResultCache(str(tmp_path), "t")
    assert again.documents() == discover(str(tmp_path))
    assert again.walk.verified, "no folder changed: the stored walk is reused"


@pytest.mark.parametrize("change", ["new folder", "removed file", "top file removed",
                                    "missing folder appears"])
def test_a_changed_tree_is_walked_again(tmp_path: Path, change: str) -> None:
    git(tmp_path, "init", "-q")
    _tree(tmp_path)
    shutil.rmtree(tmp_path / "policies", ignore_errors=True)
    _settled_cache(tmp_path).documents()
    cache = _settled_cache(tmp_path)
    cache.documents()
    cache.save()
    if change == "new folder":
        (tmp_path / "customers" / "acme" / "new").mkdir()
        (tmp_path / "customers" / "acme" / "new" / "priority.yaml").write_text("a: 1\n")
    elif change == "removed file":
        (tmp_path / "customers" / "acme" / "triage" / "events" / "fb.yaml").unlink()
    elif change == "top file removed":  # found without a walk: the stored one still holds
        (tmp_path / "lessons.yaml").unlink()
    else:
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "house.yaml").write_text("a: 1\n")
    again = ResultCache(str(tmp_path), "t")
    assert again.documents() == discover(str(tmp_path))
    assert again.walk.verified == (change == "top file removed")


def test_files_past_the_limit_are_not_read_or_hashed(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    assert read_blob(str(path), limit=100) is None
    small = read_blob(str(path), limit=101)
    assert small is not None and small[0] == blob_id(b"x" * 101)


def test_a_disabled_cache_hashes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    off = ResultCache(str(tmp_path), "t", enabled=False)
    assert off.blob_of(str(path), "f") is None
    assert off.stat == {}


def test_remembering_a_known_blob_leaves_the_index_clean(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    path = tmp_path / "doc.yaml"
    path.write_text("a: 1\n")
    first = ResultCache(str(tmp_path), "t")
    first.now += 10  # the file is settled
    blob = first.blob_of(str(path), "doc.yaml")
    assert blob is not None and first.dirty
    first.save()
    again = ResultCache(str(tmp_path), "t")
    again.now += 10
    assert not again.dirty
    again.remember("doc.yaml", blob, os.stat(path))
    assert not again.dirty, "nothing new: the index is not written again"
    assert again.blob_of(str(path), "doc.yaml") == blob


def _shard_results(root: Path) -> dict[str, object]:
    """Every result in the shard files (not the journal)."""
    out: dict[str, object] = {}
    for shard in (Path(cache_dir(str(root))) / "t.d").glob("*.pickle"):
        if shard.name != "journal.pickle":
            out.update(store.load(str(shard), checker_fingerprint())["results"])
    return out


def _journal(root: Path) -> dict[str, object]:
    path = Path(cache_dir(str(root))) / "t.d" / "journal.pickle"
    journal: dict[str, object] = store.load(str(path), checker_fingerprint())["results"]
    return journal


def test_small_changes_go_to_the_journal_until_it_folds_into_the_shards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    monkeypatch.setattr(results, "JOURNAL_MAX", 3)
    git(tmp_path, "init", "-q")
    keys = [f"customers/c{i}/p/priority.yaml" for i in range(5)]
    first = ResultCache(str(tmp_path), "t")
    for i, key in enumerate(keys):
        first.put(key, "b0", i)
    first.save()  # the first split: every shard written, the journal empty
    assert _shard_results(tmp_path) == {k: ("b0", i) for i, k in enumerate(keys)}
    assert _journal(tmp_path) == {}

    second = ResultCache(str(tmp_path), "t")
    second.put(keys[0], "b1", "new")
    second.save()
    assert _shard_results(tmp_path)[keys[0]] == ("b0", 0), "the shard is not rewritten"
    assert _journal(tmp_path) == {keys[0]: ("b1", "new")}
    third = ResultCache(str(tmp_path), "t")
    assert third.get(keys[0], "b1") == "new"  # the journal is newer than the shard
    assert third.get(keys[0], "b0") is None
    assert third.get(keys[1], "b0") == 1

    third.put(keys[1], "b1", "newer")
    third.put(keys[2], "b1", "newest")
    third.save()  # three entries: still within the journal
    assert len(_journal(tmp_path)) == 3
    fourth = ResultCache(str(tmp_path), "t")
    fourth.put(keys[3], "b1", "last")
    fourth.save()  # four: folded into the shards
    assert _journal(tmp_path) == {}
    folded = {keys[0]: ("b1", "new"), keys[1]: ("b1", "newer"), keys[2]: ("b1", "newest"),
              keys[3]: ("b1", "last"), keys[4]: ("b0", 4)}
    assert _shard_results(tmp_path) == folded
    fifth = ResultCache(str(tmp_path), "t")
    assert {k: fifth.get(k, v[0]) for k, v in folded.items()} == \
        {k: v[1] for k, v in folded.items()}


def test_a_run_over_entries_in_the_journal_reads_no_shard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    git(tmp_path, "init", "-q")
    keys = [f"customers/c{i}/p{j}/priority.yaml" for i in range(3) for j in range(2)]
    first = ResultCache(str(tmp_path), "t")
    for key in keys:
        first.put(key, "b0", key)
    first.save()
    edited = ResultCache(str(tmp_path), "t")
    edited.put(keys[0], "b1", "edited")  # put without reading the shard...
    assert edited.loaded == set()
    assert edited.get(keys[1], "b0") == keys[1]  # ...which, read later, keeps the edit
    assert edited.get(keys[0], "b1") == "edited"
    edited.save()
    again = ResultCache(str(tmp_path), "t")  # the same file edited again: in the journal
    assert again.has(keys[0]) and again.get(keys[0], "b1") == "edited"
    assert again.get(keys[0], "b2") is None
    again.put(keys[0], "b2", "again")
    assert again.loaded == set()
    again.save()
    last = ResultCache(str(tmp_path), "t")
    assert [last.get(k, "b0") for k in keys[1:]] == keys[1:]
    assert last.get(keys[0], "b2") == "again"


def test_customer_files_share_one_shard() -> None:
    shard = results.shard_of
    assert shard("customers/acme/customer.yaml") == shard("customers/globex/customer.yaml") \
        == shard("ailoop.yaml") == ""
    assert shard("customers/acme/triage/priority.yaml") == "acme"
    assert shard("customers/acme/customer.yaml.bak") == "acme"


def _walked_cache(root: Path) -> ResultCache:
    """A cache whose clock is past the racy window of everything just written."""
    cache = ResultCache(str(root), "t")
    cache.now += 10
    cache.documents()
    return cache


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in Path(cache_dir(str(root))).rglob("*") if ".tmp" in p.name)


@pytest.mark.parametrize("fails", ["os.replace", "os.fsync"])
@pytest.mark.parametrize("split", [False, True])
def test_a_failed_write_leaves_no_temp_file_and_the_old_cache_readable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str, split: bool) -> None:
    """A full disk (ENOSPC while the data is flushed, or at the rename): the run goes on,
    nothing half-written is left behind, and the next run reads the old cache."""
    import errno

    if split:
        monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    git(tmp_path, "init", "-q")
    key = "customers/acme/triage/priority.yaml"
    first = ResultCache(str(tmp_path), "t")
    first.put(key, "b0", "old")
    first.save()

    def full_disk(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    second = ResultCache(str(tmp_path), "t")
    second.put(key, "b1", "new")
    with monkeypatch.context() as m:
        m.setattr(fails, full_disk)
        second.save()  # no exception: a cache that cannot be written is skipped
    assert _leftovers(tmp_path) == []
    third = ResultCache(str(tmp_path), "t")
    assert third.why_not is None
    assert (third.get(key, "b0"), third.get(key, "b1")) == ("old", None)



def test_damage_that_still_unpickles_is_found(tmp_path: Path) -> None:
    """A page of zeros inside a folder listing (what a power cut can leave of data not yet
    on disk, or a bad sector) still unpickles, as a listing with documents missing: the
    walk would reuse it and a check would never look at them. The checksum refuses it."""
    path = tmp_path / "t.pickle"
    listing = "/".join(f"feedback-{i:04d}.yaml" for i in range(1000))
    store.save(str(path), "fp", {"dirs": {"/repo/events": ((1, 2, 3), listing, "", "")}})
    raw = bytearray(path.read_bytes())
    at = raw.index(b"feedback-0200.yaml")
    raw[at:at + 4096] = bytes(4096)
    path.write_bytes(bytes(raw))
    body = bytes(raw[raw.index(b"\n") + 1:])
    assert "feedback-0300.yaml" not in pickle.loads(body)["dirs"]["/repo/events"][1]
    with pytest.raises(store.Unusable, match="cache file damaged"):
        store.load(str(path), "fp")
