"""Results keyed by git blob id: one version per path, in shard files with a journal.

A small repository's results stay in the index file (see pipeline.cache); past
SHARD_ABOVE, they live in `<name>.d/`, one file per shard (see shard_of), each read the
first time one of its keys is asked for, with a journal of the entries changed since the
shards were written (read with the index, newer than them).
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Any

from pipeline.cache import store

SHARD_ABOVE = 2000
# Split results changed since the shards were last written go to one small journal file,
# so a run that changes a few results writes one file, not a shard per customer touched.
# Past this many entries the journal is folded into the shards.
JOURNAL_MAX = 1000

Entry = tuple[str | tuple[str, ...], Any]  # (blob id or other key, result)


@functools.cache  # asked three times per result by a cold run (about 90,000 times)
def shard_of(key: str) -> str:
    """Results are kept in one file per customer (plus one for the rest), so a run that
    touches a few priorities reads and rewrites a few small files, not all of them. The
    customer files themselves are in the rest: a run over a few priorities needs the
    results of their customers, and so reads one file for them, not one per customer."""
    if key.startswith("customers/"):
        end = key.find("/", 10)
        if end > 10 and key[end:] != "/customer.yaml":
            return key[10:end]
    return ""


class ResultStore:
    def __init__(self, folder: str, fingerprint: str, records: store.Records,
                 results: dict[str, Entry] | None, sharded: bool) -> None:
        """`results`: every result, when they live in the index file; `sharded`: they live
        in `folder` (else there are none yet)."""
        self.folder, self.fingerprint, self.records = folder, fingerprint, records
        self.results: dict[str, Entry] = results if results is not None else {}
        self.whole = not sharded  # every result is in self.results (no shard files to read)
        self.loaded: set[str] = set()  # shards read (or found missing)
        self.dirty_shards: set[str] = set()
        self.has_journal = False  # a usable journal file was read
        self.replacing = False  # this run writes every shard: any other file is a leftover
        self.reads_shards = True  # a lookup the journal cannot answer reads a shard file
        # shard -> entries newer than its file
        self.journal: dict[str, dict[str, Entry]] = self._read_journal() if sharded else {}
        self.fresh: dict[str, Entry] = {}  # entries put by this run

    @classmethod
    def split(cls, folder: str, fingerprint: str, records: store.Records) -> ResultStore | None:
        """The results kept in shard files, for a run over a few files: found without the
        index file, by their journal, which every split store has (written with the
        shards, empty or not); None when it is missing or unusable (then the index file
        says where the results are). Its lookups read the journal only: a shard holds a
        customer's few hundred results and such a run needs one or two of them, so
        checking those again costs less than reading it; they go to the journal, where
        the next run over the same folders finds them.

        A store that keeps its results in the index file has no shard files: a split
        removes the files a lost index left behind, and a store begun again in the index
        file removes that folder (see drop_leftovers)."""
        found = cls(folder, fingerprint, records, None, sharded=True)
        found.reads_shards = False
        return found if found.has_journal else None

    def _shard_path(self, shard: str) -> str:
        name = hashlib.sha1(shard.encode()).hexdigest()[:20]
        return os.path.join(self.folder, f"{name}.pickle")

    def _journal_path(self) -> str:
        return os.path.join(self.folder, "journal.pickle")

    def _read_journal(self) -> dict[str, dict[str, Entry]]:
        data = store.load_or_none(self._journal_path(), self.fingerprint, self.records)
        if not (isinstance(data, dict) and isinstance(data.get("results"), dict)):
            return {}
        self.has_journal = True
        by_shard: dict[str, dict[str, Entry]] = {}
        for key, entry in data["results"].items():
            by_shard.setdefault(shard_of(key), {})[key] = entry
        return by_shard

    def _load(self, shard: str) -> None:
        self.loaded.add(shard)
        data = store.load_or_none(self._shard_path(shard), self.fingerprint, self.records)
        if isinstance(data, dict) and data.get("shard") == shard \
                and isinstance(data.get("results"), dict):
            self.results.update(data["results"])
        self.results.update(self.journal.get(shard, {}))

    def _ensure_shard(self, shard: str) -> None:
        if shard not in self.loaded:
            self._load(shard)

    def newest(self, rel: str) -> Entry | None:
        """The cached entry of `rel`. The journal has the newest entries: one found there
        needs no shard read (a run over a few files that changed again reads none)."""
        hit = self.results.get(rel)
        if hit is None and not self.whole:
            shard = shard_of(rel)
            hit = self.journal.get(shard, {}).get(rel)
            if hit is None and self.reads_shards:
                self._ensure_shard(shard)
                hit = self.results.get(rel)
        return hit

    def put(self, rel: str, blob: str | tuple[str, ...], value: Any) -> None:
        entry = (blob, value)
        self.results[rel] = self.fresh[rel] = entry
        shard = shard_of(rel)
        if not self.whole:  # newer than the shard file: laid over it if that is read later
            self.journal.setdefault(shard, {})[rel] = entry
        self.dirty_shards.add(shard)

    def in_index(self) -> dict[str, Entry] | None:
        """The results when they still fit in the index file, else None (then: split
        them into shards, once)."""
        if self.whole and len(self.results) <= SHARD_ABOVE:
            return self.results
        if self.whole:  # grown past one file: write every shard once
            self.dirty_shards = {shard_of(k) for k in self.results}
            # Every result is here. Shard files a lost index left behind are not read (their
            # entries would be laid over this run's) but replaced (see _write_shards).
            self.loaded = set(self.dirty_shards)
            self.whole, self.replacing = False, True
            self.journal, self.fresh = {}, {}
        return None

    def drop_leftovers(self) -> None:
        """Results kept in the index file: remove the shard files of a store before it
        (left when its index file was lost), so that a journal means a split store."""
        self._remove(self.folder, keep=set())
        try:
            os.rmdir(self.folder)
        except OSError:
            pass

    @staticmethod
    def _remove(folder: str, keep: set[str]) -> None:
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            if name.endswith(".pickle") and name not in keep:
                try:
                    os.unlink(os.path.join(folder, name))
                except OSError:
                    pass

    def changed(self) -> bool:
        return bool(self.dirty_shards)

    def saved(self) -> None:
        self.dirty_shards.clear()
        self.fresh = {}

    def save_shards(self) -> None:
        """Append this run's entries to the journal; when it grows too long, or when every
        shard is written anyway, write the shards it touches and empty it."""
        if self.fresh:
            journal = {k: e for entries in self.journal.values() for k, e in entries.items()}
            journal.update(self.fresh)
            if len(journal) <= JOURNAL_MAX:
                store.save(self._journal_path(), self.fingerprint, {"results": journal},
                           self.records)
                self.saved()
                return
            self.dirty_shards |= set(self.journal)
        if self.dirty_shards:
            self._write_shards()
        self.saved()

    def _write_shards(self) -> None:
        for shard in self.dirty_shards:
            self._ensure_shard(shard)  # its journal entries are folded into what is written
        by_shard: dict[str, dict[str, Entry]] = {s: {} for s in self.dirty_shards}
        for key, value in self.results.items():
            entries = by_shard.get(shard_of(key))
            if entries is not None:
                entries[key] = value
        failed = [shard for shard, results in sorted(by_shard.items())
                  if not store.save(self._shard_path(shard), self.fingerprint,
                                    {"shard": shard, "results": results}, self.records)]
        # Only now, and only when every shard was written: until then the journal must
        # keep their entries.
        if not failed:
            store.save(self._journal_path(), self.fingerprint, {"results": {}}, self.records)
            self.journal = {}
            if self.replacing:
                self._remove(self.folder, {os.path.basename(self._shard_path(s))
                                           for s in by_shard} | {"journal.pickle"})
                self.replacing = False
