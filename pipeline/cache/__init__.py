"""The validate results cache: a small façade over its parts.

- `fingerprint`: git blob ids, and the one fingerprint every cache keys on (the code and
  the machine that checked);
- `stat_index`: file stat -> blob id, like git's index, and the one racy-timestamp rule;
- `walk`: folder listings reused while the folders are unchanged;
- `results`: results keyed by blob id, in shard files with a journal;
- `store`: where cache files live, read without running code, written crash-safely.

The index file `<name>.pickle` holds the stat index, the folder listings, the last walk
and the last full run's answer, and the results while there are few. A run over what
changed reads the journal alone once they live in shard files (see ResultCache's
`scoped`).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from pipeline.cache import store
from pipeline.cache.fingerprint import blob_id, checker_fingerprint, read_blob, read_bounded
from pipeline.cache.results import Entry, ResultStore
from pipeline.cache.stat_index import StatIndex
from pipeline.cache.store import Records, Unusable, cache_dir
from pipeline.cache.walk import Listing, Walk

__all__ = ["ResultCache", "blob_id", "cache_dir", "checker_fingerprint", "read_blob",
           "read_bounded"]


def _index_path(root: str, name: str) -> str:
    return os.path.join(cache_dir(root), f"{name}.pickle")


class ResultCache:
    """Per-file results by (path, blob id), one version per path, plus the stat index and
    the folder walk. `records`: the dataclasses stored results may hold (see store).

    `partial`: the run reads part of the repository. It uses the stat index and the folder
    listings but changes neither: they say what the last full run read, and a full run
    trusts them to tell that nothing changed since (pipeline.validate.memo, the walk's
    reuse). A partial run that stored a file's new stat or a folder's new listing made the
    next full run answer with what that file said before, or miss a document added there.
    """

    def __init__(self, root: str, name: str, enabled: bool = True, records: Records = (),
                 partial: bool = False, scoped: bool = False) -> None:
        """`scoped`: the run reads only the folders and files a change touches (validate
        --changed-since). With the results in shard files it then reads one cache file,
        their journal (see ResultStore.split). Not the index file: its stats and folder
        listings would spare such a run a few hashes and listings, and reading them (4 MB
        for 10,000 priorities) was a sixth of the run. documents() reads the index and
        lets lookups read the shards after all, for a run that comes to walk the whole
        tree (a rule reads `repo`)."""
        self.root, self.enabled, self.records = root, enabled, records
        partial = partial or scoped
        self.path = _index_path(root, name)
        self.fingerprint = checker_fingerprint() if enabled else ""
        self.session: dict[str, Any] = {}  # this run's results of files that were not hashed
        self._linked: dict[str, bool] = {}  # top-level folder -> is a symlink
        self.why_not: str | None = "disabled (--no-cache)"  # None: the index was reused
        folder = os.path.join(cache_dir(root), f"{name}.d")
        split = ResultStore.split(folder, self.fingerprint, records) if enabled and scoped \
            else None
        self.deferred = split is not None  # the index file is not read (yet)
        data = self._read() if enabled and split is None else None
        self.unread = data is None and split is None  # no index file was reused: write one
        self._use_index(data, time.time(), learning=enabled and not partial)
        results = data.get("results") if data else None
        self.results = split if split is not None else ResultStore(
            folder, self.fingerprint, records, results,
            sharded=data is not None and results is None)
        # The last full run's answer (pipeline.validate.memo) lives in the index file: it is
        # valid only beside the stats stored with it, and a file written apart from them (a
        # journal, a shard) could be lost, damaged or written back older.
        self.answer: Any = data.get("answer") if data else None
        self.answer_dirty = False
        self.inline = self.results.results  # the results read so far (a fast first look)

    def _read_deferred(self) -> None:
        """The index file a scoped run did not read, once it needs the folder listings.
        The run learns nothing (it is partial), so nothing read before is lost."""
        self.deferred = False
        self.results.reads_shards = True
        data = self._read()
        if data is not None:
            self._use_index(data, self.now, learning=False)

    def _use_index(self, data: dict[str, Any] | None, now: float, learning: bool) -> None:
        """The stat index and the walk from the index file's data (empty without any).
        `learning`: this run records the stats and listings it reads, for the next."""
        self.index = StatIndex(data["stat"] if data else None, now, learning=learning)
        self.walk = Walk(self.root, now, learning, *(data["dirs"], data["walk"])
                         if data else ())

    def _read(self) -> dict[str, Any] | None:
        try:
            data = store.load(self.path, self.fingerprint, self.records)
        except Unusable as e:
            self.why_not = str(e)
            return None
        if not (isinstance(data, dict) and isinstance(data.get("stat"), dict)
                and isinstance(data.get("dirs"), dict)
                and (isinstance(data.get("results"), dict) or data.get("sharded") is True)):
            self.why_not = "cache file damaged"
            return None
        walk = data.get("walk")
        data["walk"] = walk if isinstance(walk, tuple) and len(walk) == 3 else None
        self.why_not = None
        return data

    def explain(self) -> list[str]:
        """Why (parts of) the cache were not reused, for `validate -v`."""
        if self.deferred:
            return ["cache: reused: the journal of recent results (a run over changed "
                    "files reads no other cache file)"]
        if self.why_not is not None:
            return [f"cache: not reused: {self.why_not}"]
        lines = ["cache: reused"]
        if self.walk.why_not is not None:
            lines.append(f"cache: folder walk not reused: {self.walk.why_not}")
        return lines

    # The clock every racy-window decision uses (tests move it past the window).
    @property
    def now(self) -> float:
        return self.index.now

    @now.setter
    def now(self, value: float) -> None:
        self.index.now = self.walk.now = value

    @functools.cached_property
    def real_root(self) -> str:
        return os.path.realpath(self.root)

    @property
    def dirty(self) -> bool:
        """The index file needs writing again."""
        return self.unread or self.index.dirty or self.walk.dirty or self.answer_dirty

    def keep_answer(self, answer: object) -> None:
        """Store a full run's answer with the stats (None: this run keeps none, and the last
        one must not outlive the stats it was stored with)."""
        if answer != self.answer:
            self.answer, self.answer_dirty = answer, True

    @property
    def stat(self) -> dict[str, bytes]:
        return self.index.entries

    @property
    def loaded(self) -> set[str]:
        return self.results.loaded

    # --- the stat index -------------------------------------------------------------------

    def blob_of(self, abs_path: str, rel: str, st: os.stat_result | None = None) -> str | None:
        """Blob id of a file (None when it cannot be read, when the cache is off: then
        nothing is hashed, or when its folder is a link: see in_linked_folder)."""
        if not self.enabled:
            return None
        if self.in_linked_folder(rel):
            self.unrecorded(rel)
            return None
        return self.index.blob_of(abs_path, rel, st)

    def in_linked_folder(self, rel: str) -> bool:
        """Whether `rel` sits in a folder that is a symlink. The loader refuses a document
        in one that leads out of the repository, whatever its bytes, so nothing keyed by
        them may answer for it. Only a top-level folder (policies/) can be one: the walk
        enters no linked folder below the folders it starts from. Such a file counts as
        read and not recorded (StatIndex.unrecorded): no full run's answer is kept without
        it."""
        folder, _, rest = rel.partition("/")
        if not rest or "/" in rest:
            return False
        linked = self._linked.get(folder)
        if linked is None:
            linked = self._linked[folder] = os.path.islink(os.path.join(self.root, folder))
        return linked

    def remember(self, rel: str, blob: str, st: os.stat_result) -> None:
        self.index.remember(rel, blob, st)

    def unrecorded(self, rel: str) -> None:
        self.index.unrecorded(rel)

    # --- the folder walk ------------------------------------------------------------------

    def documents(self) -> list[str]:
        if self.deferred:
            self._read_deferred()
        return self.walk.documents()

    def scan(self, path: str) -> Listing:
        return self.walk.scan(path)

    def is_regular(self, folder: str, name: str) -> bool:
        return self.walk.is_regular(folder, name)

    def listing(self, folder: str) -> tuple[str, str, str] | None:
        return self.walk.listing(folder)

    # --- the results ----------------------------------------------------------------------

    def has(self, rel: str) -> bool:
        """Whether any result for `rel` is cached."""
        return rel in self.inline or self.results.newest(rel) is not None

    def get(self, rel: str, blob: str | tuple[str, ...]) -> Any:
        """The result stored for `rel` under `blob` (a blob id, or a tuple of what the
        result depends on), or None."""
        hit: Entry | None = self.inline.get(rel) or self.results.newest(rel)
        return hit[1] if hit is not None and hit[0] == blob else None

    def put(self, rel: str, blob: str | tuple[str, ...], value: Any) -> None:
        self.results.put(rel, blob, value)

    def save(self) -> None:
        """Write what changed, each file atomically; a cache that cannot be written is
        skipped. A partial run whose results live in shard files leaves the index file
        (4 MB for 10,000 priorities) as it was: it changed nothing in it."""
        if not self.enabled:
            return
        dirty = self.dirty
        index: dict[str, object] = {"stat": self.index.entries, "dirs": self.walk.dirs,
                                    "walk": self.walk.last, "answer": self.answer}
        was_whole = self.results.whole
        inline = self.results.in_index()
        if inline is not None:
            if dirty or self.results.changed():
                store.save(self.path, self.fingerprint, {**index, "results": inline},
                           self.records)
            if self.unread:  # a store begun anew: none of the one before may answer
                self.results.drop_leftovers()
            self.results.saved()
        else:
            if dirty or was_whole:
                store.save(self.path, self.fingerprint, {**index, "sharded": True},
                           self.records)
            self.results.save_shards()
        self.unread = self.index.dirty = self.walk.dirty = self.answer_dirty = False
