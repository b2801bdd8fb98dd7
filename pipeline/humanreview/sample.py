"""`ailoop sample C/P --stage S`: draw N of the candidate's outputs, stratified by tag, into
a review file people label. Only outputs of a trusted dry run of the current fingerprint
are drawn (what the labels will be bound to), and every input and output goes through the
priority's redactor, as the dry run's evidence does."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.approvals.requirements import find_stage
from pipeline.documents.dataset import Case, read_dataset
from pipeline.documents.evidence import evidence_dir, fingerprint, load_evidence_file
from pipeline.documents.layout import priority_dir, resolve_inside, review_path
from pipeline.documents.load import load_priority
from pipeline.documents.yamlio import dump_yaml
from pipeline.errors import InputError
from pipeline.fsio import write_atomic
from pipeline.model.base import API_VERSION
from pipeline.model.priority import Priority
from pipeline.redact import Redactor, priority_redactor
from pipeline.trust.evidence_chain import statement_path
from pipeline.trust.written import untrusted_files

UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class Output:
    """One output that can be drawn: already redacted."""

    case_id: str
    tags: tuple[str, ...]
    source: str  # dry-run | shadow | production
    input: Any
    output: Any
    passed: bool

    @property
    def stratum(self) -> str:
        """Outputs are stratified by their first tag (a case's main category)."""
        return self.tags[0] if self.tags else UNTAGGED


@dataclass(frozen=True)
class SampleRequest:
    key: str
    stage: str
    n: int | None  # None: the stage's humanReview.sample
    seed: int
    force: bool
    now: datetime


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


def draw(pool: Sequence[Output], n: int, seed: int) -> list[Output]:
    """N outputs stratified by tag; the same pool, N and seed always draw the same ones."""
    strata: dict[str, list[Output]] = {}
    for out in sorted(pool, key=lambda o: o.case_id):
        strata.setdefault(out.stratum, []).append(out)
    counts = allocate({s: len(v) for s, v in strata.items()}, n)
    rng = random.Random(seed)
    drawn: list[Output] = []
    for name in sorted(counts):
        drawn += sorted(rng.sample(strata[name], counts[name]), key=lambda o: o.case_id)
    return drawn


def describe(drawn: Sequence[Output], available: int, seed: int) -> str:
    counts: dict[str, int] = {}
    for out in drawn:
        counts[out.stratum] = counts.get(out.stratum, 0) + 1
    parts = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    return (f"{len(drawn)} of {available} dry-run outputs, stratified by first tag "
            f"({parts}), seed {seed}")


def review_document(key: str, stage: str, evidence_id: str, drawn: Sequence[Output],
                    description: str, req: SampleRequest) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION, "kind": "HumanReview",
        "metadata": {"name": f"{stage}-{evidence_id}"},
        "spec": {
            "priority": key, "stage": stage, "evidenceId": evidence_id,
            "sampledAt": req.now.strftime("%Y-%m-%dT%H:%M:%SZ"), "seed": req.seed,
            "sampled": description,
            "items": [{**drawn_fields(o), "label": None, "note": ""} for o in drawn],
        },
    }


def drawn_fields(out: Output) -> dict[str, Any]:
    """What a review item says about the output it shows: written by `ailoop sample`, and
    derived again by the gate to prove a file still shows what was drawn."""
    return {"caseId": out.case_id, "tags": list(out.tags), "source": out.source,
            "input": out.input, "output": out.output,
            "automatedVerdict": "passed" if out.passed else "failed"}


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
    pool = dry_run_outputs(root, req.key, priority, evidence_id)
    if n > len(pool):
        raise InputError(f"cannot draw {n} outputs: the trusted dry run {evidence_id} holds "
                         f"{len(pool)}; pass --n {len(pool)} or fewer")
    drawn = draw(pool, n, req.seed)
    text = describe(drawn, len(pool), req.seed)
    doc = review_document(req.key, req.stage, evidence_id, drawn, text, req)
    target, _ = resolve_inside(root, "", rel)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_atomic(target, dump_yaml(doc, header=_HEADER))
    counts: dict[str, int] = {}
    for out in drawn:
        counts[out.stratum] = counts.get(out.stratum, 0) + 1
    return Sampled(rel, evidence_id, counts, len(pool), text)


def dry_run_outputs(root: str, key: str, priority: Priority,
                    evidence_id: str) -> list[Output]:
    """The redacted outputs of the trusted dry run of EVIDENCE_ID, with their inputs."""
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
    cases = _dataset(root, key, priority)
    redactor = priority_redactor(priority, cases.values())
    return [_output(record, cases, redactor) for record in evidence.get("cases") or []
            if isinstance(record, dict) and isinstance(record.get("id"), str)]


def _dataset(root: str, key: str, priority: Priority) -> dict[str, Case]:
    abs_path, rel = resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)
    return {case.id: case for case in read_dataset(abs_path, rel)}


def _output(record: dict[str, Any], cases: Mapping[str, Case], redactor: Redactor) -> Output:
    case = cases.get(record["id"])
    tags = tuple(str(t) for t in record.get("tags") or (case.tags if case else ()))
    return Output(record["id"], tags, "dry-run",
                  redactor.deep(case.input) if case is not None else None,
                  redactor.deep(record.get("output")), record.get("passed") is True)
