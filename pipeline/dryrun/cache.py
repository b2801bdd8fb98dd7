"""Case results cache: a rerun only runs the cases whose inputs, workflow or settings changed.

Keyed by sha256 over (workflow digest, case, provider settings, checks). Stored as JSON
(never pickle: nothing read back can run code) under .git/ or the user's cache folder,
never in the work tree. Entries hold redacted results only, so no personal data lands in
the cache either. Faults that may not repeat (timeouts, crashes, unreachable) are not kept,
nor is a result whose judge could not be asked.

Only ailoop's own process writes entries, from results its workers sent over the pipe
(workflow code runs in a sandbox that cannot reach this folder). Each entry carries what
it was computed from (the evidence id and the case's digest) and is used only when both
match the run reading it. A trusted run reads no entry at all: it runs every case.

A repeated case keeps one entry per run (its repetition is part of the key), so a rerun
gets back the N runs it made, never one run counted N times.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from pipeline.cache import cache_dir
from pipeline.documents.dataset import Case
from pipeline.dryrun.results import CaseResult
from pipeline.fsio import write_atomic
from pipeline.providers.base import TRANSIENT

_VERSION = 3
MAX_CACHE_BYTES = 256 * 1024 * 1024


def read_entries(path: str, version: int) -> dict[str, Any]:
    """The entries of a JSON cache file of this VERSION; {} when it is missing, too large,
    damaged or of another version (a cache that cannot be read is no cache)."""
    try:
        if os.path.getsize(path) > MAX_CACHE_BYTES:
            return {}
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != version:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def case_hash(case: Case) -> str:
    return _digest({"id": case.id, "input": case.input, "expected": case.expected,
                    "tags": list(case.tags), "critical": case.critical})


def run_key(workflow_digest: str, provider: dict[str, Any], checks: Any) -> str:
    """Everything but the case that decides a case's result."""
    return _digest({"workflow": workflow_digest, "provider": provider, "checks": checks})


class CaseCache:
    def __init__(self, root: str, key: str, run: str, fingerprint: str, enabled: bool = True,
                 read: bool = True) -> None:
        name = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = os.path.join(cache_dir(root), "dryrun", f"{name}.json")
        self.run = run
        self.fingerprint = fingerprint
        self.enabled = enabled
        self.read = read
        self.entries: dict[str, dict[str, Any]] = self._read() if enabled and read else {}
        self.fresh: dict[str, dict[str, Any]] = {}

    def _read(self) -> dict[str, dict[str, Any]]:
        return read_entries(self.path, _VERSION)

    def _entry_key(self, case: Case, rep: int) -> str:
        # the first run keeps the key it always had: caches from before repeats stay valid
        return _digest([self.run, case_hash(case)] + ([rep] if rep else []))

    def get(self, case: Case, rep: int = 0) -> CaseResult | None:
        if not (self.enabled and self.read):
            return None
        entry = self.entries.get(self._entry_key(case, rep))
        if not isinstance(entry, dict) or entry.get("fingerprint") != self.fingerprint \
                or entry.get("case") != case_hash(case) or entry.get("run") != self.run \
                or entry.get("repetition", 0) != rep:
            return None
        try:
            return CaseResult.from_json(entry["result"], cached=True)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def put(self, case: Case, redacted: dict[str, Any], result: CaseResult,
            rep: int = 0) -> None:
        if self.enabled and result.fault not in TRANSIENT \
                and not any(c.transient for c in result.checks):
            entry = {"fingerprint": self.fingerprint, "run": self.run,
                     "case": case_hash(case), "result": redacted}
            self.fresh[self._entry_key(case, rep)] = entry | ({"repetition": rep} if rep else {})

    def keep(self, case: Case, rep: int = 0) -> None:
        key = self._entry_key(case, rep)
        if key in self.entries:
            self.fresh[key] = self.entries[key]

    def save(self) -> None:
        """Keeps this run's entries only (the cache never grows without bound)."""
        if not self.enabled or self.fresh == self.entries:
            return
        try:
            write_atomic(self.path, json.dumps({"version": _VERSION, "entries": self.fresh}))
        except OSError:
            return  # a cache: the next run runs the cases again
