"""A full `ailoop validate` whose every input is what the last full run read answers with
that run's findings (like make: nothing newer, nothing to do).

The inputs of a full run are: the folders it walked (the walk's stored listing holds when
every folder's stat is unchanged) and the documents found (the top-level ones are looked
up, not walked), every file it read (each one's lstat in the stat index matches), what the
cross-check saw at paths outside the walk (declared inputs, references out of the priority
folder: where each leads and what is there), what git reads besides the work tree (see
git.state: the status trust verdict asks git), the day (waivers expire by date) and what
checked (the cache's fingerprint: ailoop's code, its libraries, validators and time zone
data). A run whose rules read `now`, that read a document too young for its stat to be
trusted or too large to be hashed, or whose trust verdict has no key, stores no answer.
Checking all that is a stat per folder and per file: the per-file work, the cross-checks,
the policies and the trust verdict are all skipped.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from pipeline.cache.stat_index import stat_key
from pipeline.documents.findings import Finding

if TYPE_CHECKING:
    from pipeline.cache import ResultCache

Answer = tuple[tuple[Finding, ...], int]  # findings, files checked


def recall(root: str, cache: ResultCache, today: date, documents: Sequence[str],
           git_state: str | None) -> Answer | None:
    """The last full run's answer when none of its inputs changed; else None. Call
    after cache.documents() (the walk decides whether the folders changed). `git_state`:
    git.state(), taken before the run reads anything from git."""
    key = _key(git_state, today)
    if key is None or not cache.walk.verified:
        return None
    hit = cache.answer
    if not (isinstance(hit, tuple) and len(hit) == 5 and hit[0] == key):
        return None
    _, answer, files_read, listed, probes = hit
    if listed != _listed(documents) or not isinstance(probes, dict):
        return None
    entries = cache.index.entries
    if len(entries) != files_read:
        return None
    for rel, entry in entries.items():
        try:
            st = os.lstat(os.path.join(root, rel))
        except OSError:
            return None
        if not entry.startswith(stat_key(st)):
            return None
    if any(probe(path) != seen for path, seen in probes.items()):
        return None
    return (tuple(answer[0]), int(answer[1]))


def remember(cache: ResultCache, today: date, answer: Answer, unkept: bool,
             documents: Sequence[str], probes: Mapping[str, str], git_state: str | None
             ) -> None:
    """Store a full run's answer, when it can be recalled safely: nothing in it may not be
    kept (`unkept`: its rules read the clock, a segment could not be checked, the status
    trust verdict has no key), and the stat index holds every document and every file the
    run read, and nothing else. `probes`: what the run saw at paths outside the walk (see probe);
    `git_state`: as the run started (what git says later may not be what it read)."""
    key = _key(git_state, today)
    index = cache.index
    if key is None or unkept or not cache.enabled \
            or not index.touched <= index.entries.keys() \
            or not index.entries.keys() >= set(documents):
        # Nothing to answer with (or a file too young to trust its stat, a document too
        # large to hash: the next run must read it again). The last answer goes too: this
        # run stores new stats, and beside them it could pass for this run's.
        cache.keep_answer(None)
        return
    for rel in index.entries.keys() - index.touched:  # files gone, or no longer read
        del index.entries[rel]
        index.dirty = True
    cache.keep_answer((key, answer, len(index.entries), _listed(documents), dict(probes)))


def probe(path: str) -> str:
    """What is at a path the walk does not list, as far as a check of it can tell: where
    it leads (through any symlink on the way) and whether a file or a folder is there.
    `..` is taken before links, as resolve_inside takes it: `link/../x` is the x beside
    the link, whatever the link leads to."""
    real = os.path.realpath(os.path.normpath(path))
    try:
        kind = stat.S_IFMT(os.stat(real).st_mode)
    except OSError:
        kind = -1
    return f"{real}\0{kind}"


def _listed(documents: Sequence[str]) -> str:
    return hashlib.sha1("\0".join(documents).encode()).hexdigest()


def _key(git_state: str | None, today: date) -> str | None:
    return None if git_state is None else f"{today.isoformat()}\0{git_state}"
