"""File stat -> blob id, like git's index, and the one racy-timestamp rule.

A file whose (mtime, ctime, size, inode) matches the index keeps its blob id. Stats younger
than the racy window are never trusted, so an edit within the same clock tick is seen.
"""

from __future__ import annotations

import os
import stat
import struct

from pipeline.cache.fingerprint import read_blob

RACY_SECONDS = 2.0
# A file's entry: its mtime_ns, ctime_ns, size and inode packed with its blob id (bytes,
# not a tuple of ints and a str: a fifth of the objects to unpickle).
_STAT = struct.Struct("<qqqQ")


def settled_ns(changed_ns: int, now: float) -> bool:
    """True when something last changed at `changed_ns` is past the racy window: a later
    change in the same clock tick would otherwise leave its stat unchanged and go unseen."""
    return now - changed_ns / 1e9 > RACY_SECONDS


def settled(st: os.stat_result, now: float) -> bool:
    return settled_ns(max(st.st_mtime_ns, st.st_ctime_ns), now)


def stat_key(st: os.stat_result) -> bytes:
    return _STAT.pack(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


class StatIndex:
    """path -> stat_key + the blob id's 20 bytes."""

    def __init__(self, entries: dict[str, bytes] | None = None, now: float = 0.0,
                 learning: bool = True) -> None:
        """`learning`: record the blob ids of files read (else the entries stay as given)."""
        self.entries: dict[str, bytes] = entries if entries is not None else {}
        self.now, self.learning = now, learning
        self.dirty = False
        self.touched: set[str] = set()  # the files this run asked about

    def blob_of(self, abs_path: str, rel: str, st: os.stat_result | None = None) -> str | None:
        """Blob id of a file (None when it cannot be read, or is not a regular file: a
        result cached for the content behind a symlink would hide that the document now is
        one, which the loader refuses). `st`: the file's lstat when the caller has it."""
        self.touched.add(rel)
        if st is None:
            try:
                st = os.lstat(abs_path)
            except OSError:
                self._forget(rel)
                return None
        if not stat.S_ISREG(st.st_mode):
            self._forget(rel)
            return None
        known = self.entries.get(rel)
        if known is not None and known[:_STAT.size] == stat_key(st):
            return known[_STAT.size:].hex()
        read = read_blob(abs_path)
        if read is None:
            self._forget(rel)
            return None
        self.remember(rel, *read)
        return read[0]

    def remember(self, rel: str, blob: str, st: os.stat_result) -> None:
        """Record a file's blob id for its stat, unless the stat is too young to trust."""
        self.touched.add(rel)
        if self.learning and settled(st, self.now):
            entry = stat_key(st) + bytes.fromhex(blob)
            if self.entries.get(rel) != entry:  # else the index need not be written again
                self.entries[rel] = entry
                self.dirty = True
        else:
            self._forget(rel)

    def unrecorded(self, rel: str) -> None:
        """This run reads `rel` and records nothing for it (its folder is a link: see
        ResultCache.in_linked_folder): its old entry goes, and no answer stands without it."""
        self.touched.add(rel)
        self._forget(rel)

    def _forget(self, rel: str) -> None:
        """A learning run that read a file, and could not record what it read, drops the
        file's old entry: kept, it would stand for this run's read, and the last full
        run's answer (pipeline.validate.memo) would be reused once a file with that old
        stat came back (a folder renamed away and back keeps inode and ctime)."""
        if self.learning and self.entries.pop(rel, None) is not None:
            self.dirty = True
