"""The candidate's production and shadow outputs, from the traces ailoop-runtime's
TraceStore appends to its JSONL file (`spec.monitoring.traces` in ailoop.yaml, the file
pipeline/monitoring/shadow.py summarises), for `ailoop sample --from traces|both` and for
the gate that finds each sampled trace again.

Only the candidate's traces count: a shadow run beside the serving version, or a request
the candidate variant served, whose evidence id (the flag's, recorded by the runtime) is
the candidate's. A version string alone could name other code; a failed run has no output
to label.

Traces are production data the service writes, not something a pull request may write: the
file is read as shadow.py reads it (inside the repository, bounded, lines that are not
traces skipped), and when it is tracked by git it counts only as a trusted bot commit wrote
it (pipeline.trust.written), since a pull request can commit any content there. Left
untracked (the documented setup: copied beside the readings where ailoop runs), no pull
request can change it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pipeline import git
from pipeline.documents.layout import PROJECT_FILE, resolve_inside
from pipeline.documents.load import load_document
from pipeline.errors import InputError
from pipeline.model.project import Project
from pipeline.monitoring.shadow import trace_lines, trace_record
from pipeline.trust.written import untrusted_files

# What the runtime records for a candidate run that answered (agree/disagree beside an AI
# serving version, unjudged beside the existing process); anything else is an error text.
_ANSWERED = ("agree", "disagree", "unjudged")


@dataclass(frozen=True)
class CandidateTrace:
    id: str
    source: str  # shadow | production
    input: Any  # as recorded: not redacted yet
    output: Any


def traces_file(root: str) -> str:
    """The repository-relative traces file ailoop.yaml names; InputError when none."""
    doc, findings = load_document(root, PROJECT_FILE)
    if doc is None or not isinstance(doc.model, Project):
        raise InputError(findings[0].render() if findings else f"{PROJECT_FILE}: unreadable")
    rel = doc.model.spec.monitoring.traces
    if not rel:
        raise InputError("ailoop.yaml sets no spec.monitoring.traces (the JSONL file "
                         "ailoop-runtime's TraceStore writes): nothing to sample traces from",
                         path=PROJECT_FILE)
    return rel


def candidate_traces(root: str, key: str, evidence_id: str) -> tuple[str, list[CandidateTrace]]:
    """(the traces file, the candidate's answered traces in it, oldest first); InputError
    when the file is not set, missing, unreadable or committed by anyone but the bot."""
    rel = traces_file(root)
    path, rel = resolve_inside(root, ".", rel)
    if not os.path.isfile(path):
        raise InputError(f"no traces file {rel} (ailoop.yaml spec.monitoring.traces): copy "
                         "the file the service's TraceStore writes there")
    if git.tracked(root, [rel]):
        untrusted = untrusted_files(root, [rel])
        if untrusted:
            raise InputError(f"{rel} is committed, and not by the bot "
                             f"({next(iter(untrusted.values())).problem}); traces are "
                             "production data the service writes: keep the file out of git "
                             "(it is copied where ailoop runs), since a pull request could "
                             "write any trace into a committed one")
    try:
        lines = trace_lines(path)
    except OSError as e:
        raise InputError(f"cannot read the traces file: {e.strerror}", path=rel) from None
    records = (trace_record(line) for line in lines)
    found = (_candidate(r, key, evidence_id) for r in records if r is not None)
    return rel, [t for t in found if t is not None]


def _candidate(record: dict[str, Any], key: str, evidence_id: str) -> CandidateTrace | None:
    trace = record.get("trace")
    if record.get("priority") != key or not isinstance(trace, str) or not trace \
            or record.get("error"):
        return None
    shadow, serving = record.get("shadow"), record.get("serving")
    if isinstance(shadow, dict) and shadow.get("evidenceId") == evidence_id \
            and record.get("agreement") in _ANSWERED:
        return CandidateTrace(trace, "shadow", record.get("input"), shadow.get("output"))
    if record.get("variant") == "candidate" and isinstance(serving, dict) \
            and serving.get("evidenceId") == evidence_id:
        return CandidateTrace(trace, "production", record.get("input"), serving.get("output"))
    return None
