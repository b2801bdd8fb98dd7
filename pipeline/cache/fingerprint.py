"""What a cached result is keyed by: git blob ids of files, and the one fingerprint of what
checked them."""

from __future__ import annotations

import functools
import hashlib
import os
import stat

from pipeline.fsio import read_at_most
from pipeline.machine import identity

# Bumped when what a cache file holds changes shape; part of the fingerprint, and
# written in every cache file's header (so a file of another format is told apart).
FORMAT = 12
# Files are never read past the largest input limit (datasets: 64 MiB): a larger file is
# rejected by its loader anyway, so hashing it would only cost time.
MAX_BLOB_BYTES = 64 * 1024 * 1024
# Opening a symlink fails instead of opening what it leads to; a FIFO opens without
# waiting for a writer (and is then refused as not a regular file).
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_BINARY", 0))


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.cache
def checker_fingerprint() -> str:
    """What checked a cached answer, computed once per process; every cache keys on it, so
    it changes whenever any part of that changes: ailoop's code (the size and mtime of each
    module of the package) and the machine's part (pipeline.machine.identity: the Python
    and libraries it runs on, flagd's validator and Node.js, the time zone database)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    modules: list[str] = []
    for folder, dirs, files in os.walk(package):  # a fifth of pathlib.rglob's time
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        modules.extend(os.path.join(folder, f) for f in files if f.endswith(".py"))
    digest = hashlib.sha1(f"{FORMAT}\0{identity()}".encode())
    for path in sorted(modules):
        st = os.stat(path)
        rel = os.path.relpath(path, package).replace(os.sep, "/")
        digest.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def read_blob(abs_path: str, limit: int = MAX_BLOB_BYTES) -> tuple[str, os.stat_result] | None:
    """Blob id and stat (taken before reading) of a file; None when unreadable or larger
    than `limit` bytes (its loader refuses it, so it is never cached)."""
    read = read_bounded(abs_path, limit)
    return None if read is None else read[1]


def read_bounded(abs_path: str, limit: int = MAX_BLOB_BYTES,
                 ) -> tuple[bytes, tuple[str, os.stat_result]] | None:
    """A file's bytes with its blob id and stat, for callers that parse what they hash;
    None when it is unreadable, larger than `limit` bytes, or not a regular file. A
    symlink is never followed: a result cached under the bytes behind a link would answer
    for the link (which the loader may refuse), and the link's refusal for those bytes."""
    try:
        fd = os.open(abs_path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size > limit or not stat.S_ISREG(st.st_mode):
            return None
        data = read_at_most(fd, limit + 1, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (data, (blob_id(data), st)) if len(data) <= limit else None
