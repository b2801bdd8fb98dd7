"""Results cache keyed by git blob id, with a stat index so unchanged files are not re-read.

Like git's index: a file whose (mtime, ctime, size, inode) matches the index keeps its blob
id, and a folder whose (mtime, inode) matches keeps its listing. Entries younger than the
racy window are never trusted, so an edit within the same clock tick is still seen.

The cache lives inside .git (or the user's cache folder), never in the work tree: it is a
pickle, and a pickle planted by a pull request would run code when loaded.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import pickle
import stat
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.documents.layout import folder_documents, scan_dir, top_documents

_RACY_SECONDS = 2.0
# A small repository's results stay in the index file; past this many, in shard files.
_SHARD_ABOVE = 2000
# Split results changed since the shards were last written go to one small journal file,
# so a run that changes a few results writes one file, not a shard per customer touched.
# Past this many entries the journal is folded into the shards.
_JOURNAL_MAX = 1000
_FORMAT = 7
# Files are never read past the largest input limit (datasets: 64 MiB): a larger file is
# rejected by its loader anyway, so hashing it would only cost time.
MAX_BLOB_BYTES = 64 * 1024 * 1024

# A file's entry in the stat index: its mtime_ns, ctime_ns, size and inode packed with
# its blob id (bytes, not a tuple of ints and a str: a fifth of the objects to unpickle).
_STAT = struct.Struct("<qqqQ")
Entry = tuple[str | tuple[str, ...], Any]  # (blob id or other key, result)
Listing = list[tuple[str, bool]]  # (name, is a real folder)


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """Changes whenever any of ailoop's code changes (every cache keys on it): the size and
    mtime of each module of the package, computed once per process."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha1(f"{_FORMAT}".encode())
    for f in sorted(package.rglob("*.py")):
        st = f.stat()
        digest.update(f"{f.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_dir(root: str) -> str:
    """Inside .git when there is one: a pull request can never plant a cache file there
    (a pickle from the work tree would run code on load). Else the user's cache folder."""
    git_dir = os.path.join(root, ".git")
    if os.path.isdir(git_dir):
        return os.path.join(git_dir, "ailoop-cache")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:16]
    return os.path.join(base, "ailoop", key)


def _index_key(root: str, now: float) -> bytes | None:
    """The stat of the git index at `root`, when it is settled (see settled) and is the
    index git uses (not one GIT_INDEX_FILE names, nor a worktree's)."""
    if "GIT_INDEX_FILE" in os.environ:
        return None
    try:
        st = os.stat(os.path.join(root, ".git", "index"))
    except OSError:
        return None
    return stat_key(st) if settled(st, now) else None


def stat_key(st: os.stat_result) -> bytes:
    return _STAT.pack(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def settled(st: os.stat_result, now: float) -> bool:
    """True when the file was last changed before the racy window: a later change in the
    same clock tick would otherwise leave its stat unchanged and go unseen."""
    return now - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 > _RACY_SECONDS


def read_blob(abs_path: str, limit: int = MAX_BLOB_BYTES) -> tuple[str, os.stat_result] | None:
    """Blob id and stat (taken before reading) of a file; None when unreadable or larger
    than `limit` bytes (its loader refuses it, so it is never cached)."""
    read = read_bounded(abs_path, limit)
    return None if read is None else read[1]


def read_bounded(abs_path: str, limit: int = MAX_BLOB_BYTES,
                 ) -> tuple[bytes, tuple[str, os.stat_result]] | None:
    """A file's bytes with its blob id and stat, for callers that parse what they hash;
    None when it is unreadable or larger than `limit` bytes."""
    try:
        with open(abs_path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > limit:
                return None
            data = fh.read(limit + 1)
    except OSError:
        return None
    return (data, (blob_id(data), st)) if len(data) <= limit else None


def _unpack(files: str, dirs: str) -> Listing:
    """Names never hold '/', so a listing packs into two '/'-joined strings."""
    return ([(n, False) for n in files.split("/") if n]
            + [(n, True) for n in dirs.split("/") if n])


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


def _load_pickle(path: str) -> Any:
    """The unpickled file, or None when it is missing or damaged (then: no cache)."""
    # The cyclic GC would scan the growing heap again and again while ~100k objects
    # are unpickled (it tripled the load time); none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # any damage to the cache means "no cache", never a failure
        return None
    finally:
        if collecting:
            gc.enable()
        # Nor should later collections scan them again (~0.1 s on a warm run): they live
        # until the run ends. validate() unfreezes when it is done.
        gc.freeze()


def _write_pickle(path: str, data: object) -> None:
    """Write atomically; a cache that cannot be written is silently skipped."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return


class ResultCache:
    """Per-file results by (path, blob id), one version per path, plus the stat index.

    The stat and folder index live in `<name>.pickle`, with the results while there are
    few; past _SHARD_ABOVE results, those live in `<name>.d/`, one file per shard (see
    shard_of), each read the first time one of its keys is asked for, with a journal of the
    entries changed since the shards were written (read with the index, newer than them)."""

    def __init__(self, root: str, name: str, enabled: bool = True) -> None:
        self.root = root
        self.path = os.path.join(cache_dir(root), f"{name}.pickle")
        self.shards = os.path.join(cache_dir(root), f"{name}.d")
        self.enabled = enabled
        self.fingerprint = code_fingerprint() if enabled else ""
        self.stat: dict[str, bytes] = {}  # path -> stat_key + the blob id's 20 bytes
        # folder -> (mtime, inode), its files, its folders, its files that are not regular
        self.dirs: dict[str, tuple[tuple[int, int], str, str, str]] = {}
        # this run's scans: files, those not regular, folders
        self.listed: dict[str, tuple[str, str, str]] = {}
        # The last walk: its documents, the folders it listed, the paths it found no
        # folder at. Reused while every one of those is as it was (see documents()).
        self.walk: tuple[list[str], list[str], list[str]] | None = None
        self.scanned: dict[str, bool | None] = {}  # this run's scans: settled? None: absent
        self.walk_verified = False  # every folder of the last walk is unchanged
        # The git index's stat when the last walk's untracked candidates were found, and
        # those candidates (see untracked_candidates); only with the walk they came from.
        self.untracked: tuple[bytes, list[str]] | None = None
        self.walk_stored = False  # this run's walk is the one stored
        self.results: dict[str, Entry] = {}
        self.session: dict[str, Any] = {}  # this run's results of files that were not hashed
        self.dirty = True  # the stat or folder index changed (or was not read)
        self.whole = True  # every result is in self.results (no shard files to read)
        self.loaded: set[str] = set()  # shards read (or found missing)
        self.dirty_shards: set[str] = set()
        self.journal: dict[str, dict[str, Entry]] = {}  # shard -> entries newer than its file
        self.fresh: dict[str, Entry] = {}  # entries put by this run
        self.now = time.time()
        if enabled:
            self._read()

    @functools.cached_property
    def real_root(self) -> str:
        return os.path.realpath(self.root)

    def _read(self) -> None:
        data = _load_pickle(self.path)
        if not (isinstance(data, dict) and data.get("fingerprint") == self.fingerprint):
            return
        parts = data.get("stat"), data.get("dirs")
        results = data.get("results")
        if not all(isinstance(p, dict) for p in parts):
            return
        if isinstance(results, dict):
            self.results = results
        elif data.get("sharded") is True:
            self.whole = False
            self.journal = self._read_journal()
        else:
            return
        self.stat, self.dirs = parts  # type: ignore[assignment]
        walk = data.get("walk")
        if isinstance(walk, tuple) and len(walk) == 3:
            self.walk = walk
            untracked = data.get("untracked")
            if isinstance(untracked, tuple) and len(untracked) == 2:
                self.untracked = untracked
        self.dirty = False

    def _shard_path(self, shard: str) -> str:
        name = hashlib.sha1(shard.encode()).hexdigest()[:20]
        return os.path.join(self.shards, f"{name}.pickle")

    def _journal_path(self) -> str:
        return os.path.join(self.shards, "journal.pickle")

    def _read_journal(self) -> dict[str, dict[str, Entry]]:
        data = _load_pickle(self._journal_path())
        if not (isinstance(data, dict) and data.get("fingerprint") == self.fingerprint
                and isinstance(data.get("results"), dict)):
            return {}
        by_shard: dict[str, dict[str, Entry]] = {}
        for key, entry in data["results"].items():
            by_shard.setdefault(shard_of(key), {})[key] = entry
        return by_shard

    def _load(self, shard: str) -> None:
        self.loaded.add(shard)
        if not self.enabled:
            return
        data = _load_pickle(self._shard_path(shard))
        if isinstance(data, dict) and data.get("fingerprint") == self.fingerprint \
                and data.get("shard") == shard and isinstance(data.get("results"), dict):
            self.results.update(data["results"])
        self.results.update(self.journal.get(shard, {}))

    def _ensure(self, key: str) -> None:
        """Read the shard `key` lives in, unless it has been read already."""
        if not self.whole:
            self._ensure_shard(shard_of(key))

    def _ensure_shard(self, shard: str) -> None:
        if shard not in self.loaded:
            self._load(shard)

    def has(self, rel: str) -> bool:
        """Whether any result for `rel` is cached."""
        return self._newest(rel) is not None

    def _newest(self, rel: str) -> Entry | None:
        """The cached entry of `rel`. The journal has the newest entries: one found there
        needs no shard read (a run over a few files that changed again reads none)."""
        hit = self.results.get(rel)
        if hit is None and not self.whole:
            hit = self.journal.get(shard_of(rel), {}).get(rel)
            if hit is None:
                self._ensure(rel)
                hit = self.results.get(rel)
        return hit

    def blob_of(self, abs_path: str, rel: str, st: os.stat_result | None = None) -> str | None:
        """Blob id of a file (None when it cannot be read, or when the cache is off: then
        nothing is hashed); uses the stat index. `st`: the file's stat when the caller
        already has it."""
        if not self.enabled:
            return None
        if st is None:
            try:
                st = os.stat(abs_path)
            except OSError:
                return None
        known = self.stat.get(rel)
        if known is not None and known[:_STAT.size] == stat_key(st):
            return known[_STAT.size:].hex()
        read = read_blob(abs_path)
        if read is None:
            return None
        self.remember(rel, *read)
        return read[0]

    def remember(self, rel: str, blob: str, st: os.stat_result) -> None:
        """Record a file's blob id for its stat, unless the stat is too young to trust."""
        if settled(st, self.now):
            entry = stat_key(st) + bytes.fromhex(blob)
            if self.stat.get(rel) != entry:  # else the index need not be written again
                self.stat[rel] = entry
                self.dirty = True

    def documents(self) -> list[str]:
        """discover()'s document paths. Like git's untracked cache: when every folder the
        last walk listed keeps its (mtime, inode), and every path where it found no folder
        still has none, the listings, and so the documents, are the same; a stat per
        folder then replaces the walk."""
        if self.walk is not None and self._walk_unchanged(self.walk[1], self.walk[2]):
            self.walk_verified = True
            found = list(self.walk[0])
        else:
            self.scanned = {}
            found = folder_documents(self.root, self.scan)
            # Only settled listings can be trusted later (see settled()).
            if self.enabled and False not in self.scanned.values():
                self.walk = (found, [p for p, v in self.scanned.items() if v],
                             [p for p, v in self.scanned.items() if v is None])
                self.untracked = None  # found in another walk
                self.walk_stored = self.dirty = True
        return sorted(top_documents(self.root) + found)

    def _walk_unchanged(self, folders: list[str], absent: list[str]) -> bool:
        dirs = self.dirs
        try:
            for path in folders:
                st = os.stat(path)
                known = dirs.get(path)
                if known is None or known[0] != (st.st_mtime_ns, st.st_ino) \
                        or not stat.S_ISDIR(st.st_mode):
                    return False
        except OSError:
            return False
        return not any(os.path.isdir(path) for path in absent)

    def scan(self, path: str) -> Listing:
        """A folder's entries, from the index when the folder has not changed."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.scanned[path] = None
            raise
        if not stat.S_ISDIR(st.st_mode):
            self.scanned[path] = None
            return scan_dir(path)  # raises NotADirectoryError, as scandir does
        key = (st.st_mtime_ns, st.st_ino)
        known = self.dirs.get(path)
        if known is not None and known[0] == key:
            self.listed[path] = (known[1], known[3], known[2])
            self.scanned[path] = True
            return _unpack(known[1], known[2])
        with os.scandir(path) as entries:
            # is_file(follow_symlinks=False) is lstat's S_ISREG, from the entry's d_type
            found = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                     for e in entries]
        listing = [(name, is_dir) for name, is_dir, _ in found]
        # strings per folder: far fewer objects to unpickle than a list of pairs
        files = "/".join(name for name, is_dir, _ in found if not is_dir)
        special = "/".join(name for name, is_dir, regular in found if not (is_dir or regular))
        dirs = "/".join(name for name, is_dir, _ in found if is_dir)
        self.listed[path] = (files, special, dirs)
        self.scanned[path] = settled(st, self.now)
        if self.scanned[path]:
            self.dirs[path] = (key, files, dirs, special)
            self.dirty = True
        return listing

    def walked(self) -> tuple[list[str], list[str]]:
        """What the walk behind documents() saw, repo-relative: every file in the folders
        it listed, and the folders in those it did not list (too deep, or hidden)."""
        if self.walk_verified and self.walk is not None:
            listings = {p: (self.dirs[p][1], self.dirs[p][2]) for p in self.walk[1]}
        else:
            listings = {p: (v[0], v[2]) for p, v in self.listed.items()}
        start = len(os.path.join(self.root, ""))  # how _walk joins the root and a folder
        files: list[str] = []
        unwalked: list[str] = []
        for path, (names, folders) in listings.items():
            rel = path[start:]
            files.extend(f"{rel}/{n}" for n in names.split("/") if n)
            unwalked.extend(f"{rel}/{n}" for n in folders.split("/")
                            if n and f"{path}/{n}" not in listings)
        return files, unwalked

    def untracked_candidates(self) -> list[str] | None:
        """Paths that include every untracked file the walk behind documents() saw, as the
        last run found them (see ChangedSince), when that run walked the same folders
        with the same git index: git needs asking only about them. Else None."""
        if not self.walk_verified or self.untracked is None:
            return None
        key = _index_key(self.root, self.now)
        return self.untracked[1] if key is not None and key == self.untracked[0] else None

    def keep_untracked(self, candidates: list[str]) -> None:
        """Remember the untracked candidates found for this run's walk (see above)."""
        key = _index_key(self.root, self.now)
        if key is not None and (self.walk_verified or self.walk_stored) \
                and self.untracked != (key, candidates):
            self.untracked = (key, candidates)
            self.dirty = True

    def is_regular(self, folder: str, name: str) -> bool:
        """True when this run's scan of `folder` (a path as given to scan) found `name`
        to be a regular file: the cross-check then needs no lstat of its own."""
        known = self.listed.get(folder)
        if known is None and self.walk_verified and folder in self.dirs:
            entry = self.dirs[folder]  # listed by the last walk, and unchanged since
            known = (entry[1], entry[3], entry[2])
        return known is not None and name in known[0].split("/") and \
            name not in known[1].split("/")

    def get(self, rel: str, blob: str | tuple[str, ...]) -> Any:
        """The result stored for `rel` under `blob` (a blob id, or a tuple of what the
        result depends on), or None."""
        hit = self._newest(rel)
        return hit[1] if hit is not None and hit[0] == blob else None

    def put(self, rel: str, blob: str | tuple[str, ...], value: Any) -> None:
        entry = (blob, value)
        self.results[rel] = self.fresh[rel] = entry
        shard = shard_of(rel)
        if not self.whole:  # newer than the shard file: laid over it if that is read later
            self.journal.setdefault(shard, {})[rel] = entry
        self.dirty_shards.add(shard)

    def save(self) -> None:
        """Write what changed, each file atomically; a cache that cannot be written is
        silently skipped."""
        if not self.enabled:
            return
        index: dict[str, object] = {"fingerprint": self.fingerprint, "stat": self.stat,
                                    "dirs": self.dirs, "walk": self.walk,
                                    "untracked": self.untracked}
        if self.whole and len(self.results) <= _SHARD_ABOVE:
            if self.dirty or self.dirty_shards:
                _write_pickle(self.path, {**index, "results": self.results})
            self.dirty = False
            self.dirty_shards.clear()
            return
        if self.whole:  # grown past one file: write every shard once
            self.dirty_shards = {shard_of(k) for k in self.results}
            self.whole, self.dirty = False, True
            self.journal, self.fresh = {}, {}
        if self.dirty:
            _write_pickle(self.path, {**index, "sharded": True})
        self._save_shards()
        self.dirty = False
        self.dirty_shards.clear()
        self.fresh = {}

    def _save_shards(self) -> None:
        """Append this run's entries to the journal; when it grows too long, or when every
        shard is written anyway, write the shards it touches and empty it."""
        if self.fresh:
            journal = {k: e for entries in self.journal.values() for k, e in entries.items()}
            journal.update(self.fresh)
            if len(journal) <= _JOURNAL_MAX:
                _write_pickle(self._journal_path(), {"fingerprint": self.fingerprint,
                                                     "results": journal})
                return
            self.dirty_shards |= set(self.journal)
        if not self.dirty_shards:
            return
        for shard in self.dirty_shards:
            self._ensure_shard(shard)  # its journal entries are folded into what is written
        by_shard: dict[str, dict[str, Entry]] = {s: {} for s in self.dirty_shards}
        for key, value in self.results.items():
            entries = by_shard.get(shard_of(key))
            if entries is not None:
                entries[key] = value
        for shard, results in sorted(by_shard.items()):
            _write_pickle(self._shard_path(shard), {"fingerprint": self.fingerprint,
                                                    "shard": shard, "results": results})
        # Only now: until the shards are written the journal must keep their entries.
        _write_pickle(self._journal_path(), {"fingerprint": self.fingerprint, "results": {}})
        self.journal = {}
