"""A read-only view of where a priority stands, for updates, the dashboard and reviews.

`take_snapshot` is the shell: it reads customer, priority, status, events and evidence files.
Everything it returns is plain frozen data, so the renderers are pure functions of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.documents.layout import CUSTOMERS
from pipeline.documents.load import Document, load_document
from pipeline.errors import InputError
from pipeline.model.base import format_duration
from pipeline.model.evidence import Evidence
from pipeline.reconcile.segment_label import describe


@dataclass(frozen=True)
class EvidenceView:
    id: str
    created: datetime
    passed: bool
    pass_rate: float
    cases: int
    failed: int
    threshold: float | None
    categories: dict[str, int] = field(default_factory=dict)
    edge_cases_failing: int = 0
    fixed: tuple[str, ...] = ()
    newly_failing: tuple[str, ...] = ()
    verified: bool = True  # False: no trusted run committed it ("from the PR, not yet ...")


@dataclass(frozen=True)
class StepView:
    time: datetime
    to_stage: str | None  # None: the candidate left the stages (withdrawn, or now serving)
    percent: float
    action: str
    reason: str


@dataclass(frozen=True)
class IncidentView:
    name: str
    severity: str
    summary: str
    time: datetime
    resolved: bool


@dataclass(frozen=True)
class RoiView:
    currency: str
    expected_value: float
    expected_cost: float
    baseline_cases: int
    automation_rate: float


@dataclass(frozen=True)
class PriorityView:
    key: str
    customer: str
    customer_name: str
    name: str
    goal: str
    owner: str
    risk: str
    stages: tuple[tuple[str, float], ...]
    target: str
    phase: str
    serving: str | None  # the serving version ("1.0"); None: the existing process
    candidate: str | None  # the candidate's version, when one is out or waiting
    stage: str | None  # the candidate's stage
    percent: float  # the candidate's share of the traffic
    since: datetime | None  # when the candidate entered its stage
    history: tuple[StepView, ...]
    terminal: str | None
    terminal_reason: str
    terminal_owner: str | None
    next_check: datetime | None
    evidence: EvidenceView | None
    incidents: tuple[IncidentView, ...]
    feedback: int
    roi: RoiView | None
    gates: tuple[tuple[str, str, str, float], ...]  # name, metric, comparison, threshold
    review_cadence: str | None
    bake: tuple[tuple[str, timedelta], ...] = ()
    segmented: bool = False  # the candidate's stage serves a segment: `percent` is of it
    segment: str = ""  # that segment, short (segment_label.describe; escape it in markup)
    message: str = ""
    decision: str = ""  # the plan's next action at the same moment (the dashboard's)
    monitored: str = ""  # health from the readings the plan judged, when known

    @property
    def open_incidents(self) -> tuple[IncidentView, ...]:
        return tuple(i for i in self.incidents if not i.resolved)

    @property
    def health(self) -> str:
        if self.monitored == "failing":
            return "failing"
        if self.open_incidents or self.phase == "rolled-back":
            return "incident"
        if self.terminal == "blocked" or self.phase == "blocked":
            return "blocked"
        if self.evidence is not None and not self.evidence.passed:
            return "failing dry run"
        return "healthy" if self.stage or self.serving else "not live"


def _load(root: str, rel: str) -> Document | None:
    if not os.path.exists(os.path.join(root, rel)):
        return None
    doc, findings = load_document(root, rel)
    if doc is None:
        first = findings[0]
        raise InputError(f"{first.field}: {first.message}" if first.field else first.message,
                         path=first.path, line=first.line, col=first.col)
    return doc


def take_snapshot(root: str, key: str) -> PriorityView:
    customer, name = key.split("/", 1)
    priority = _load(root, f"{CUSTOMERS}/{key}/priority.yaml")
    if priority is None:
        raise InputError(f"unknown priority '{key}' (no {CUSTOMERS}/{key}/priority.yaml)")
    customer_doc = _load(root, f"{CUSTOMERS}/{customer}/customer.yaml")
    status_doc = _load(root, f"{CUSTOMERS}/{key}/status.yaml")
    spec = priority.model.spec
    people = {p.id: p.name for p in customer_doc.model.spec.people} if customer_doc else {}
    body = status_doc.model.status if status_doc else None
    incidents, feedback = _events(root, key)
    return PriorityView(
        key=key, customer=customer, name=name, goal=spec.goal,
        customer_name=customer_doc.model.spec.display_name if customer_doc else customer,
        owner=people.get(spec.owner, spec.owner), risk=spec.risk,
        stages=tuple((s.name, s.percent) for s in spec.rollout.stages),
        target=spec.rollout.target,
        phase=body.phase if body else "pending",
        serving=(body.serving.version or body.serving.evidence_id)
        if body and body.serving else None,
        candidate=(body.candidate.version or body.candidate.evidence_id)
        if body and body.candidate else None,
        stage=body.candidate.stage if body and body.candidate else None,
        percent=body.candidate.percent if body and body.candidate else 0.0,
        since=body.candidate.entered if body and body.candidate else None,
        segmented=bool(body and body.candidate and body.candidate.segment is not None),
        segment=describe(body.candidate.segment) if body and body.candidate else "",
        history=tuple(StepView(h.time, h.to_stage, h.percent, h.action, h.reason)
                      for h in (body.history if body else [])),
        terminal=body.terminal.state if body and body.terminal else None,
        terminal_reason=body.terminal.reason if body and body.terminal else "",
        terminal_owner=(people.get(body.terminal.owner or "", body.terminal.owner)
                        if body and body.terminal else None),
        next_check=(body.next_review or (body.terminal.next_check if body.terminal else None))
        if body else None,
        evidence=_evidence(root, key, spec.dry_run.thresholds.pass_rate
                           if spec.dry_run.thresholds else None),
        incidents=incidents, feedback=feedback, roi=_roi(spec.roi),
        gates=tuple((g.name or g.metric, g.metric, g.comparison, g.threshold)
                    for g in spec.monitoring.gates),
        review_cadence=format_duration(spec.review.cadence) if spec.review else None,
        bake=tuple((s.name, s.bake_time) for s in spec.rollout.stages),
        message=body.message if body else "",
    )


def _roi(roi: Any) -> RoiView | None:
    if roi is None:
        return None
    return RoiView(roi.currency, roi.expected.value_per_month, roi.expected.cost_per_month,
                   roi.baseline.cases_per_month, roi.expected.automation_rate)


def _events(root: str, key: str) -> tuple[tuple[IncidentView, ...], int]:
    folder = os.path.join(root, CUSTOMERS, key, "events")
    incidents: list[IncidentView] = []
    feedback = 0
    if not os.path.isdir(folder):
        return (), 0
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith((".yaml", ".yml")):
            continue
        doc = _load(root, f"{CUSTOMERS}/{key}/events/{entry}")
        if doc is None:
            continue
        if doc.kind == "Incident":
            s = doc.model.spec
            incidents.append(IncidentView(doc.model.metadata.name, s.severity, s.summary, s.time,
                                          s.resolved))
        elif doc.kind == "Feedback":
            feedback += 1
    return tuple(incidents), feedback


def _evidence(root: str, key: str, threshold: float | None) -> EvidenceView | None:
    """The newest valid evidence (every file read through its model), and whether a
    trusted run committed it."""
    from pipeline.documents.evidence import load_evidence, read_evidence
    from pipeline.trust.written import untrusted_files

    summaries = read_evidence(root, key)
    if not summaries:
        return None
    latest = summaries[-1]
    try:
        data: Evidence | None = load_evidence(root, latest.path)
        previous = load_evidence(root, summaries[-2].path) if len(summaries) > 1 else None
    except ValueError:  # changed under us since it was read: show what the summary says
        data, previous = None, None
    fixed, newly_failing = case_changes(data, previous)
    return EvidenceView(
        id=latest.evidence_id, created=latest.created, passed=latest.passed,
        pass_rate=latest.pass_rate, cases=latest.cases, failed=latest.failed,
        threshold=threshold,
        categories={c.category: c.count for c in data.failure_categories} if data else {},
        edge_cases_failing=sum(1 for c in data.cases if not c.passed
                               and "edge-case" in c.tags) if data else 0,
        fixed=fixed, newly_failing=newly_failing,
        verified=not untrusted_files(root, [latest.path]),
    )


def case_changes(data: Evidence | None, previous: Evidence | None
                 ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fixed, newly failing) between two runs. Only cases both runs have count: a case
    added since the previous run never passed before, so it is not newly failing."""
    if data is None or previous is None:
        return (), ()
    before = {c.id: c.passed for c in previous.cases}
    fixed = sorted(c.id for c in data.cases if c.passed and before.get(c.id) is False)
    newly = sorted(c.id for c in data.cases if not c.passed and before.get(c.id) is True)
    return tuple(fixed), tuple(newly)
