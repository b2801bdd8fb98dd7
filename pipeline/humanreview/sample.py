"""`ailoop sample C/P --stage S`: draw N of the candidate's outputs, stratified by tag, into
a review file people label. Outputs come from the trusted dry run of the current
fingerprint (what the labels will be bound to) and/or the candidate's production and
shadow traces (`--from traces|both`, traces.py: those of the same evidence id), and every
input and output goes through the priority's redactor, as the dry run's evidence does."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline import git
from pipeline.approvals.requirements import find_stage
from pipeline.documents.dataset import Case, parse_dataset, read_dataset
from pipeline.documents.evidence import (
    evidence_dir,
    fingerprint,
    load_evidence_file,
    spec_digest,
)
from pipeline.documents.layout import (
    PRIORITY_FILE,
    priority_dir,
    resolve_inside,
    review_name,
    review_path,
)
from pipeline.documents.load import load_document, load_priority
from pipeline.documents.yamlio import dump_yaml
from pipeline.errors import InputError
from pipeline.fsio import write_atomic
from pipeline.model.base import API_VERSION
from pipeline.model.priority import Priority
from pipeline.redact import Redactor, priority_redactor
from pipeline.trust.evidence_chain import priority_at, recorded_at, statement_path
from pipeline.trust.written import untrusted_files

UNTAGGED = "(untagged)"
DRY_RUN = "dry-run"


@dataclass(frozen=True)
class Output:
    """One output that can be drawn: already redacted."""

    case_id: str  # a trace's id for a trace
    tags: tuple[str, ...]
    source: str  # dry-run | shadow | production
    input: Any
    output: Any
    passed: bool | None  # the dry run's verdict; None: a trace has none

    @property
    def stratum(self) -> str:
        """Outputs are stratified by their first tag (a case's main category); traces carry
        no tags, so they are their own strata (shadow, production)."""
        if self.tags:
            return self.tags[0]
        return UNTAGGED if self.source == DRY_RUN else self.source


@dataclass(frozen=True)
class SampleRequest:
    key: str
    stage: str
    n: int | None  # None: the stage's humanReview.sample
    force: bool
    now: datetime
    source: str = DRY_RUN  # --from: dry-run | traces | both


@dataclass(frozen=True)
class Sampled:
    path: str  # repo-relative review file
    evidence_id: str
    drawn: dict[str, int]  # stratum -> outputs drawn
    available: int
    description: str


def allocate(sizes: Mapping[str, int], n: int) -> dict[str, int]:
    """How many to draw from each stratum: one each when N allows (else one from each of
    the N largest), the rest in proportion to what each still holds (largest remainder)."""
    names = sorted(sizes)
    if n < len(names):
        return dict.fromkeys(sorted(names, key=lambda s: (-sizes[s], s))[:n], 1)
    take = dict.fromkeys(names, 1)
    left, spare = n - len(names), sum(sizes.values()) - len(names)
    if left <= 0 or spare <= 0:
        return take
    quotas = {s: left * (sizes[s] - 1) / spare for s in names}
    for s in names:
        take[s] += int(quotas[s])
    rest = n - sum(take.values())
    for s in sorted(names, key=lambda s: (-(quotas[s] - int(quotas[s])), s)):
        if rest <= 0:
            break
        if take[s] < sizes[s]:
            take[s] += 1
            rest -= 1
    return take


def draw_seed(evidence_id: str, stage: str) -> int:
    """The draw's seed, fixed by what is reviewed: a seed of one's choice could be tried
    until a draw misses the outputs the checks get wrong. The gate draws again with it."""
    return int(hashlib.sha256(f"{evidence_id}\0{stage}".encode()).hexdigest()[:16], 16)


def complaints(root: str, key: str, until: datetime | None = None) -> dict[str, str]:
    """The case ids that negative Feedback events of priority KEY name, each with the first
    event naming it: what a customer said went wrong is always shown to the reviewers.
    UNTIL: only feedback given by then (`ailoop verify` asks about a past promotion).
    InputError when an event cannot be read (it could be such a complaint)."""
    folder = f"{priority_dir(key)}/events"
    try:
        names = sorted(os.listdir(os.path.join(root, folder)))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    named: dict[str, str] = {}
    for name in names:
        if name.startswith(".") or not name.endswith((".yaml", ".yml")):
            continue
        doc, findings = load_document(root, f"{folder}/{name}")
        if doc is None:
            raise InputError(f"an event cannot be read: {findings[0].render()}")
        if doc.kind == "Feedback" and doc.model.spec.sentiment == "negative" \
                and (until is None or doc.model.spec.time <= until):
            for case_id in doc.model.spec.case_ids:
                named.setdefault(case_id, doc.model.metadata.name)
    return named


def draw(pool: Sequence[Output], n: int, seed: int,
         required: Collection[str] = ()) -> list[Output]:
    """The outputs of the REQUIRED case ids, then N more stratified by tag; the same pool,
    N, seed and required ids always draw the same ones."""
    first = sorted((o for o in pool if o.case_id in required), key=lambda o: o.case_id)
    return first + _stratified([o for o in pool if o.case_id not in required], n, seed)


def _stratified(pool: Sequence[Output], n: int, seed: int) -> list[Output]:
    strata: dict[str, list[Output]] = {}
    for out in sorted(pool, key=lambda o: o.case_id):
        strata.setdefault(out.stratum, []).append(out)
    counts = allocate({s: len(v) for s, v in strata.items()}, n)
    rng = random.Random(seed)
    drawn: list[Output] = []
    for name in sorted(counts):
        drawn += sorted(rng.sample(strata[name], counts[name]), key=lambda o: o.case_id)
    return drawn


def describe(drawn: Sequence[Output], available: int, source: str = DRY_RUN,
             required: Mapping[str, str] | None = None) -> str:
    named = sorted(o.case_id for o in drawn if required and o.case_id in required)
    counts: dict[str, int] = {}
    for out in drawn:
        if out.case_id in named:
            continue
        counts[out.stratum] = counts.get(out.stratum, 0) + 1
    parts = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    what = {"traces": "trace outputs of the candidate",
            "both": "dry-run and trace outputs"}.get(source, "dry-run outputs")
    by = "source" if source == "traces" else "first tag"
    text = (f"{len(drawn) - len(named)} of {available - len(named)} {what}, stratified by "
            f"{by} ({parts}), drawn by the evidence id and stage")
    if named:
        events = sorted({(required or {})[c] for c in named})
        text = (f"{len(named)} named by negative feedback ({', '.join(events)}: "
                f"{', '.join(named)}) and {text}")
    return text


def review_document(key: str, stage: str, evidence_id: str, drawn: Sequence[Output],
                    description: str, req: SampleRequest) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": "HumanReview",
        "metadata": {"name": review_name(stage, evidence_id)},
        "spec": {
            "priority": key, "stage": stage, "evidenceId": evidence_id,
            "sampledAt": req.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": draw_seed(evidence_id, stage),
            "sampled": description,
            "items": [{**drawn_fields(o), "label": None, "note": ""} for o in drawn],
        },
    }


def drawn_fields(out: Output) -> dict[str, Any]:
    """What a review item says about the output it shows: written by `ailoop sample`, and
    derived again by the gate to prove a file still shows what was drawn."""
    return {"caseId": out.case_id, "tags": list(out.tags), "source": out.source,
            "input": out.input, "output": out.output,
            "automatedVerdict": "none" if out.passed is None
            else "passed" if out.passed else "failed"}


_HEADER = ("# Human review: label every output `label: correct` or `label: wrong` (a note\n"
           "# says why), then commit it as you approve (a signed commit, or a pull request\n"
           "# your role approves). README: 'Human review of sampled outputs'.\n")


def sample(root: str, req: SampleRequest) -> Sampled:
    """Write the review file; refuses (InputError) rather than write a half-true one."""
    priority = load_priority(root, req.key)
    stage = find_stage(priority, req.stage)
    n = req.n if req.n is not None else (stage.human_review.sample if stage.human_review
                                         else None)
    if n is None:
        raise InputError(f"stage '{req.stage}' of {req.key} sets no humanReview.sample: pass "
                         "--n N")
    if n < 1:
        raise InputError(f"--n must be at least 1, not {n}")
    evidence_id = fingerprint(root, req.key, priority).evidence_id
    rel = review_path(req.key, req.stage, evidence_id)
    if os.path.lexists(os.path.join(root, rel)) and not req.force:
        raise InputError(f"{rel} exists already (its labels would be lost); pass --force to "
                         "draw again")
    bound, pool = dry_run_outputs(root, req.key, evidence_id) \
        if req.source != "traces" else (on_disk(root, req.key, priority), [])
    where = f"the trusted dry run {evidence_id}"
    if req.source != DRY_RUN:
        traces_rel, traces = trace_outputs(root, req.key, bound, evidence_id)
        pool += traces
        where = f"{where} and {traces_rel}" if req.source == "both" else \
            f"{traces_rel} (the traces of {evidence_id})"
    named = complaints(root, req.key) if req.source != "traces" else {}
    required = {o.case_id for o in pool if o.source == DRY_RUN and o.case_id in named}
    others = len(pool) - len(required)
    if n > others:
        besides = f" besides the {len(required)} negative feedback names" if required else ""
        raise InputError(f"cannot draw {n} outputs: {where} holds {others}{besides}" + (
            f"; pass --n {others} or fewer" if others else ""))
    seed = draw_seed(evidence_id, req.stage)
    drawn = draw(pool, n, seed, required)
    text = describe(drawn, len(pool), req.source, named)
    doc = review_document(req.key, req.stage, evidence_id, drawn, text, req)
    target, _ = resolve_inside(root, "", rel)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_atomic(target, dump_yaml(doc, header=_HEADER))
    counts: dict[str, int] = {}
    for out in drawn:
        counts[out.stratum] = counts.get(out.stratum, 0) + 1
    return Sampled(rel, evidence_id, counts, len(pool), text)


@dataclass(frozen=True)
class Bound:
    """What a candidate's outputs are shown from: the priority (its redaction, its dataset
    reference) and the dataset's cases, as the commit that recorded its trusted evidence
    holds them. The labels are bound to that evidence, so a later edit on the branch (the
    next candidate's dataset) changes nothing about what was drawn for this one."""

    priority: Priority
    cases: dict[str, Case]
    commit: str = ""  # "": read from the work tree (a draw of traces alone, no trusted run)


def on_disk(root: str, key: str, priority: Priority) -> Bound:
    return Bound(priority, _cases(read_dataset(*_dataset_path(root, key, priority))))


def bound_to(root: str, key: str, evidence_rel: str, evidence: Mapping[str, Any]) -> Bound:
    """The priority and dataset at the commit that recorded EVIDENCE_REL (the trusted run's
    commit), each proven to be the one the run read by the digests in EVIDENCE: the last
    commit to write the file need not be the bot's (an edit of it, then its revert)."""
    commit = recorded_at(root, evidence_rel)
    if not commit:
        raise InputError(f"no commit on HEAD's first-parent history recorded {evidence_rel}")
    at, ev = commit[:12], evidence.get("id")
    found = evidence.get("fingerprint")
    digests = found if isinstance(found, Mapping) else {}
    priority = priority_at(root, commit, f"{priority_dir(key)}/{PRIORITY_FILE}")
    if isinstance(priority, str):
        raise InputError(f"{priority}, which recorded {evidence_rel}")
    if spec_digest(priority) != digests.get("spec"):
        raise InputError(f"the spec of {key} at {at} is not the spec the trusted run {ev} "
                         "read")
    _, rel = _dataset_path(root, key, priority)
    raw = git.read_file_at(root, commit, rel)
    if raw is None:
        raise InputError(f"{rel} is not in commit {at}, which recorded {evidence_rel}")
    if hashlib.sha256(raw).hexdigest() != digests.get("dataset"):
        raise InputError(f"{rel} at {at} is not the dataset the trusted run {ev} read")
    return Bound(priority, _cases(parse_dataset(raw, rel)), commit)


def dry_run_outputs(root: str, key: str, evidence_id: str) -> tuple[Bound, list[Output]]:
    """The redacted outputs of the trusted dry run of EVIDENCE_ID, with their inputs, and
    what they were derived from."""
    rel = f"{evidence_dir(key)}/{evidence_id}.json"
    if not os.path.isfile(os.path.join(root, rel)):
        raise InputError(f"no dry-run evidence for {evidence_id} (the candidate as it is on "
                         f"disk): run `ailoop dry-run {key}` on the default branch first")
    untrusted = untrusted_files(root, [rel, statement_path(rel)])
    if untrusted:
        raise InputError(f"the evidence {evidence_id} is not from a trusted run "
                         f"({next(iter(untrusted.values())).problem}); only a trusted run's "
                         "outputs are sampled, since the labels are bound to it", path=rel)
    try:
        evidence = load_evidence_file(root, rel)
    except ValueError as e:
        raise InputError(f"cannot read the evidence: {e}", path=rel) from None
    bound = bound_to(root, key, rel, evidence)
    redactor = priority_redactor(bound.priority, bound.cases.values())
    return bound, [_output(record, bound.cases, redactor)
                   for record in evidence.get("cases") or []
                   if isinstance(record, dict) and isinstance(record.get("id"), str)]


def trace_outputs(root: str, key: str, bound: Bound,
                  evidence_id: str) -> tuple[str, list[Output]]:
    """(the traces file, the redacted outputs of the candidate EVIDENCE_ID in it): a trace's
    id is its item's caseId; it has no tags and no automated verdict."""
    from pipeline.humanreview.traces import candidate_traces

    rel, traces = candidate_traces(root, key, evidence_id)
    redactor = priority_redactor(bound.priority, bound.cases.values())
    return rel, [Output(t.id, (), t.source, redactor.deep(t.input), redactor.deep(t.output),
                        None) for t in traces]


def _dataset_path(root: str, key: str, priority: Priority) -> tuple[str, str]:
    return resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)


def _cases(cases: Sequence[Case]) -> dict[str, Case]:
    return {case.id: case for case in cases}


def _output(record: dict[str, Any], cases: Mapping[str, Case], redactor: Redactor) -> Output:
    case = cases.get(record["id"])
    tags = tuple(str(t) for t in record.get("tags") or (case.tags if case else ()))
    return Output(record["id"], tags, DRY_RUN,
                  redactor.deep(case.input) if case is not None else None,
                  redactor.deep(record.get("output")), record.get("passed") is True)
