"""The documents a `--changed-since` run needs when it has no stored walk to reuse (a fresh
CI clone, or `--no-cache`): every document outside the priority folders, and those in the
priority folders the changes touch. Listing ten thousand priority folders to validate the
twenty a pull request changed would cost more than validating them.

What a change reaches is `affected_documents` (run.py): a document that changed, every
document of a priority folder that holds a change, every document of a customer whose
customer.yaml changed, and every document when ailoop.yaml or policies/ changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.documents.layout import (
    CUSTOMERS,
    POLICIES,
    PROJECT_FILE,
    Scan,
    folder_documents,
    scan_dir,
    top_documents,
)


def documents_touched(root: str, changed: Iterable[str], scan: Scan = scan_dir
                      ) -> list[str] | None:
    """The documents outside the priority folders and in the priority folders `changed`
    touches, sorted; None when a change reaches every document (then all are listed)."""
    keys: set[tuple[str, str]] = set()  # (customer, priority) folders that hold a change
    customers: set[str] = set()  # customers whose customer.yaml changed
    for path in changed:
        if path == PROJECT_FILE or path.startswith(POLICIES + "/"):
            return None
        parts = path.split("/")
        if parts[0] != CUSTOMERS:
            continue
        if len(parts) > 3:
            keys.add((parts[1], parts[2]))
        elif len(parts) == 3 and parts[2] == "customer.yaml":
            customers.add(parts[1])

    wanted: dict[str, set[str]] = {}  # customer folder -> the priority folders to list
    for customer, priority in keys:
        wanted.setdefault(f"{CUSTOMERS}/{customer}", set()).add(priority)

    def enter(rel: str, folders: list[str]) -> Iterable[str]:
        if rel.count("/") != 1 or not rel.startswith(CUSTOMERS + "/") \
                or rel[len(CUSTOMERS) + 1:] in customers:
            return folders  # policies/, customers/ and a changed customer: every folder
        names = wanted.get(rel)
        return [] if names is None else names.intersection(folders)

    return sorted(top_documents(root) + folder_documents(root, scan, enter))
