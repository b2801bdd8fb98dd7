"""Folder listings reuse, like git's untracked cache.

A folder whose (mtime, ctime, inode) matches the stored listing keeps it (ctime too: rsync
-a, tar and cp -a set a folder's mtime back, nothing sets its ctime back); when every
folder the last walk listed is unchanged, and every path where it found no folder still
has none, the walk's documents are the same and a stat per folder replaces the walk.
"""

from __future__ import annotations

import os
import stat

from pipeline.cache.stat_index import settled
from pipeline.documents.layout import folder_documents, scan_dir, top_documents

Listing = list[tuple[str, bool]]  # (name, is a real folder)
# folder -> (mtime, ctime, inode), its files, its folders, its files that are not regular
Folders = dict[str, tuple[tuple[int, int, int], str, str, str]]
# The last walk: its documents, the folders it listed, the paths it found no folder at.
LastWalk = tuple[list[str], list[str], list[str]]


def _folder_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _unpack(files: str, dirs: str) -> Listing:
    """Names never hold '/', so a listing packs into two '/'-joined strings."""
    return ([(n, False) for n in files.split("/") if n]
            + [(n, True) for n in dirs.split("/") if n])


class Walk:
    def __init__(self, root: str, now: float, storing: bool = True, dirs: Folders | None = None,
                 last: LastWalk | None = None) -> None:
        """`storing`: keep this run's listings and walk for the next run (not when the
        cache is off, nor in a partial run: see ResultCache)."""
        self.root, self.now, self.storing = root, now, storing
        self.dirs: Folders = dirs if dirs is not None else {}
        self.last = last
        self.listed: dict[str, tuple[str, str, str]] = {}  # this run's: files, special, folders
        self.scanned: dict[str, bool | None] = {}  # this run's scans: settled? None: absent
        self.verified = False  # every folder of the last walk is unchanged
        self.stored = False  # this run's walk is the one stored
        self.dirty = False
        self.why_not: str | None = None  # why the last walk was not reused (for -v)

    def documents(self) -> list[str]:
        """discover()'s document paths, from the last walk while it holds."""
        if self.last is not None and self._unchanged(self.last[1], self.last[2]):
            self.verified = True
            found = list(self.last[0])
        else:
            self.why_not = "folders changed" if self.last is not None \
                else "none stored (folders changed within the racy window)"
            self.scanned = {}
            found = folder_documents(self.root, self.scan)
            # Only settled listings can be trusted later (see settled()).
            if self.storing and False not in self.scanned.values():
                self.last = (found, [p for p, v in self.scanned.items() if v],
                             [p for p, v in self.scanned.items() if v is None])
                self.stored = self.dirty = True
            elif self.storing and self.last is not None:
                # Not beside the settled listings this walk stores: a folder's new listing
                # naming a new, still unsettled subfolder would verify the last walk, which
                # never lists that subfolder (a new priority missed from then on).
                self.last, self.dirty = None, True
        return sorted(top_documents(self.root) + found)

    def _unchanged(self, folders: list[str], absent: list[str]) -> bool:
        dirs = self.dirs
        try:
            for path in folders:
                st = os.stat(path)
                known = dirs.get(path)
                if known is None or known[0] != _folder_key(st) \
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
        key = _folder_key(st)
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
        if self.scanned[path] and self.storing:
            self.dirs[path] = (key, files, dirs, special)
            self.dirty = True
        return listing

    def listing(self, folder: str) -> tuple[str, str, str] | None:
        """What this run knows `folder` (a path as given to scan) holds: its files, those
        of them that are not regular, and its folders, each '/'-joined; None when this run
        neither listed it nor verified the last walk that did."""
        known = self.listed.get(folder)
        if known is None and self.verified and folder in self.dirs:
            entry = self.dirs[folder]  # listed by the last walk, and unchanged since
            known = (entry[1], entry[3], entry[2])
        return known

    def is_regular(self, folder: str, name: str) -> bool:
        """True when this run's scan of `folder` found `name` to be a regular file: the
        cross-check then needs no lstat of its own."""
        known = self.listing(folder)
        return known is not None and name in known[0].split("/") and \
            name not in known[1].split("/")
