"""The digest of a workflow's code, computed exactly as ailoop computes the `workflow` part
of an input fingerprint (and so the `workflowDigest` a flag's variant names): every `*.py`
file under the folder, in sorted relative POSIX paths, hashed as path, NUL, bytes; hidden
folders, `__pycache__` and the priority's `evidence/` and `events/` are left out."""

from __future__ import annotations

import hashlib
import os

_SKIP_TOP = frozenset({"evidence", "events", "__pycache__"})


def workflow_files(folder: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"
                       and not (rel_dir == "." and d in _SKIP_TOP)]
        out.extend(os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                   for name in filenames if name.endswith(".py"))
    return sorted(out)


def workflow_digest(folder: str) -> str:
    """sha256 hex of the workflow code installed in `folder`."""
    digest = hashlib.sha256()
    for rel in workflow_files(folder):
        digest.update(rel.encode("utf-8") + b"\0")
        with open(os.path.join(folder, rel), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()
