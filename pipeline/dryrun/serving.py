"""The serving version's code, for the comparison with the candidate (pipeline.dryrun.versus).

What "serving" runs comes only from what the bot recorded: the serving version named by the
status the bot last wrote (a hand edit of status.yaml is never followed), and its files from
the commit that recorded its trusted evidence, never from the work tree (which holds the
candidate, and a pull request's author controls it). The files are written to a temporary
folder, and their workflow digest must be the status's `workflowDigest` before anything
runs there. Anything that cannot be read or proven is a reason, never a guess: the
`noRegressionOn` gates then fail closed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline import git
from pipeline.documents.evidence import evidence_dir, fingerprint, workflow_digest
from pipeline.documents.layout import EVIDENCE_DIR, PRIORITY_FILE, STATUS_FILE, priority_dir
from pipeline.documents.load import load_document
from pipeline.dryrun.results import CaseResult
from pipeline.dryrun.versus import ServingRef, Versus, compare
from pipeline.errors import AiloopError
from pipeline.fsio import write_atomic
from pipeline.model.priority import Priority
from pipeline.model.status import StatusBody
from pipeline.trust.evidence_chain import recorded_at
from pipeline.trust.status import trusted_body
from pipeline.trust.written import untrusted_files

_UNKNOWN = ServingRef("?", "?", "")
_SKIPPED = (f"{EVIDENCE_DIR}/", "events/", STATUS_FILE)  # not the version's code


@dataclass(frozen=True)
class ServingCode:
    """The serving version's priority folder (and declared inputs), checked out in ROOT."""

    root: str
    priority: Priority
    commit: str


# Runs the serving version in the given root: (results in case order, runs from the cache),
# or why it could not run.
RunServing = Callable[[ServingCode, ServingRef], tuple[list[CaseResult], int] | str]


def serving_status(root: str, key: str) -> StatusBody | str | None:
    """The status the bot last wrote for KEY (None: there is none), or why it cannot be
    told. A status whose work-tree copy is not the bot's is read as the bot last wrote it."""
    rel = f"{priority_dir(key)}/{STATUS_FILE}"
    try:
        untrusted = untrusted_files(root, [rel], contents=True).get(rel)
    except AiloopError as e:
        return f"{rel} cannot be verified: {e}"
    if untrusted is not None:
        body = trusted_body(root, rel, untrusted.last_trusted)
        if body is not None:
            return body
        claimed = _work_tree_status(root, rel)
        if claimed is None or (isinstance(claimed, StatusBody) and claimed.serving is None):
            return None
        return untrusted.problem  # it may name a serving version no bot commit vouches for
    return _work_tree_status(root, rel)


def _work_tree_status(root: str, rel: str) -> StatusBody | str | None:
    if not os.path.lexists(os.path.join(root, rel)):
        return None
    doc, _ = load_document(root, rel)
    if doc is None or doc.kind != "Status":  # what is serving cannot be told: fail closed
        return f"{rel} cannot be read as a status"
    status: StatusBody = doc.model.status
    return status


def versus_serving(root: str, key: str, candidate_id: str, results: Sequence[CaseResult],
                   tags: Sequence[str], run: RunServing) -> Versus | None:
    """The comparison with the serving version (None: nothing is serving)."""
    status = serving_status(root, key)
    if isinstance(status, str):
        return Versus(_UNKNOWN, f"the serving version cannot be told: {status}")
    if status is None or status.serving is None:
        return None
    serving = ServingRef(status.serving.version, status.serving.evidence_id,
                         status.serving.workflow_digest)
    if serving.evidence_id == candidate_id:  # the same code, spec and cases: nothing moved
        return compare(serving, results, results, tags)
    try:
        with checkout(root, key, serving) as code:
            if isinstance(code, str):
                return Versus(serving, code)
            ran = run(code, serving)
    except AiloopError as e:
        return Versus(serving, f"the serving version could not run: {e}")
    if isinstance(ran, str):
        return Versus(serving, ran)
    before, reused = ran
    return compare(serving, results, before, tags, reused)


@contextmanager
def checkout(root: str, key: str, serving: ServingRef) -> Iterator[ServingCode | str]:
    """The serving version's files in a temporary folder, or why they cannot be had."""
    rel = f"{evidence_dir(key)}/{serving.evidence_id}.json"
    if not serving.workflow_digest:
        yield "the status records no workflow digest for it"
        return
    untrusted = untrusted_files(root, [rel]).get(rel)
    if untrusted is not None:
        yield f"its evidence {rel} is not a trusted run's: {untrusted.problem}"
        return
    commit = recorded_at(root, rel)
    if not commit:
        yield f"no commit on HEAD's first-parent history recorded its evidence {rel}"
        return
    with tempfile.TemporaryDirectory(prefix="ailoop-serving-") as tmp:
        yield _unpack(root, key, serving, commit, tmp)


def _unpack(root: str, key: str, serving: ServingRef, commit: str, tmp: str
            ) -> ServingCode | str:
    folder = priority_dir(key)
    at = commit[:12]
    paths = [p for p in git.list_tree(root, commit, folder)
             if not p.removeprefix(f"{folder}/").startswith(_SKIPPED)]
    if f"{folder}/{PRIORITY_FILE}" not in paths:
        return f"{folder}/{PRIORITY_FILE} is not in commit {at}, which recorded its evidence"
    _write(root, commit, paths, tmp)
    doc, _ = load_document(tmp, f"{folder}/{PRIORITY_FILE}")
    if doc is None or not isinstance(doc.model, Priority):
        return f"{folder}/{PRIORITY_FILE} at {at} cannot be read as a priority"
    priority = doc.model
    for ref in priority.spec.workflow.inputs:  # declared inputs live outside the folder
        name = ref.strip("/")
        found = git.list_tree(root, commit, name) or (
            [name] if git.read_file_at(root, commit, name) is not None else [])
        _write(root, commit, found, tmp)
    try:
        digest = workflow_digest(tmp, key, priority)
        made = fingerprint(tmp, key, priority).evidence_id
    except AiloopError as e:
        return f"its files at {at} cannot be read: {e}"
    if digest != serving.workflow_digest:
        return (f"its code at {at} does not hash to the workflow digest the status records "
                f"({digest[:12]}, not {serving.workflow_digest[:12]})")
    # The digest covers the code only: the spec (entrypoint, model, prompt) and the dataset
    # there must make the serving evidence id too, or other settings would run as serving.
    if made != serving.evidence_id:
        return (f"its spec, dataset and code at {at} make evidence {made}, not "
                f"{serving.evidence_id}")
    return ServingCode(tmp, priority, commit)


def _write(root: str, commit: str, paths: Sequence[str], tmp: str) -> None:
    for path in paths:
        raw = git.read_file_at(root, commit, path)
        if raw is None:
            continue
        write_atomic(os.path.join(tmp, *path.split("/")), raw)
