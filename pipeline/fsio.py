"""Crash-safe file writes: every file ailoop writes goes through here.

A write lands in a temporary file in the same folder, is flushed to disk and renamed over
the target, so a process killed at any point leaves either the old file or the new one,
never half of it. The file gets the permissions a normal write would (umask), not
mkstemp's private 0600, so CI users and web servers can read evidence and updates.
"""

from __future__ import annotations

import contextlib
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
