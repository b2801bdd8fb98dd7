"""Results cache keyed by git blob id, with a stat index so unchanged files are not re-read.

Like git's index: a file whose (mtime, size, inode) matches the index keeps its blob id;
entries younger than the racy window are never trusted, so an edit within the same clock
tick is still seen.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

_RACY_SECONDS = 2.0
_SOURCES = ("yamlio.py", "load.py", "checks.py", "dataset.py", "layout.py", "model")


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def code_fingerprint() -> str:
    """Changes whenever the code that produced cached results changes."""
    here = Path(__file__).parent
    digest = hashlib.sha1()
    for name in _SOURCES:
        path = here / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        for f in files:
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
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


class ResultCache:
    def __init__(self, root: str, name: str, enabled: bool = True) -> None:
        self.path = os.path.join(cache_dir(root), f"{name}.pickle")
        self.enabled = enabled
        self.fingerprint = code_fingerprint() if enabled else ""
        self.stat: dict[str, tuple[int, int, int, str]] = {}
        self.results: dict[tuple[str, str], Any] = {}
        self.dirty = False
        if enabled:
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                data = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
                ValueError, TypeError):
            return
        if isinstance(data, dict) and data.get("fingerprint") == self.fingerprint:
            self.stat = data.get("stat", {})
            self.results = data.get("results", {})

    def blob_of(self, abs_path: str, rel: str) -> str | None:
        """Blob id of a file (None when it cannot be read); uses the stat index."""
        try:
            st = os.stat(abs_path)
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        known = self.stat.get(rel)
        if known is not None and known[:3] == key:
            return known[3]
        try:
            with open(abs_path, "rb") as fh:
                blob = blob_id(fh.read())
        except OSError:
            return None
        if time.time() - st.st_mtime_ns / 1e9 > _RACY_SECONDS:
            self.stat[rel] = (*key, blob)
            self.dirty = True
        return blob

    def get(self, rel: str, blob: str) -> Any:
        return self.results.get((rel, blob))

    def put(self, rel: str, blob: str, value: Any) -> None:
        self.results[(rel, blob)] = value
        self.dirty = True

    def save(self) -> None:
        """Write atomically; a cache that cannot be written is silently skipped."""
        if not (self.enabled and self.dirty):
            return
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump({"fingerprint": self.fingerprint, "stat": self.stat,
                             "results": self.results}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            return
