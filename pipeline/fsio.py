"""File I/O at the edge: bounded reads, and crash-safe writes for every file ailoop writes.

A write lands in a temporary file in the same folder, is flushed to disk and renamed over
the target, so a process killed at any point leaves either the old file or the new one,
never half of it. The file gets the permissions a normal write would (umask), not
mkstemp's private 0600, so CI users and web servers can read evidence and updates.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _default_mode()
TEMP_PREFIX = ".tmp-ailoop-"


def write_atomic(path: str, content: str | bytes) -> None:
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_limited(abs_path: str, rel: str, limit: int, *, missing: str, unreadable: str) -> bytes:
    """At most limit + 1 bytes (so the caller can tell "too large"); InputError naming the
    file when it is missing or cannot be read."""
    from pipeline.errors import InputError

    try:
        with open(abs_path, "rb") as fh:
            return read_at_most(fh.fileno(), limit + 1)
    except FileNotFoundError:
        raise InputError(missing, path=rel) from None
    except OSError as e:
        raise InputError(f"{unreadable}: {e.strerror}", path=rel) from None


def read_at_most(fd: int, most: int, size: int | None = None) -> bytes:
    """Up to `most` bytes from `fd`, in reads the size of the file (`size`, or its fstat):
    a buffered read(most) first allocates `most` bytes (64 MiB for a dataset), which cost
    two thirds of reading a small document. The file may grow meanwhile: read to its end."""
    if size is None:
        size = os.fstat(fd).st_size
    step = size + 1 if size else io.DEFAULT_BUFFER_SIZE  # a size of 0 may not be the truth
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = os.read(fd, min(left, step))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def stamp(path: str) -> str:
    """What a file's or folder's stat says of its version (mtime, size, inode), "-" when
    nothing is there: a cache key part for files read by others (git, zoneinfo)."""
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"
