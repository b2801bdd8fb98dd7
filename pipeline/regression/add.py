"""`ailoop dataset add`: one production failure becomes a redacted, critical regression case
in the priority's dataset, committed on a new branch for review (never on the branch the
user is on). Everything is checked before git is touched; a failing commit leaves the user
where they were."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline import git
from pipeline.documents.dataset import (
    MAX_DATASET_BYTES,
    REGRESSION_TAG,
    Case,
    RegressionRef,
    case_digest,
    case_line,
    parse_dataset,
)
from pipeline.documents.layout import priority_dir, resolve_inside
from pipeline.documents.load import load_document, load_priority
from pipeline.errors import AiloopError, InputError
from pipeline.fsio import read_limited, write_atomic
from pipeline.model.priority import Priority
from pipeline.redact import handed_values, priority_redactor
from pipeline.regression.traces import Trace, find_trace

BRANCH_PREFIX = "ailoop/regression"
_SLUG = re.compile(r"[^a-z0-9]+")
MAX_INPUT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class AddRequest:
    key: str  # customer/priority
    incident: str = ""  # an Incident event's metadata.name
    trace: str = ""  # a trace id in TRACES_PATH
    traces_path: str = ""
    input_path: str = ""  # a JSON object, when neither the trace nor the incident has it
    expected: str = ""  # JSON text, or @FILE
    case_id: str = ""  # default: regression-<incident or trace>
    branch: str = ""  # default: ailoop/regression/<priority>/<incident or trace>


@dataclass(frozen=True)
class Added:
    key: str
    case: Case
    digest: str
    dataset: str  # repo-relative
    branch: str
    commit: str
    redacted: int  # values the redactor replaced


def add_regression_case(root: str, request: AddRequest,
                        env: Mapping[str, str] | None = None) -> Added:
    priority = load_priority(root, request.key)
    _check_reference(request)
    incident = _incident(root, request.key, request.incident) if request.incident else ""
    trace = find_trace(request.traces_path, request.trace, request.key) if request.trace \
        else None
    dataset_abs, dataset_rel = _jsonl_dataset(root, request.key, priority)
    raw = read_limited(dataset_abs, dataset_rel, MAX_DATASET_BYTES,
                       missing="dataset file does not exist", unreadable="cannot read dataset")
    cases = parse_dataset(raw, dataset_rel)
    case = _case(request, incident, trace, _expected(request.expected))
    if any(c.id == case.id for c in cases):
        raise InputError(f"case id '{case.id}' is already in the dataset; pass --id NEW-ID",
                         path=dataset_rel)
    redactor = priority_redactor(priority, [*cases, case], handed_values(env or os.environ))
    clean = Case(id=redactor.detect(case.id), input=redactor.deep(case.input),
                 expected=redactor.deep(case.expected), tags=case.tags, critical=True,
                 regression=case.regression)
    content = raw + (b"" if not raw or raw.endswith(b"\n") else b"\n") \
        + case_line(clean).encode("utf-8") + b"\n"
    parse_dataset(content, dataset_rel)  # proves the new file before anything is written
    branch = request.branch or default_branch(request.key, incident or request.trace)
    original = _ready_to_branch(root, branch)
    commit = _commit(root, branch, original, dataset_abs, dataset_rel, content,
                     _message(request.key, clean, dataset_rel))
    return Added(request.key, clean, case_digest(clean), dataset_rel, branch, commit,
                 _count_redactions(case, clean))


def _check_reference(request: AddRequest) -> None:
    if not request.incident and not request.trace:
        raise InputError("name where the case comes from: --from-incident NAME or "
                         "--from-trace ID")
    if request.trace and not request.traces_path:
        raise InputError("--from-trace needs --traces FILE (the JSONL file ailoop-runtime's "
                         "TraceStore writes)")
    if not request.expected:
        raise InputError("--expected is required: the output the workflow should have "
                         "given (JSON, or @FILE); a customer reviewer confirms it")


def _incident(root: str, key: str, name: str) -> str:
    rel_dir = f"{priority_dir(key)}/events"
    try:
        files = sorted(os.listdir(os.path.join(root, rel_dir)))
    except OSError:
        files = []
    known: list[str] = []
    for file in files:
        if not file.endswith((".yaml", ".yml")) or file.startswith("."):
            continue
        doc, _ = load_document(root, f"{rel_dir}/{file}")
        if doc is None or doc.kind != "Incident":
            continue
        known.append(doc.model.metadata.name)
        if doc.model.metadata.name == name:
            return name
    listing = ", ".join(known) if known else "none"
    raise InputError(f"no incident '{name}' in {rel_dir}/ (incidents: {listing})")


def _jsonl_dataset(root: str, key: str, priority: Priority) -> tuple[str, str]:
    abs_path, rel = resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)
    if not rel.endswith((".jsonl", ".ndjson")):
        raise InputError("regression cases are added to JSONL datasets only (a regression "
                         "case names its incident or trace); convert the dataset to JSONL",
                         path=rel)
    return abs_path, rel


def _expected(text: str) -> Any:
    source = "--expected"
    if text.startswith("@"):
        source = text[1:]
        raw = read_limited(source, source, MAX_INPUT_BYTES, missing="file does not exist",
                           unreadable="cannot read the file")
        text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{source} is not valid JSON ({e.msg} at character {e.pos}); "
                         "quote a text output as a JSON string") from None


def _input(request: AddRequest, trace: Trace | None) -> dict[str, Any]:
    if request.input_path:
        raw = read_limited(request.input_path, request.input_path, MAX_INPUT_BYTES,
                           missing="input file does not exist", unreadable="cannot read input")
        try:
            value = json.loads(raw.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as e:
            raise InputError(f"input is not valid JSON ({e.msg})",
                             path=request.input_path) from None
        if not isinstance(value, dict):
            raise InputError("input must be a JSON object (the case's input fields)",
                             path=request.input_path)
        return value
    if trace is not None:
        return trace.input
    raise InputError("the case needs its input: --input FILE (a JSON object), or "
                     "--from-trace ID to take the input of a recorded request")


def _case(request: AddRequest, incident: str, trace: Trace | None, expected: Any) -> Case:
    origin = incident or request.trace
    case_id = request.case_id or f"regression-{_slug(origin)}"
    return Case(id=case_id, input=_input(request, trace), expected=expected,
                tags=(REGRESSION_TAG,), critical=True,
                regression=RegressionRef(incident=incident, trace=request.trace))


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:60] or "case"


def default_branch(key: str, origin: str) -> str:
    return f"{BRANCH_PREFIX}/{key.split('/')[1]}/{_slug(origin)}"


def _ready_to_branch(root: str, branch: str) -> str:
    """The branch the user is on, after checking the change can go on a new branch."""
    if not git.is_work_tree(root):
        raise InputError(f"{root} is not a git work tree; the case is opened as a commit "
                         "on a new branch")
    dirty = git.dirty_paths(root, ["."], untracked=False)
    if dirty:
        more = f" and {len(dirty) - 1} more" if len(dirty) > 1 else ""
        raise InputError(f"the work tree has uncommitted changes ({dirty[0][0]}{more}); "
                         "commit or stash them first")
    if not git.valid_branch_name(root, branch):
        raise InputError(f"'{branch}' is not a valid branch name")
    if git.branch_exists(root, branch):
        raise InputError(f"branch '{branch}' already exists; pass --branch NAME or delete it")
    return git.current_branch(root)


def _commit(root: str, branch: str, original: str, dataset_abs: str, dataset_rel: str,
            content: bytes, message: str) -> str:
    git.switch_new_branch(root, branch)
    try:
        write_atomic(dataset_abs, content)
        return git.commit_as_user(root, [dataset_rel], message)
    except (AiloopError, OSError):
        git.switch_back(root, original, branch)  # -f: the half-written dataset goes too
        raise


def _message(key: str, case: Case, dataset_rel: str) -> str:
    ref = case.regression or RegressionRef()
    origin = " and ".join(f"{k} {v}" for k, v in (("incident", ref.incident),
                                                   ("trace", ref.trace)) if v)
    lines = [f"Add regression case {case.id} to {key} ({origin})", "",
             f"A critical case in {dataset_rel}, redacted. Its expected output awaits "
             "confirmation by a customer reviewer: a customer-reviewer who is not the "
             "author approves the pull request.", "",
             f"Ailoop-Regression: {case.id}", f"Ailoop-Priority: {key}"]
    if ref.incident:
        lines.append(f"Ailoop-Incident: {ref.incident}")
    if ref.trace:
        lines.append(f"Ailoop-Trace: {ref.trace}")
    return "\n".join(lines) + "\n"


def _count_redactions(before: Case, after: Case) -> int:
    text = json.dumps([after.input, after.expected], ensure_ascii=False)
    was = json.dumps([before.input, before.expected], ensure_ascii=False)
    return text.count("[redacted:") - was.count("[redacted:")
