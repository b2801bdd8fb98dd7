"""The links of one evidence file's chain (DESIGN.md, "Trust"), past who committed it: the
evidence and its in-toto statement agree, and the files of the commit that recorded them
hash to the digests both name. `ailoop verify`, the reconciler before a promotion and
`ailoop evidence commit` judge a statement with these functions, so all three agree.

A problem is one sentence naming what disagrees ("" when the link holds). Reading is
bounded and symlinks are refused (pipeline.documents.evidence.read_evidence_bytes).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from pipeline import git
from pipeline.documents.evidence import (
    evidence_id_of,
    json_object,
    read_evidence_bytes,
    spec_digest,
)
from pipeline.documents.layout import EVIDENCE_DIR, PRIORITY_FILE, priority_dir

if TYPE_CHECKING:  # pydantic and the models: only once a document is parsed
    from pipeline.model.evidence import Evidence
    from pipeline.model.priority import Priority

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"
STATEMENT_SUFFIX = ".intoto.json"
SPEC_SUBJECT = f"{PRIORITY_FILE}#spec"  # the spec's canonical digest, not the file's bytes
_SKIPPED = (f"{EVIDENCE_DIR}/", "events/")  # as pipeline.documents.evidence.workflow_files


def statement_path(evidence_rel: str) -> str:
    return evidence_rel.removesuffix(".json") + STATEMENT_SUFFIX


def read_statement(root: str, evidence_rel: str) -> dict[str, Any] | str:
    """The in-toto statement next to an evidence file, or why it cannot be read."""
    rel = statement_path(evidence_rel)
    try:
        return json_object(read_evidence_bytes(root, rel), "its in-toto statement")
    except ValueError as e:
        reason = str(e).replace("evidence file", "statement").replace("cannot read evidence",
                                                                      "cannot be read")
        return f"{rel}: {reason}"


def statement_problem(statement: dict[str, Any], evidence: Evidence, evidence_rel: str) -> str:
    """Whether STATEMENT says what EVIDENCE says: about this evidence file and priority,
    the same result and cases, and the spec and dataset digests of its fingerprint."""
    predicate = statement.get("predicate")
    if statement.get("_type") != STATEMENT_TYPE or not isinstance(predicate, dict) \
            or statement.get("predicateType") != TEST_RESULT_PREDICATE:
        return f"its in-toto statement is not a {STATEMENT_TYPE} with a test-result predicate"
    wanted = [{"name": evidence_rel, "annotations": {"evidenceId": evidence.id,
                                                     "priority": evidence.priority}}]
    if predicate.get("configuration") != wanted:
        return f"its in-toto statement is not about {evidence_rel} ({evidence.id})"
    if predicate.get("result") != ("PASSED" if evidence.passed else "FAILED"):
        return "its in-toto statement's result disagrees with the evidence"
    passed = sorted(c.id for c in evidence.cases if c.passed)
    failed = sorted(c.id for c in evidence.cases if not c.passed)
    if _ids(predicate.get("passedTests")) != passed or _ids(predicate.get("failedTests")) != failed:
        return "its in-toto statement's cases disagree with the evidence"
    subjects = subject_digests(statement)
    if isinstance(subjects, str):
        return subjects
    fp = evidence.fingerprint
    if evidence_id_of(fp.spec, fp.dataset, fp.workflow) != evidence.id:
        return f"the evidence's fingerprint digests do not make its id {evidence.id}"
    spec = subjects.get(f"{priority_dir(evidence.priority)}/{SPEC_SUBJECT}")
    if spec != fp.spec or fp.dataset not in subjects.values():
        return "its in-toto statement's spec or dataset digest is not the evidence's"
    return ""


def _ids(value: object) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return sorted(value)


def subject_digests(statement: dict[str, Any]) -> dict[str, str] | str:
    """{subject name: sha256} of a statement, or why its subjects cannot be read."""
    subjects = statement.get("subject")
    out: dict[str, str] = {}
    for item in subjects if isinstance(subjects, list) else [None]:
        digest = item.get("digest") if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(name, str) or not isinstance(sha, str):
            return "its in-toto statement's subjects are not name and sha256 digest pairs"
        out[name] = sha
    return out


def recorded_at(root: str, evidence_rel: str) -> str:
    """The commit that last wrote an evidence file on HEAD's first-parent history ("" when
    none did): for trusted evidence, the trusted run's commit, whose tree holds the files
    the run read."""
    # The newest only: git stops at it instead of walking the whole history (the reconciler
    # asks this for every priority whose trusted evidence could promote).
    commits = git.first_parent_shas(root, "HEAD", pathspecs=[f":(literal){evidence_rel}"],
                                    limit=1)
    return commits[0] if commits else ""


def files_problem(root: str, commit: str, statement: dict[str, Any], key: str) -> str:
    """Whether the files at COMMIT hash to the statement's subject digests, and the
    statement names every workflow file of the priority folder there (a file left out
    would run unseen)."""
    subjects = subject_digests(statement)
    if isinstance(subjects, str):
        return subjects
    folder = priority_dir(key)
    for name, sha in sorted(subjects.items()):
        problem = _subject_problem(root, commit, name, sha, folder)
        if problem:
            return problem
    for rel in git.list_tree(root, commit, folder):
        inside = rel.removeprefix(f"{folder}/")
        if rel.endswith(".py") and not inside.startswith(_SKIPPED) and rel not in subjects:
            return f"{rel} at {commit[:12]} is not among the files the dry run recorded"
    return ""


def _subject_problem(root: str, commit: str, name: str, sha: str, folder: str) -> str:
    at = commit[:12]
    if name == f"{folder}/{SPEC_SUBJECT}":
        return _spec_problem(root, commit, f"{folder}/{PRIORITY_FILE}", sha)
    raw = git.read_file_at(root, commit, name)
    if raw is None:
        return f"{name} is not in commit {at}, yet the dry run recorded it"
    if hashlib.sha256(raw).hexdigest() != sha:
        return f"{name} at {at} does not hash to the digest the dry run recorded"
    return ""


def _spec_problem(root: str, commit: str, rel: str, sha: str) -> str:
    priority = priority_at(root, commit, rel)
    if isinstance(priority, str):
        return priority
    if spec_digest(priority) != sha:
        return f"the spec in {rel} at {commit[:12]} is not the one the dry run recorded"
    return ""


def priority_at(root: str, commit: str, rel: str) -> Priority | str:
    """The priority file REL as COMMIT holds it, or why it cannot be read there."""
    from pipeline.documents.load import load_document
    from pipeline.model.priority import Priority

    raw = git.read_file_at(root, commit, rel)
    doc, _ = load_document(root, rel, raw=raw) if raw is not None else (None, [])
    if doc is None or not isinstance(doc.model, Priority):
        return f"{rel} at {commit[:12]} cannot be read as a priority"
    return doc.model


def chain_problem(root: str, key: str, evidence_rel: str) -> str:
    """The first broken link past who committed EVIDENCE_REL ("" when none): the evidence
    fits its model, its statement agrees with it, and the files of the commit that
    recorded them hash to the statement's digests."""
    from pipeline.documents.evidence import load_evidence

    try:
        evidence = load_evidence(root, evidence_rel)
    except ValueError as e:
        return f"{evidence_rel}: {e}"
    statement = read_statement(root, evidence_rel)
    if isinstance(statement, str):
        return statement
    problem = statement_problem(statement, evidence, evidence_rel)
    if problem:
        return problem
    commit = recorded_at(root, evidence_rel)
    if not commit:
        return f"no commit on HEAD's first-parent history wrote {evidence_rel}"
    return files_problem(root, commit, statement, key)
