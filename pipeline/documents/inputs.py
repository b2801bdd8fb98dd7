"""A workflow's declared inputs (spec.workflow.inputs): what it may read beyond its own
folder. The sandbox mounts exactly these, and the fingerprint covers every file in them, so
nothing a workflow reads can change without changing the evidence id."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, NamedTuple

from pipeline.documents.layout import priority_dir, resolve_inside
from pipeline.errors import InputError

if TYPE_CHECKING:  # validate imports this module without pulling in pydantic
    from pipeline.model.priority import Workflow

_SKIP_DIRS = frozenset({"__pycache__", ".git"})


class DeclaredInput(NamedTuple):
    rel: str  # repository-relative, as the spec names it (no trailing slash)
    source: str  # the real path on disk (symlinks resolved)
    target: str  # where the workflow sees it: the repository's real root joined with rel
    is_dir: bool

    def covers(self, rel: str) -> bool:
        return rel == self.rel or (self.is_dir and rel.startswith(self.rel + "/"))


def declared_inputs(root: str, key: str, workflow: Workflow) -> tuple[DeclaredInput, ...]:
    """Every declared input, resolved and proven to exist inside the repository."""
    found: list[DeclaredInput] = []
    for i, ref in enumerate(workflow.inputs):
        try:
            found.append(resolve_input(root, ref))
            clash = overlap(key, found[-1].rel)
            if clash:
                raise InputError(clash)
        except InputError as e:
            raise InputError(f"spec.workflow.inputs[{i}]: {e.detail}",
                             path=f"{priority_dir(key)}/priority.yaml") from None
    return tuple(found)


def resolve_input(root: str, ref: str) -> DeclaredInput:
    source, rel = resolve_inside(root, "", ref)
    if rel.split("/")[0] == ".git" or rel == ".":
        raise InputError(f"'{ref}' is not a file or folder a workflow may read")
    if not os.path.exists(source):
        raise InputError(f"'{rel}' does not exist")
    return DeclaredInput(rel, source, os.path.join(os.path.realpath(root), rel),
                         os.path.isdir(source))


def overlap(key: str, rel: str) -> str | None:
    """Why an input may not be where it is: its files are in the fingerprint, and the
    priority's evidence and events change with every run."""
    folder = priority_dir(key)
    if folder == rel or folder.startswith(rel + "/"):
        return (f"'{rel}' holds the priority folder itself, whose evidence changes with every "
                "run: name the files or folders the workflow reads")
    for changing in ("evidence", "events", "status.yaml"):
        place = f"{folder}/{changing}"
        if rel == place or rel.startswith(place + "/"):
            return f"'{rel}' changes with every run; a workflow does not read it"
    return None


def input_files(declared: DeclaredInput) -> list[tuple[str, str]]:
    """(repository-relative path, absolute path) of every file in an input, sorted; folder
    symlinks are not followed (the sandbox does not mount what they point at either)."""
    if not declared.is_dir:
        return [(declared.rel, declared.source)]
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(declared.source):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        rel_dir = os.path.relpath(dirpath, declared.source)
        for name in filenames:
            if name.endswith(".pyc"):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
            out.append((f"{declared.rel}/{rel}", os.path.join(dirpath, name)))
    return sorted(out)


def file_digest(abs_path: str) -> bytes:
    """A file's content, or for a symlink the text it points at (never what is outside)."""
    if os.path.islink(abs_path):
        return b"symlink:" + os.readlink(abs_path).encode("utf-8", "surrogateescape")
    digest = hashlib.sha256()
    with open(abs_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def inputs_digest(inputs: tuple[DeclaredInput, ...]) -> str:
    """sha256 over every file of every input: path NUL sha256(content), sorted by path."""
    digest = hashlib.sha256()
    files = sorted({rel: path for inp in inputs for rel, path in input_files(inp)}.items())
    for rel, path in files:
        digest.update(rel.encode("utf-8") + b"\0")
        try:
            digest.update(file_digest(path))
        except OSError as e:
            raise InputError(f"cannot read declared input: {e.strerror}", path=rel) from None
    return digest.hexdigest()


def outside_reason(key: str, rel: str, inputs: tuple[DeclaredInput, ...]) -> str | None:
    """Why a file the workflow is evaluated on may not be where it is, or None when it is
    in the priority folder or in a declared input."""
    folder = priority_dir(key)
    if rel.startswith(folder + "/") or any(inp.covers(rel) for inp in inputs):
        return None
    return (f"'{rel}' is outside the priority folder: declare it (or its folder) in "
            "spec.workflow.inputs")
