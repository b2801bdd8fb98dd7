"""status.yaml files the bot did not write, as findings (see pipeline.trust.status).

Only status files among the targets are checked, and with --changed-since only those that
changed (a status that did not change is as trusted as on the base), so a pull request that
touches no status.yaml pays nothing. A status deleted while its priority stays is checked
too: a deletion by anyone but the bot is refused like an edit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pipeline.documents.findings import Finding
from pipeline.documents.layout import CUSTOMERS, PRIORITY_FILE, STATUS_FILE
from pipeline.trust.status import untrusted_statuses


def trust_findings(root: str, documents: Collection[str], targets: Sequence[str],
                   changed: Collection[str] | None, cache: str | None) -> list[Finding]:
    """CACHE: the folder where commits found good are kept (None: check them all)."""
    paths = statuses_to_check(documents, targets, changed)
    found = untrusted_statuses(root, paths, cache=cache)
    return [Finding(path, 1, 1, "", found[path].problem) for path in paths if path in found]


def statuses_to_check(documents: Collection[str], targets: Sequence[str],
                      changed: Collection[str] | None) -> list[str]:
    """Status paths to verify: the target status files (those that changed, with
    --changed-since), and the status of every target priority that has none on disk
    (only one whose status.yaml changed, with --changed-since: it was deleted)."""
    existing = set(documents)
    wanted = set(changed) if changed is not None else None
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


def _is_status(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 4 and parts[0] == CUSTOMERS and parts[3] == STATUS_FILE


def _is_priority(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 4 and parts[0] == CUSTOMERS and parts[3] == PRIORITY_FILE
