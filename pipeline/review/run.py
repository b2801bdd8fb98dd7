"""The scheduled operations review of one priority in production.

    gather (I/O)  -> ReviewInputs: spec, status, events, gate readings, ROI readings, drift
    decide (pure) -> Review: health per gate, incidents and feedback since the last
                     review, cost, ROI against the hypothesis, drift, and the terminal state
    record (I/O)  -> status.yaml written atomically and committed

The review ends in a recorded terminal state: `healthy-review` with the next check date
(now + spec.review.cadence) when nothing needs a person, else `blocked` with the priority's
owner and every issue as the reason. Anything that cannot be measured is an issue: a review
never calls a priority healthy on missing data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pipeline.documents.layout import CUSTOMERS, PROJECT_FILE, STATUS_FILE, priority_dir
from pipeline.documents.load import load_document, load_priority, load_status
from pipeline.errors import AiloopError, InputError
from pipeline.model.priority import Priority
from pipeline.model.status import Candidate, StatusBody, TerminalState, Version
from pipeline.monitoring.base import CANDIDATE, SERVING, GateReading, MonitoringSource, Variant
from pipeline.publish.update import Readings, Subject
from pipeline.reconcile.plan import EventView
from pipeline.review.roi import (
    Production,
    RoiResult,
    compare_roi,
    covered_span,
    production_from,
    roi_gates,
)

DEFAULT_CADENCE = timedelta(days=30)
DriftState = Literal["not-configured", "passed", "failed", "error"]


@dataclass(frozen=True)
class Drift:
    state: DriftState
    reason: str
    pass_rate: float | None = None
    previous_pass_rate: float | None = None


NOT_CONFIGURED = Drift("not-configured", "drift check not configured (spec.review.driftCheck)")
# (root, key, now) -> Drift: re-runs the dataset on the production version.
DriftRunner = Callable[[str, str, datetime], Drift]


@dataclass(frozen=True)
class ReviewInputs:
    key: str
    now: datetime
    priority: Priority
    status: StatusBody
    events: tuple[EventView, ...]
    readings: tuple[GateReading, ...]
    production: Production | None
    production_note: str
    drift: Drift
    status_exists: bool = True
    # status.yaml is not what the bot wrote: the review reads what the bot last wrote,
    # names the hold among its issues and records nothing.
    status_problem: str = ""


@dataclass(frozen=True)
class Review:
    key: str
    now: datetime
    since: datetime | None
    stage: str  # what is reviewed: "serving v1.0", "candidate v1.1 at canary"
    percent: float  # its share of the traffic
    owner: str
    readings: tuple[GateReading, ...]
    incidents: tuple[EventView, ...]
    open_incidents: tuple[EventView, ...]
    feedback: tuple[EventView, ...]
    production: Production | None
    production_note: str
    roi: RoiResult | None
    drift: Drift
    issues: tuple[str, ...]
    terminal: TerminalState
    next_review: datetime
    requests: tuple[EventView, ...] = field(default=())
    subject: Subject | None = None  # what was reviewed, for the customer update
    status_problem: str = ""  # the status cannot be trusted: nothing is recorded

    @property
    def healthy(self) -> bool:
        return self.terminal.state == "healthy-review"


# --- gather (I/O) -------------------------------------------------------------------------

def load_events(root: str, key: str) -> tuple[EventView, ...]:
    from pipeline.reconcile.state import event_view

    folder = f"{priority_dir(key)}/events"
    try:
        names = sorted(os.listdir(os.path.join(root, folder)))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    views = []
    for name in names:
        if name.startswith(".") or not name.endswith((".yaml", ".yml")):
            continue
        doc, findings = load_document(root, f"{folder}/{name}")
        if doc is None:  # an unreadable event could be an incident: never skip it silently
            raise InputError(f"an event cannot be read: {findings[0].render()}")
        view = event_view(doc.kind, doc.model)
        if doc.kind == "Feedback":  # the sentiment decides whether it needs a person
            view = replace(view, severity=doc.model.spec.sentiment)
        views.append(view)
    return tuple(views)


@dataclass(frozen=True)
class Exposed:
    """What production runs that the review judges: the serving version when there is
    one, else the candidate at its stage."""

    variant: Variant
    stage: str | None  # the candidate's stage (None for the serving version)
    evidence_id: str
    label: str  # "serving v1.0", "candidate v1.1 at canary"
    percent: float  # its share of the traffic
    words: Subject  # the same for the customer update


def exposed(status: StatusBody) -> Exposed | None:
    cand, serving = status.candidate, status.serving
    staged = cand if cand is not None and cand.stage is not None else None
    if serving is not None:
        share = staged.percent if staged is not None else 0
        return Exposed(SERVING, None, serving.evidence_id, f"serving {_name(serving)}",
                       100 - share, Subject(serving.version or serving.evidence_id))
    if staged is not None:
        return Exposed(CANDIDATE, staged.stage, staged.evidence_id,
                       f"candidate {_name(staged)} at {staged.stage}", staged.percent,
                       Subject(staged.version or staged.evidence_id, staged.stage))
    return None


def _covered(status: StatusBody, out: Exposed, now: datetime) -> timedelta | None:
    """How long the reviewed version has been out (None: not known, take the window)."""
    held: Version | None = status.serving if out.variant == SERVING else status.candidate
    start = held.since if held is not None else None
    if start is None and isinstance(held, Candidate):
        start = held.entered
    return now - start if start is not None else None


def _name(held: Version) -> str:
    return f"v{held.version}" if held.version else held.evidence_id


def review_period(priority: Priority) -> timedelta:
    return priority.spec.review.cadence if priority.spec.review else DEFAULT_CADENCE


def gather(root: str, key: str, now: datetime, source: MonitoringSource | None, *,
           drift: DriftRunner | None = None) -> ReviewInputs:
    """Read everything the review needs; ExternalError when monitoring is unreachable."""
    priority = load_priority(root, key)
    before, problem = _trusted_status(root, key)
    status = before or StatusBody()
    gates = list(priority.spec.monitoring.gates)
    readings: list[GateReading] = []
    production, note = None, "not in production yet (no stage reached)"
    out = exposed(status)
    if out is not None and source is not None:
        readings = source.readings(key, out.stage, gates, now, out.variant) if gates else []
        period, covered = review_period(priority), _covered(status, out, now)
        production, note = production_from(source.readings(
            key, out.stage, roi_gates(priority.spec, covered_span(period, covered)), now,
            out.variant), period, covered)
    elif source is None:
        note = "no monitoring provider is configured"
    checked = NOT_CONFIGURED
    if priority.spec.review is not None and priority.spec.review.drift_check:
        checked = drift(root, key, now) if drift else Drift("error", "no dry-run engine")
    return ReviewInputs(key, now, priority, status, load_events(root, key), tuple(readings),
                        production, note, checked, before is not None, problem)


def _trusted_status(root: str, key: str) -> tuple[StatusBody | None, str]:
    """The status as the bot last wrote it, and the hold when the file is not that."""
    from pipeline.trust.status import trusted_body, untrusted_statuses

    rel = f"{priority_dir(key)}/{STATUS_FILE}"
    found = untrusted_statuses(root, [rel], contents=True).get(rel)
    if found is None:
        return load_status(root, key), ""
    return trusted_body(root, rel, found.last_trusted), found.hold


# --- decide (pure) ------------------------------------------------------------------------

def decide(inp: ReviewInputs) -> Review:
    spec, status, now = inp.priority.spec, inp.status, inp.now
    since = status.last_review
    recent = [e for e in inp.events if since is None or e.time > since]
    incidents = tuple(e for e in recent if e.kind == "Incident")
    open_incidents = tuple(e for e in inp.events if e.kind == "Incident" and not e.resolved)
    feedback = tuple(e for e in inp.events if e.kind == "Feedback" and (
        e.name in status.pending_feedback or since is None or e.time > since))
    requests = tuple(e for e in inp.events if e.kind == "ReviewRequest"
                     and f"ReviewRequest/{e.name}" not in status.processed_events)
    roi = (compare_roi(spec.roi, inp.production, missing=inp.production_note)
           if spec.roi is not None else None)
    issues = find_issues(inp, open_incidents, feedback, roi)
    next_review = now + review_period(inp.priority)
    terminal = _terminal(issues, spec.owner, now, next_review)
    out = exposed(status)
    return Review(inp.key, now, since, out.label if out else "not in production",
                  out.percent if out else 0, spec.owner, inp.readings,
                  incidents, open_incidents, feedback, inp.production, inp.production_note,
                  roi, inp.drift, tuple(issues), terminal, next_review, requests,
                  out.words if out else None, inp.status_problem)


def find_issues(inp: ReviewInputs, open_incidents: tuple[EventView, ...],
                feedback: tuple[EventView, ...], roi: RoiResult | None) -> list[str]:
    issues: list[str] = [inp.status_problem] if inp.status_problem else []
    out = exposed(inp.status)
    if out is None:
        issues.append("not in production yet: no stage has been reached")
    elif not inp.priority.spec.monitoring.gates:
        issues.append("no monitoring gates are configured, so health cannot be shown")
    for reading in inp.readings:
        if reading.verdict != "pass":
            word = "fails" if reading.verdict == "fail" else "cannot be judged"
            issues.append(f"gate '{reading.gate}' {word}: {reading.reason}")
    issues += [f"incident {e.name} ({e.severity}) is still open: {e.summary}"
               for e in open_incidents]
    issues += [f"negative feedback {e.name} from {e.by}"
               + (f" on cases {', '.join(e.cases)}" if e.cases else "") for e in feedback
               if e.severity == "negative"]
    if roi is not None and roi.verdict == "behind" and not roi.partial:
        issues.append(f"ROI is behind the hypothesis: {roi.reason}")
    elif roi is not None and roi.verdict == "unknown" and out is not None:
        issues.append(f"ROI cannot be measured: {roi.reason}")
    if inp.drift.state in ("failed", "error"):
        issues.append(f"dry-run drift: {inp.drift.reason}")
    return issues


def _terminal(issues: list[str], owner: str, now: datetime,
              next_review: datetime) -> TerminalState:
    if not issues:
        return TerminalState(state="healthy-review", at=now, next_check=next_review,
                             reason="healthy: every gate passes, no open incidents")
    count = f"{len(issues)} issue{'s' if len(issues) != 1 else ''}"
    return TerminalState(state="blocked", at=now, owner=owner,
                         reason=f"review found {count}: " + "; ".join(issues))


def reviewed_status(before: StatusBody, review: Review) -> StatusBody:
    """The status after the review: terminal state, review dates, events taken."""
    taken = [f"ReviewRequest/{e.name}" for e in review.requests]
    processed = [*before.processed_events, *(t for t in taken
                                              if t not in before.processed_events)]
    reviewed = {e.name for e in review.feedback}
    return before.model_copy(update={
        "terminal": review.terminal, "last_review": review.now,
        "next_review": review.next_review, "processed_events": processed,
        "pending_feedback": [n for n in before.pending_feedback if n not in reviewed],
        "message": review.terminal.reason})


# --- record (I/O) -------------------------------------------------------------------------

def record(root: str, review: Review, *, commit: bool = True, push: bool = False,
           remote: str = "origin") -> str:
    """Record the reviewed status, the customer update and the ROI lesson through the
    reconciler's one commit path (bot commit with trailers, push with retry); returns the
    commit ('' when nothing changed or commit is off)."""
    from pipeline.publish.outputs import after_review
    from pipeline.reconcile.apply import (
        Attempt,
        ReconcileOptions,
        ReconcileResult,
        commit_state_change,
        status_path,
        status_text,
        status_trailers,
    )
    from pipeline.reconcile.plan import Plan
    from pipeline.trust.status import untrusted_statuses

    roi_note = (f"Review {review.now:%Y-%m-%d}: ROI {review.roi.verdict}; {review.roi.reason}"
                if review.roi is not None else None)

    def attempt(head: str) -> Attempt:
        if review.status_problem or untrusted_statuses(root, [status_path(review.key)]):
            return Attempt(ReconcileResult(Plan(())), {}, "")  # never acted on
        before = load_status(root, review.key) or StatusBody()  # the head's, after a retry
        after = reviewed_status(before, review)
        writes = {} if after == before else {status_path(review.key):
                                             status_text(review.key, after)}
        message = (f"ailoop: review {review.key}: {review.terminal.state}\n\n"
                   f"{review.terminal.reason}\n\n"
                   f"Ailoop-Priority: {review.key}\nAiloop-Action: review\n"
                   + "".join(line + "\n" for line in status_trailers(after)))
        return Attempt(ReconcileResult(Plan(())), writes, message,
                       lambda: after_review(root, review.key, review.now, roi_note,
                                            review_readings(review)))

    options = ReconcileOptions(root, review.now, push=push, remote=remote, commit=commit)
    return commit_state_change(options, attempt).commit


def review_readings(review: Review) -> Readings:
    """The readings and ROI figures this review judged, for the update it writes."""
    from pipeline.publish.update import readings_of

    observed = review.roi.observed if review.roi is not None else None
    return readings_of(review.readings, review.subject,
                       observed_value=observed.value_per_month if observed else None,
                       observed_cost=observed.cost_per_month if observed else None)


def review_is_due(status: StatusBody | None, events: tuple[EventView, ...],
                  now: datetime) -> bool:
    """Due when the next review date has passed or someone asked for one (in production)."""
    if status is None or exposed(status) is None:
        return False
    asked = any(e.kind == "ReviewRequest" and f"ReviewRequest/{e.name}"
                not in status.processed_events for e in events)
    return asked or (status.next_review is not None and now >= status.next_review)


def dry_run_drift(root: str, key: str, now: datetime) -> Drift:
    """Re-run the dataset on the production version, in a scratch copy (nothing is written
    to the repository), and compare with the evidence the rollout used."""
    from pipeline.documents.evidence import read_evidence
    from pipeline.dryrun.runner import DryRunSettings, run_dry_run

    status = load_status(root, key)
    out = exposed(status) if status else None
    used = out.evidence_id if out else None
    previous = next((e for e in read_evidence(root, key) if e.evidence_id == used), None)
    with tempfile.TemporaryDirectory(prefix="ailoop-drift-") as scratch:
        _scratch_copy(root, key, scratch)
        try:
            report = run_dry_run(DryRunSettings(root=scratch, key=key, now=now,
                                                env=dict(os.environ), use_cache=False,
                                                versus_serving=False))
        except AiloopError as e:
            return Drift("error", f"the dry run could not run: {e}")
    return drift_of(report.evidence, previous.pass_rate if previous else None)


def _scratch_copy(root: str, key: str, scratch: str) -> None:
    shutil.copy2(os.path.join(root, PROJECT_FILE), os.path.join(scratch, PROJECT_FILE))
    customer = key.split("/")[0]
    target = os.path.join(scratch, CUSTOMERS, customer)
    os.makedirs(target)
    for name in ("customer.yaml",):
        src = os.path.join(root, CUSTOMERS, customer, name)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(target, name))
    shutil.copytree(os.path.join(root, priority_dir(key)), os.path.join(scratch, priority_dir(key)),
                    symlinks=True, ignore=shutil.ignore_patterns("evidence", "__pycache__"))
    _copy_declared_inputs(root, key, scratch)


def _copy_declared_inputs(root: str, key: str, scratch: str) -> None:
    """The workflow's declared inputs, so the re-run reads what the fingerprint covers."""
    from pipeline.documents.inputs import declared_inputs, input_files

    for inp in declared_inputs(root, key, load_priority(root, key).spec.workflow):
        for rel, abs_path in input_files(inp):
            target = os.path.join(scratch, rel)
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(abs_path, target, follow_symlinks=False)


def drift_of(evidence: dict[str, Any], previous: float | None) -> Drift:
    """Pure: the re-run's evidence against the pass rate the rollout was approved on."""
    summary = evidence.get("summary", {})
    rate = float(summary.get("passRate", 0.0))
    was = "" if previous is None else f" (was {previous:.1%} when approved)"
    if not evidence.get("passed"):
        return Drift("failed", f"the dataset no longer passes on the production version: "
                     f"pass rate {rate:.1%}{was}", rate, previous)
    return Drift("passed", f"the dataset still passes: pass rate {rate:.1%}{was}", rate,
                 previous)
