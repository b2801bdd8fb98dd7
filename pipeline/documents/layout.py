"""Where each kind lives in a repository, and safe resolution of paths inside specs."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from pipeline.errors import InputError

PROJECT_FILE = "ailoop.yaml"
CUSTOMERS = "customers"
POLICIES = "policies"
EVENT_KINDS = frozenset({"Feedback", "Incident", "ReviewRequest"})
YAML_SUFFIXES = (".yaml", ".yml")
PRIORITY_FILE = "priority.yaml"
STATUS_FILE = "status.yaml"
EVIDENCE_DIR = "evidence"  # in a priority folder: what dry runs wrote
REVIEWS_DIR = "reviews"  # in a priority folder: human reviews of sampled outputs
# A priority's key: "customer/priority", each a lower-case name.
KEY_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _parts(rel: str) -> tuple[str, ...]:
    """PurePosixPath(rel).parts, without its cost for the plain paths discover makes."""
    if rel and "//" not in rel and "/." not in rel and rel[0] not in "/." and rel[-1] != "/":
        return tuple(rel.split("/"))
    return PurePosixPath(rel).parts


def expected_kinds(rel: str) -> frozenset[str] | None:
    """The kinds a repo-relative path may hold, or None when it is not a document."""
    parts = _parts(rel)
    if not rel.endswith(YAML_SUFFIXES):
        return None
    if parts == (PROJECT_FILE,):
        return frozenset({"Project"})
    if parts == ("lessons.yaml",):
        return frozenset({"Lessons"})
    if parts[0] == POLICIES:
        if len(parts) == 2:
            return frozenset({"Policy"})
        if len(parts) == 3 and parts[1] == "waivers":
            return frozenset({"Waiver"})
        return None
    if parts[0] != CUSTOMERS or len(parts) < 3:
        return None
    if len(parts) == 3:
        return {"customer.yaml": frozenset({"Customer"}),
                "lessons.yaml": frozenset({"Lessons"})}.get(parts[2])
    if len(parts) == 4:
        return {"priority.yaml": frozenset({"Priority"}),
                "status.yaml": frozenset({"Status"})}.get(parts[3])
    if len(parts) == 5 and parts[3] == "events":
        return EVENT_KINDS
    if len(parts) == 5 and parts[3] == REVIEWS_DIR:
        return frozenset({"HumanReview"})
    return None


def policies_folder_documents(documents: Iterable[str], kind: str) -> list[str]:
    """The documents of `kind` (Policy or Waiver, both kept under policies/), sorted; the
    prefix test first spares expected_kinds over every priority of a large repo."""
    return sorted(d for d in documents
                  if d.startswith(POLICIES + "/") and expected_kinds(d) == frozenset({kind}))


def customer_of(rel: str) -> str | None:
    parts = _parts(rel)
    return parts[1] if len(parts) >= 3 and parts[0] == CUSTOMERS else None


def priority_of(rel: str) -> str | None:
    """'customers/acme/triage/...' -> 'acme/triage'."""
    parts = _parts(rel)
    return f"{parts[1]}/{parts[2]}" if len(parts) >= 4 and parts[0] == CUSTOMERS else None


def priority_dir(key: str) -> str:
    return f"{CUSTOMERS}/{key}"


def review_path(key: str, stage: str, evidence_id: str) -> str:
    """Where `ailoop sample` writes the human review of STAGE for one evidence id."""
    return f"{priority_dir(key)}/{REVIEWS_DIR}/{review_name(stage, evidence_id)}.yaml"


_NAME_MAX = 63  # a document's metadata.name (pipeline.model.base.Name)


def review_name(stage: str, evidence_id: str) -> str:
    """A review's file stem and metadata.name: '<stage>-<evidenceId>', or, when a long
    stage name would make it longer than a name may be, the stage cut short with a digest
    of the whole stage name (two long stages sharing a beginning stay apart)."""
    name = f"{stage}-{evidence_id}"
    if len(name) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(stage.encode()).hexdigest()[:8]
    keep = _NAME_MAX - len(evidence_id) - len(digest) - 2
    return f"{stage[:keep].rstrip('-')}-{digest}-{evidence_id}"


def people_paths(key: str) -> list[str]:
    """Git pathspecs of what people write in a priority's folder: all of it but the status
    and the evidence the bot commits. A review binds to these, so the bot committing a
    trusted run's evidence or a new status after the merge is never "a change since the
    reviewed commit", nor the change whose pull request holds the approvals."""
    folder = priority_dir(key)
    return [folder, f":(exclude){folder}/{STATUS_FILE}", f":(exclude){folder}/{EVIDENCE_DIR}"]


# A folder's entries as (name, is a real folder); the results cache passes a cached one.
Scan = Callable[[str], list[tuple[str, bool]]]
# The subfolders (names) of a folder (repo-relative) a walk goes into; all when there is
# none. Given them at once, a walk past ten thousand priority folders to the twenty it
# needs makes a set lookup per folder, not a call.
Enter = Callable[[str, list[str]], Iterable[str]]


def scan_dir(path: str) -> list[tuple[str, bool]]:
    with os.scandir(path) as entries:
        return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]


def _walk(root: str, rel: str, depth: int, out: list[str], scan: Scan,
          enter: Enter | None = None) -> None:
    try:
        entries = scan(os.path.join(root, rel) if rel else root)
    except (FileNotFoundError, NotADirectoryError):
        return
    leaves = _PRIORITY_FILES if _is_priority_folder(rel) else None
    folders: list[str] = []
    for name, is_dir in entries:
        if is_dir:
            if depth > 0 and not name.startswith("."):
                folders.append(name)
        elif leaves is not None:
            if name in leaves:  # what expected_kinds says, without asking per file
                out.append(f"{rel}/{name}")
        elif (child := f"{rel}/{name}" if rel else name).endswith(YAML_SUFFIXES) \
                and expected_kinds(child) is not None:
            out.append(child)
    for name in folders if enter is None else enter(rel, folders):
        _walk(root, f"{rel}/{name}" if rel else name, depth - 1, out, scan, enter)


# The documents a priority folder (customers/<c>/<p>) holds directly (see expected_kinds).
_PRIORITY_FILES = frozenset({"priority.yaml", "status.yaml"})


def _is_priority_folder(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 3 and parts[0] == CUSTOMERS and all(parts) and \
        not any(p.startswith(".") for p in parts)


def discover(root: str, scan: Scan = scan_dir) -> list[str]:
    """Every document path in the repo, sorted. Symlinked folders are not followed."""
    return sorted(top_documents(root) + folder_documents(root, scan))


def top_documents(root: str) -> list[str]:
    """The documents at the top of the repository (found without listing any folder)."""
    return [name for name in (PROJECT_FILE, "lessons.yaml")
            if os.path.lexists(os.path.join(root, name))]


def folder_documents(root: str, scan: Scan = scan_dir, enter: Enter | None = None
                     ) -> list[str]:
    """The documents in policies/ and customers/, found by listing folders with `scan`
    (only those `enter` lets the walk into)."""
    out = policy_documents(root, scan)
    _walk(root, CUSTOMERS, 3, out, scan, enter)
    return out


def policy_documents(root: str, scan: Scan = scan_dir) -> list[str]:
    """The documents in policies/ (policies and waivers), found by listing with `scan`."""
    out: list[str] = []
    _walk(root, POLICIES, 1, out, scan)
    return out


def resolve_inside(root: str, base_rel: str, ref: str) -> tuple[str, str]:
    """Resolve `ref` (relative to the folder `base_rel`) and prove it stays in the repo.

    Returns (absolute path, repo-relative path). Absolute paths, `..` that leaves the repo
    and symlinks pointing outside it are refused; the file itself is never read here.
    """
    if not ref or ref.startswith(("/", "\\")) or (len(ref) > 1 and ref[1] == ":"):
        raise InputError(f"path '{ref}' must be relative to the priority folder")
    real_root = os.path.realpath(root)
    joined = os.path.normpath(os.path.join(real_root, base_rel, ref))
    if not _within(joined, real_root):
        raise InputError(f"path '{ref}' leaves the repository")
    real = os.path.realpath(joined)
    if not _within(real, real_root):
        raise InputError(f"path '{ref}' is a symlink that leaves the repository")
    return real, os.path.relpath(joined, real_root).replace(os.sep, "/")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def priority_keys(root: str) -> list[str]:
    """'customer/priority' for every folder holding a priority.yaml, sorted."""
    base = os.path.join(root, CUSTOMERS)
    try:
        customers = sorted(e.name for e in os.scandir(base)
                           if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    keys: list[str] = []
    for customer in customers:
        for entry in sorted(os.scandir(os.path.join(base, customer)), key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False) and \
                    os.path.isfile(os.path.join(entry.path, "priority.yaml")):
                keys.append(f"{customer}/{entry.name}")
    return keys


def unknown_priority(root: str, key: str) -> InputError:
    known = priority_keys(root)
    listing = ", ".join(known) if known else f"none (no {CUSTOMERS}/*/*/priority.yaml)"
    return InputError(f"no priority '{key}' (write CUSTOMER/PRIORITY); priorities: {listing}")


def find_root(start: str) -> str:
    """The nearest folder from `start` up with an ailoop.yaml (else `start`): the
    repository a command works on when -C does not say."""
    here = os.path.abspath(start)
    while True:
        if os.path.isfile(os.path.join(here, "ailoop.yaml")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return os.path.abspath(start)
        here = parent
