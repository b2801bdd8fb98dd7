"""status.yaml files the bot did not write, as findings (see pipeline.trust.status).

Only status files among the targets are checked, and with --changed-since only those that
changed (a status that did not change is as trusted as on the base), so a pull request that
touches no status.yaml pays nothing. A status deleted while its priority stays is checked
too: a deletion by anyone but the bot is refused like an edit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Mapping, Sequence, Set
from typing import TYPE_CHECKING

from pipeline.cache import cache_dir
from pipeline.documents.findings import Finding
from pipeline.documents.layout import CUSTOMERS, PRIORITY_FILE, STATUS_FILE

if TYPE_CHECKING:
    from pipeline.cache import ResultCache

_VERDICT = "\0status-trust"  # the results cache's entry for the last verdict
_ATTRIBUTES = ".gitattributes"

def trust_findings(root: str, documents: Collection[str], targets: Sequence[str],
                   changed: Collection[str] | None, cache: ResultCache,
                   blobs: Mapping[str, str], git_state: Callable[[], str | None]
                   ) -> tuple[list[Finding], bool]:
    """The findings, and whether they may be kept (False when the verdict has no key: then
    no full run's answer is kept either). BLOBS: blob ids of the files this run checked
    (the status files among them); GIT_STATE: git.state() as the run started (taken at
    the first call).

    The verdict is cached under everything it is computed from (see _verdict_key), so a
    warm run with nothing new runs no git command and parses no ailoop.yaml."""
    listed = set(documents)
    paths = statuses_to_check(listed, targets, changed)
    if not paths:
        return [], True
    present = _present(root, paths, listed, cache)
    key = _verdict_key(root, paths, blobs, present, git_state()) \
        if cache.enabled and not _attributes_nearby(root, paths, cache) else None
    if key is not None:
        hit = cache.get(_VERDICT, key)
        if hit is not None:
            return list(hit), True
    from pipeline.trust.status import untrusted_statuses  # git, the models: only on a miss

    found = untrusted_statuses(root, paths, cache=cache_dir(root) if cache.enabled else None,
                               present=present)
    findings = tuple(Finding(p, 1, 1, "", found[p].problem) for p in paths if p in found)
    if key is not None:
        cache.put(_VERDICT, key, findings)
    return list(findings), key is not None


def _attributes_nearby(root: str, paths: Sequence[str], cache: ResultCache) -> bool:
    """Whether a .gitattributes file may sit in a folder between the top folder and a
    status file (customers/, a customer's, the priority's). git applies it to the status
    (`text`, `eol` and filters change what it calls a change), and no key holds it: the
    top folder's is in git.state(), these are not. A folder this run did not list counts
    as holding one."""
    holds: dict[str, bool] = {}
    for path in paths:
        folder = os.path.dirname(path)
        while folder:
            if folder not in holds:
                listing = cache.listing(os.path.join(root, folder))
                holds[folder] = listing is None or _ATTRIBUTES in listing[0].split("/")
            if holds[folder]:
                return True
            folder = os.path.dirname(folder)
    return False

def _present(root: str, paths: Sequence[str], listed: Set[str],
             cache: ResultCache) -> set[str]:
    """Which of the status PATHS are there, from this run's walk where it listed their
    folder (20,000 lookups of their own cost a cold run 0.15 s): a document it found, or
    a folder named status.yaml (no document, yet something the bot did not write)."""
    out: set[str] = set()
    for path in paths:
        if path in listed:
            out.add(path)
            continue
        folder, name = os.path.split(path)
        listing = cache.listing(os.path.join(root, folder))
        there = os.path.lexists(os.path.join(root, path)) if listing is None \
            else name in listing[2].split("/")
        if there:
            out.add(path)
    return out


def _verdict_key(root: str, paths: Sequence[str], blobs: Mapping[str, str],
                 present: Collection[str], git_state: str | None) -> tuple[str, ...] | None:
    """What the verdict depends on: git's state (HEAD: its history, its ailoop.yaml and bot
    key; the index: what is tracked; the configuration: what git calls a change; see
    git.state), and each asked path's content and mode on disk (git sees a changed
    executable bit as a change). None when either is unknown (then nothing is cached)."""
    if git_state is None:
        return None
    parts = [git_state]
    for path in paths:
        if path in blobs:
            try:
                mode = os.lstat(os.path.join(root, path)).st_mode
            except OSError:
                return None
            parts.append(f"{path}\0{blobs[path]}\0{mode:o}")
        elif path in present:
            return None
        else:
            parts.append(f"{path}\0-")
    return (hashlib.sha1("\n".join(parts).encode()).hexdigest(),)


def statuses_to_check(existing: Set[str], targets: Sequence[str],
                      changed: Collection[str] | None) -> list[str]:
    """Status paths to verify: the target status files (those that changed, with
    --changed-since), and the status of every target priority that has none on disk
    (only one whose status.yaml changed, with --changed-since: it was deleted).
    EXISTING: the documents the walk found."""
    wanted = None if changed is None else set(changed) | _inside_status(changed)
    out: list[str] = []
    for rel in targets:
        if _is_status(rel):
            status = rel
        elif _is_priority(rel):
            status = rel[: -len(PRIORITY_FILE)] + STATUS_FILE
            if status in existing:
                continue  # a target itself when it is one
        else:
            continue
        if wanted is None or status in wanted:
            out.append(status)
    return sorted(set(out))

def _inside_status(changed: Collection[str]) -> set[str]:
    """The status paths that are folders holding a changed file: a change of theirs too (a
    folder where the bot's file goes is something the bot did not write)."""
    out = set()
    for path in changed:
        parts = path.split("/")
        if len(parts) > 4 and parts[0] == CUSTOMERS and parts[3] == STATUS_FILE:
            out.add("/".join(parts[:4]))
    return out

def _is_status(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 4 and parts[0] == CUSTOMERS and parts[3] == STATUS_FILE

def _is_priority(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 4 and parts[0] == CUSTOMERS and parts[3] == PRIORITY_FILE
