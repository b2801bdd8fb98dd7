"""Cached policy results, so a warm `ailoop validate` judges nothing again.

Two kinds of entries live in the validate results cache:

- the repository-wide phase (project findings, findings about policy and waiver files, the
  waivers in force), keyed by the blobs of every file outside the priority folders
  (ailoop.yaml, policies/, customer files), the list of documents and today's date, since
  waivers expire by date;
- each judged document's findings before waivers, keyed by its blob, its customer file's
  blob, the project and policy files' blobs, and the repository shape or the clock when a
  rule reads `repo` or `now`.

This module is deliberately light (no pydantic, no CEL): a fully cached run imports
nothing else. When caching is off every lookup misses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, NamedTuple

from pipeline.documents.findings import Finding
from pipeline.documents.layout import CUSTOMERS, PROJECT_FILE

if TYPE_CHECKING:
    from pipeline.cache import ResultCache

_PHASE = "\0policy-phase"
_DOCUMENT = "\0policy"


class Phase(NamedTuple):
    """The repository-wide policy results (plain data, so it can be cached)."""

    project_findings: tuple[Finding, ...]
    policy_problems: tuple[Finding, ...]
    waiver_problems: tuple[tuple[str, str, tuple[Finding, ...]], ...]
    waivers: tuple[tuple[str, str], ...]  # (rule, target) of each waiver in force
    uses: frozenset[str]  # the variables the repo rules read

    def waived(self, rule: str, key: str) -> bool:
        return any(r == rule and t in (key, key.split("/")[0]) for r, t in self.waivers)


def repo_level(documents: Iterable[str]) -> list[str]:
    """Documents outside the priority folders: what policies, waivers and the project
    settings are read from (customer files included, for waiver approvers)."""
    return [d for d in documents if not (d.startswith(CUSTOMERS + "/") and d.count("/") >= 3)]


class PolicyCache:
    def __init__(self, root: str, documents: list[str], cache: ResultCache | None,
                 blobs: dict[str, str]) -> None:
        self.root, self.documents, self.cache, self.blobs = root, documents, cache, blobs
        self.enabled = cache is not None and cache.enabled
        self.reads_now = False  # a rule read the clock: this run's answer is not kept

    def blob(self, rel: str) -> str | None:
        """The file's blob id, "-" when it does not exist, None when it cannot be read."""
        known = self.blobs.get(rel)
        if known is not None or self.cache is None:
            return known
        path = os.path.join(self.root, rel)
        if not os.path.lexists(path):
            return "-"
        return self.cache.blob_of(path, rel)

    def _key(self, *parts: str | None) -> str | None:
        if not self.enabled or any(p is None for p in parts):
            return None
        return hashlib.sha1("\0".join(p or "" for p in parts).encode()).hexdigest()

    def _files(self, rels: Iterable[str]) -> list[str | None]:
        out: list[str | None] = []
        for rel in rels:
            blob = self.blob(rel)
            out.extend((rel, blob))
        return out

    def phase(self, today: date, compute: Callable[[], Phase]) -> Phase:
        listing = hashlib.sha1("\n".join(self.documents).encode()).hexdigest()
        key = self._key("phase", today.isoformat(), listing, *self._files(
            repo_level(self.documents))) if self.enabled else None
        if key is not None and self.cache is not None:
            hit = self.cache.get(_PHASE, key)
            if isinstance(hit, Phase):
                return hit
        phase = compute()
        if key is not None and self.cache is not None:
            self.cache.put(_PHASE, key, phase)
        return phase

    def context(self, phase: Phase, now: datetime) -> str | None:
        """What every document's policy findings depend on besides its own files."""
        if not self.enabled:
            return None
        inputs = [d for d in repo_level(self.documents)
                  if d == PROJECT_FILE or not d.startswith(CUSTOMERS + "/")]
        parts: list[str | None] = ["context", *self._files(inputs)]
        if "repo" in phase.uses:
            customers = sorted({d.split("/")[1] for d in self.documents
                                if d.startswith(CUSTOMERS + "/") and d.count("/") >= 2})
            priorities = sum(1 for d in self.documents if d.endswith("/priority.yaml"))
            parts += [",".join(customers), str(priorities)]
        if "now" in phase.uses:
            self.reads_now = True
            parts.append(now.isoformat())
        return self._key(*parts)

    def _document_key(self, rel: str, key: str, context: str | None,
                      ) -> tuple[str, str, str] | None:
        """Kept as a tuple, not hashed: ten thousand of these are compared per warm run."""
        if context is None:
            return None
        blob = self.blob(rel)
        customer = self.blob(f"{CUSTOMERS}/{key.split('/')[0]}/customer.yaml")
        return None if blob is None or customer is None else (context, blob, customer)

    def document(self, rel: str, key: str, context: str | None) -> tuple[Finding, ...] | None:
        """The cached findings (before waivers) of one document, or None."""
        doc_key = self._document_key(rel, key, context)
        if doc_key is None or self.cache is None:
            return None
        hit = self.cache.get(rel + _DOCUMENT, doc_key)
        return hit if isinstance(hit, tuple) else None

    def remember(self, rel: str, key: str, context: str | None,
                 findings: Iterable[Finding]) -> None:
        doc_key = self._document_key(rel, key, context)
        if doc_key is not None and self.cache is not None:
            self.cache.put(rel + _DOCUMENT, doc_key, tuple(findings))
