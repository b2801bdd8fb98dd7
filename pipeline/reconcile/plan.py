"""The planner: a pure function from the repository's state to what the reconciler does next.

    plan(inputs, now) -> Plan

Each priority has at most one **serving** version (it completed a rollout; none means the
customer's existing process) and at most one **candidate** (the version walking the
stages). A stage's percent is the candidate's share of the traffic; the rest goes to the
serving version. The candidate's identity is its input fingerprint (the evidence id): the
workflow code, the dataset and the spec fields the dry run evaluates. The rules (the README
section "The reconciler" has the diagram):

* a new fingerprint never gets traffic by itself: an in-flight candidate is replaced, its
  traffic returns to the serving version, and the new candidate starts at the first stage;
* the candidate moves at most one stage per reconcile, toward `rollout.target`, and only
  with passing evidence for its fingerprint, the next stage's approvals bound to that
  fingerprint, the current stage baked and its monitoring gates passing;
* it becomes the serving version after the bake time of a 100 % target stage, with every
  gate of that stage passing; nothing else ever replaces the serving version; a stage with
  a segment (`targeting`) never completes, even at 100 %;
* a candidate carries the segment of the stage it entered; a segment changed under it
  needs the stage's approvals again (given after it entered), else it holds;
* anything missing, stale or unreadable holds: never promote on missing data;
* a lowered target, a new incident or failing monitoring rolls the candidate back at once;
  a monitoring rollback opens an incident; a rollback holds until the incident is resolved
  or a new version arrives, and the fix cycle ends in `issue-fixed`;
* an incident turned into regression cases (`ailoop dataset add`) is fixed only by a version
  whose dry run ran those cases and passed them; a regression case holds the candidate until
  a customer reviewer who did not write it confirmed its expected output.

The recorded phase and terminal state always say what is true after the plan. No I/O
happens here: the clock and every input come in as arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.approvals.base import Approval
from pipeline.humanreview.verdict import ReviewVerdict, ReviewView, Setting, judge
from pipeline.model.evidence import UNVERIFIED
from pipeline.model.status import (
    ApprovalUsed,
    Candidate,
    ConfirmedCase,
    Rollback,
    StatusBody,
    TerminalState,
    Transition,
    Version,
)
from pipeline.monitoring.base import GateReading

ANY_STAGE = "*"  # as pipeline.approvals.requirements.ANY_STAGE (the planner imports no I/O)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
MAX_HISTORY = 100
SIDE_KINDS = frozenset({"record-feedback", "release", "review-due", "open-incident",
                        "confirm-case"})
# Who confirms a regression case's expected output, and the stage of a signed confirmation
# (`ailoop approve C/P --case ID`); a pull request review approves every stage ("*").
CONFIRMING_ROLE = "customer-reviewer"
CASE_STAGE = "case:"
# Phases a transient hold (bake time, monitoring still collecting) leaves as they are, so a
# waiting priority does not flip its status back and forth between reconciles.
_WAITING = frozenset({"progressing", "awaiting-approval", "holding"})
# The prefix of the Incident events the reconciler opens itself (a monitoring rollback).
MONITORING_INCIDENT = "ailoop-monitoring-"


@dataclass(frozen=True)
class StageView:
    name: str
    percent: float
    bake_time: timedelta  # effective: already raised to the project minimum for high risk
    # (roles, count): `count` different people, each holding one of `roles`; the stage's own
    # approvals plus the guardrails (risk-officer for high risk, a human for exposed actions)
    approvals: tuple[tuple[tuple[str, ...], int], ...] = ()
    human_review: Setting | None = None  # labelled outputs needed before entering it
    # The stage's targeting rule as canonical JSON (sorted keys), "" without one: the
    # percent is then the candidate's share inside that segment only.
    segment: str = ""

    @property
    def segment_rule(self) -> dict[str, Any] | None:
        return json.loads(self.segment) if self.segment else None


def segment_text(rule: Mapping[str, Any] | None) -> str:
    """A segment as StageView holds it, so that two rules compare by content."""
    return json.dumps(rule, sort_keys=True) if rule is not None else ""


@dataclass(frozen=True)
class SpecView:
    """The parts of a Priority the planner needs, as plain data."""

    owner: str
    target: str
    stages: tuple[StageView, ...]
    gates: tuple[str, ...] = ()
    reaction: str = "rollback"
    review_cadence: timedelta | None = None
    workflow_version: str = ""

    def index(self, stage: str | None) -> int | None:
        for i, s in enumerate(self.stages):
            if s.name == stage:
                return i
        return None

    def completes(self, index: int) -> bool:
        """A candidate at this stage becomes the serving version once it has baked: the
        stage sends it all the traffic. Not at a stage with a segment, even at 100 %: it
        has only ever served that segment, and becoming serving would hand it everyone."""
        stage = self.stages[index]
        return stage.percent >= 100 and not stage.segment


@dataclass(frozen=True)
class EventView:
    kind: str  # Feedback | Incident | ReviewRequest
    name: str
    time: datetime
    severity: str = ""
    resolved: bool = False
    summary: str = ""
    by: str = ""
    cases: tuple[str, ...] = ()  # the dataset cases a Feedback names (caseIds)

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class EvidenceView:
    evidence_id: str
    passed: bool
    pass_rate: float
    cases: int
    failed: int
    path: str = ""
    regression: tuple[tuple[str, bool], ...] = ()  # (case id, passed) of regression cases
    # The first broken link of its chain past who committed it (`ailoop verify`; "": none).
    broken: str = ""
    # The serving evidence id its noRegressionOn gates were measured against ("": nothing
    # was serving; None: it has none).
    compared_with: str | None = None


@dataclass(frozen=True)
class RegressionView:
    """A regression case in the dataset on disk."""

    case: str
    digest: str  # of its input and expected output (what a confirmation binds to)
    incident: str = ""
    authors: tuple[str, ...] = ()  # person ids of who wrote or changed it: never its confirmer


@dataclass(frozen=True)
class PriorityInput:
    key: str
    spec: SpecView | None
    status: StatusBody = field(default_factory=StatusBody)
    problems: tuple[str, ...] = ()  # the spec or status cannot be read or trusted: hold
    evidence_id: str | None = None  # the input fingerprint on disk (None: cannot compute)
    evidence_problem: str = ""
    # Evidence whose id == evidence_id that a trusted run committed (it counts), and the one
    # in the work tree when anyone else wrote it (shown, "from the PR, not yet verified").
    evidence: EvidenceView | None = None
    version: str = ""  # spec.workflow.version on disk
    workflow_digest: str = ""  # sha256 of the workflow code on disk
    approvals: tuple[Approval, ...] | None = None  # None: not loaded or unreachable
    approvals_problem: str = ""
    reviews: tuple[ReviewView, ...] | None = ()  # human reviews; None: unreadable
    reviews_problem: str = ""
    # For the candidate at its recorded stage (or the serving version when there is none).
    readings: tuple[GateReading, ...] | None = None
    readings_problem: str = ""
    unreachable: tuple[str, ...] = ()  # external systems that failed ("approvals", ...)
    events: tuple[EventView, ...] = ()
    roles: Mapping[str, int] | None = None  # role -> people holding it in customer.yaml
    head: str = ""  # the commit this state was read from
    # Errors `ailoop validate` reports for this priority: hold every move up, never a rollback.
    findings: tuple[str, ...] = ()
    regression: tuple[RegressionView, ...] = ()
    # Why a governance change that landed unapproved holds every move up ("" when none).
    governance: str = ""
    unverified: EvidenceView | None = None


@dataclass(frozen=True)
class Action:
    key: str
    # promote, complete, rollback, replace, withdraw, hold, dry-run-needed, await-approval,
    # blocked, none; side notes: record-feedback, release, review-due, open-incident
    kind: str
    gate: str  # evidence, approval, bake-time, monitoring, incident, target, review, spec
    reason: str
    from_stage: str | None = None
    from_percent: float = 0
    to_stage: str | None = None
    to_percent: float = 0
    inputs: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return f"{self.key}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"priority": self.key, "kind": self.kind, "gate": self.gate,
                "reason": self.reason, "from": {"stage": self.from_stage,
                                                "percent": self.from_percent},
                "to": {"stage": self.to_stage, "percent": self.to_percent},
                "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class PriorityPlan:
    key: str
    actions: tuple[Action, ...]
    before: StatusBody
    status: StatusBody
    # What monitoring said at this moment (about the candidate at its stage, else the
    # serving version): every reporter of this plan shows these, never a second reading.
    readings: tuple[GateReading, ...] | None = None

    @property
    def changed(self) -> bool:
        return self.status != self.before

    @property
    def primary(self) -> Action:
        """The action that decides the rollout (not a side note like recorded feedback)."""
        main = [a for a in self.actions if a.kind not in SIDE_KINDS]
        return main[0] if main else self.actions[0]


@dataclass(frozen=True)
class Plan:
    priorities: tuple[PriorityPlan, ...]

    @property
    def changes(self) -> list[PriorityPlan]:
        return [p for p in self.priorities if p.changed]

    @property
    def actions(self) -> list[Action]:
        return [a for p in self.priorities for a in p.actions]


def plan(inputs: Iterable[PriorityInput], now: datetime) -> Plan:
    """What the reconciler does for every priority at `now`; pure."""
    return Plan(tuple(plan_priority(i, now) for i in inputs))


def plan_priority(inp: PriorityInput, now: datetime) -> PriorityPlan:
    if inp.spec is None or inp.problems:
        reason = "holds: " + ("; ".join(inp.problems) or "the priority cannot be read")
        action = Action(inp.key, "hold", "spec", reason)
        return PriorityPlan(inp.key, (action,), inp.status, inp.status, inp.readings)
    work = _Work(inp, inp.spec, now)
    _take_events(work)
    _note_regression_cases(work)
    _released_by_a_new_version(work)
    _follow_fingerprint(work)  # even after an incident: the candidate is what is on disk
    _lowered_target(work)  # a human asked for less traffic: always
    _failed_run_takes_traffic(work)  # whatever else holds or moves
    for step in (_unknown_fingerprint, _hold_after_rollback, _rollout):
        if work.done:
            break
        step(work)
    _review(work)
    _settle_terminal(work)
    _quiet_when_nothing_happened(work)
    return PriorityPlan(inp.key, tuple(work.actions), inp.status, work.status, inp.readings)


class _Work:
    """One priority being planned: the status as it evolves and the actions so far."""

    def __init__(self, inp: PriorityInput, spec: SpecView, now: datetime) -> None:
        self.inp, self.spec, self.now = inp, spec, now
        self.status = inp.status
        self.actions: list[Action] = []
        self.done = False

    @property
    def candidate(self) -> Candidate | None:
        return self.status.candidate

    @property
    def current(self) -> int | None:
        """The candidate's stage index (None: no candidate, or not at a stage yet)."""
        cand = self.status.candidate
        return None if cand is None else self.spec.index(cand.stage)

    @property
    def readings(self) -> tuple[GateReading, ...] | None:
        """The readings, when they are about the candidate where it stands now (they were
        read for the candidate and stage recorded before this plan)."""
        before, now = self.inp.status.candidate, self.status.candidate
        same = (before is not None and now is not None and before.stage is not None
                and (before.evidence_id, before.stage) == (now.evidence_id, now.stage))
        return self.inp.readings if same else None

    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def update_candidate(self, **changes: Any) -> None:
        assert self.status.candidate is not None
        self.update(candidate=self.status.candidate.model_copy(update=changes))

    def label(self, index: int | None) -> str:
        if index is None:
            return "not started"
        stage = self.spec.stages[index]
        return f"{stage.name} {_pct(stage.percent)}"

    def where(self) -> str:
        cand = self.status.candidate
        if cand is not None and cand.stage is not None:
            return f"{_version(cand)} at {cand.stage} {_pct(cand.percent)}"
        serving = self.status.serving
        return f"serving {_version(serving)}" if serving else "not started"

    def act(self, kind: str, gate: str, reason: str, *, to: int | None = None,
            inputs: Mapping[str, str] | None = None, final: bool = True) -> None:
        """Record an action from where the candidate stood to `to` (default: where it is)."""
        origin = self.inp.status.candidate
        start = (origin.stage, origin.percent) if origin is not None else (None, 0.0)
        if to is not None:
            dest: tuple[str | None, float] = (self.spec.stages[to].name,
                                              self.spec.stages[to].percent)
        else:
            cand = self.status.candidate
            dest = (cand.stage, cand.percent) if cand is not None else (None, 0.0)
        self.actions.append(Action(self.inp.key, kind, gate, reason, start[0], start[1],
                                   dest[0], dest[1], tuple(sorted((inputs or {}).items()))))
        self.done = self.done or final

    def processed(self, event_id: str) -> bool:
        return event_id in self.status.processed_events

    def mark(self, event_id: str) -> None:
        if not self.processed(event_id):
            self.update(processed_events=[*self.status.processed_events, event_id])

    def record(self, action: str, reason: str, frm: str | None, to: str | None,
               percent: float, version: str) -> None:
        entry = Transition.model_validate({
            "time": self.now, "from": frm, "to": to, "percent": percent, "action": action,
            "reason": reason, "commit": self.inp.head[:12], "version": version})
        self.update(history=[*self.status.history, entry][-MAX_HISTORY:])

    def move(self, to: int, action: str, reason: str, phase: str) -> None:
        """Send the candidate to stage `to` now, recording the transition."""
        cand = self.status.candidate
        assert cand is not None
        stage = self.spec.stages[to]
        self.record(action, reason, cand.stage, stage.name, stage.percent, cand.version)
        self.update_candidate(stage=stage.name, percent=stage.percent, entered=self.now,
                              segment=stage.segment_rule)
        self.update(phase=phase)

    def unstage(self, reason: str, phase: str) -> None:
        """Take all traffic from the candidate but keep it (it may come back)."""
        cand = self.status.candidate
        assert cand is not None
        self.record("rollback", reason, cand.stage, None, 0, cand.version)
        self.update_candidate(stage=None, percent=0, entered=None, segment=None)
        self.update(phase=phase)

    def withdraw(self, reason: str) -> None:
        """Take the candidate away: its traffic returns to the serving version."""
        cand = self.status.candidate
        if cand is not None and cand.stage is not None:
            self.record("withdraw", reason, cand.stage, None, 0, cand.version)
        self.update(candidate=None)

    def terminal(self, state: str, reason: str, *, owner: str | None = None,
                 next_check: datetime | None = None, stage: str | None = None) -> None:
        old = self.status.terminal
        if old is not None and (old.state, old.reason, old.owner, old.stage) == \
                (state, reason, owner, stage):
            return  # already recorded: keep its time so a re-plan changes nothing
        self.update(terminal=TerminalState.model_validate(
            {"state": state, "at": self.now, "reason": reason, "owner": owner,
             "nextCheck": next_check, "stage": stage}))

    def block(self, reason: str, gate: str, release: str) -> None:
        self.update(phase="blocked")
        self.terminal("blocked", f"{reason}; to release: {release}", owner=self.spec.owner)
        self.act("blocked", gate, f"blocked (owner {self.spec.owner}): {reason}; to "
                 f"release: {release}", inputs={"owner": self.spec.owner})

    def waiting_phase(self) -> str:
        return self.status.phase if self.status.phase in _WAITING else "progressing"


# --- events -------------------------------------------------------------------------------

def _take_events(w: _Work) -> None:
    events = sorted(w.inp.events, key=lambda e: (e.time, e.name))
    for event in events:
        if event.kind == "Feedback" and not w.processed(event.id):
            w.mark(event.id)
            w.update(pending_feedback=[*w.status.pending_feedback, event.name])
            w.act("record-feedback", "review",
                  f"attaches feedback {event.name} to the next review", final=False)
    for event in events:
        if event.kind == "Incident" and event.resolved:
            _incident_resolved(w, event)
    fresh = [e for e in events if e.kind == "Incident" and not e.resolved
             and not w.processed(e.id)]
    if fresh:
        worst = max(fresh, key=lambda e: (SEVERITY_RANK.get(e.severity, 3), e.time))
        for event in fresh:
            w.mark(event.id)
        _incident(w, worst)


def _incident_resolved(w: _Work, event: EventView) -> None:
    done_id = f"{event.id}#resolved"
    if w.processed(done_id):
        return
    w.mark(event.id)  # an incident filed already resolved never acts
    w.mark(done_id)
    record = w.status.rollback
    if record is not None and record.incident == event.name and not record.released:
        w.update(rollback=record.model_copy(update={"released": True}))
        if w.status.phase in ("rolled-back", "blocked", "holding"):
            w.update(phase="progressing")
        w.act("release", "incident",
              f"incident {event.name} resolved: the rollback hold is released", final=False,
              inputs={"incident": event.name})


def _incident(w: _Work, event: EventView) -> None:
    """A new incident rolls the candidate back (by severity); without a candidate at a
    stage it concerns the serving version, which nothing can replace but a fix: hold."""
    rank = SEVERITY_RANK.get(event.severity, 3)
    here = w.current
    why = f"incident {event.name} severity {event.severity}"
    release = f"mark incident {event.name} resolved, or ship a fix (a new version)"
    to = None if here is None else (0 if rank >= 2 else max(here - 1, 0))
    if here is not None and to == here == 0 and rank >= 2 and w.spec.stages[0].percent > 0:
        # High or critical at a first stage with traffic: no stage below, so all of it.
        _record_rollback(w, "incident", event.name, here, None, _exposed_evidence(w))
        w.unstage(why, "rolled-back")
        _held(w)
        w.act("rollback", "incident", f"takes all traffic from {_version(w.candidate)}: {why}; "
              f"to release: {release}", inputs={"incident": event.name})
        return
    if here is None or to is None or rank == 0 or to >= here:
        # Nothing to move: the hold below (_hold_after_rollback) keeps it where it is.
        _record_rollback(w, "incident", event.name, here, here, _exposed_evidence(w))
        w.update(phase="holding")
        _held(w)
        return
    _record_rollback(w, "incident", event.name, here, to, _exposed_evidence(w))
    w.move(to, "rollback", why, "rolled-back")
    _held(w)
    w.act("rollback", "incident", f"rolls back to {w.label(to)}: {why}; to release: {release}",
          inputs={"incident": event.name})


def _exposed_evidence(w: _Work) -> str | None:
    """The fingerprint a rollback holds: the candidate's when it has traffic; else what is
    on disk when the incident arrived, so only a version that comes after it (the fix)
    releases the hold, not a candidate that was already waiting."""
    cand = w.status.candidate
    if cand is not None and cand.stage is not None:
        return cand.evidence_id
    if w.inp.evidence_id is not None:
        return w.inp.evidence_id
    return w.status.serving.evidence_id if w.status.serving else None


def _record_rollback(w: _Work, cause: str, incident: str | None, here: int | None,
                     to: int | None, evidence: str | None) -> None:
    names = [None if i is None else w.spec.stages[i].name for i in (here, to)]
    old = w.status.rollback
    cases = old.regression_cases if old is not None and old.incident == incident else []
    w.update(rollback=Rollback.model_validate({
        "cause": cause, "incident": incident, "at": w.now, "from": names[0], "to": names[1],
        "evidenceId": evidence, "regressionCases": cases}))


def _note_regression_cases(w: _Work) -> None:
    """Regression cases made from the incident a rollback holds for join its fix cycle.
    Once in status (which only the bot writes), a pull request that drops a case from the
    dataset does not drop the requirement."""
    record = w.status.rollback
    if record is None or record.incident is None:
        return
    found = sorted({r.case for r in w.inp.regression if r.incident == record.incident}
                   | set(record.regression_cases))
    if found != record.regression_cases:
        w.update(rollback=record.model_copy(update={"regression_cases": found}))


def _regression_shortfall(w: _Work, record: Rollback) -> str:
    """Why the version on disk is not (yet) the fix of the rollback's incident: "" when its
    dry run ran every regression case made from the incident and each passed."""
    if not record.regression_cases:
        return ""
    fp, ev = w.inp.evidence_id, w.inp.evidence
    names = ", ".join(record.regression_cases)
    if ev is None or ev.evidence_id != fp:
        return (f"no dry run of {fp} yet (run `ailoop dry-run {w.inp.key}`): it must run "
                f"regression case {names}")
    results = dict(ev.regression)
    missing = [c for c in record.regression_cases if c not in results]
    if missing:
        return (f"the dry run of {fp} has no result for regression case {', '.join(missing)} "
                f"of incident {record.incident}")
    failed = [c for c in record.regression_cases if not results[c]]
    if failed:
        return (f"regression case {', '.join(failed)} of incident {record.incident} failed "
                f"in the dry run of {fp}")
    return ""


# --- serving and candidate ----------------------------------------------------------------

def _follow_fingerprint(w: _Work) -> None:
    """Make the candidate the version on disk. A new fingerprint never gets traffic by
    itself: the candidate it replaces gives its traffic back to the serving version."""
    fp = w.inp.evidence_id
    if fp is None:
        return  # nothing to follow: _unknown_fingerprint holds
    serving, cand = w.status.serving, w.status.candidate
    if serving is not None and fp == serving.evidence_id:
        _fill_in(w, "serving")
        if cand is not None:
            w.withdraw(f"the spec is back to the serving version {_version(serving)}")
            w.update(phase="holding" if _held_back(w) else "complete")
            w.act("withdraw", "fingerprint", f"withdraws candidate {_version(cand)}: the spec "
                  f"is back to the serving version {_version(serving)}, which carries all "
                  "traffic")
        return
    if cand is not None and cand.evidence_id == fp:
        _fill_in(w, "candidate")
        return
    new = Candidate.model_validate({"version": w.inp.version, "evidenceId": fp,
                                    "workflowDigest": w.inp.workflow_digest, "since": w.now})
    if cand is not None:
        back = f"the serving version {_version(serving)}" if serving else \
            "the existing process"
        why = (f"the workflow, dataset or spec changed ({cand.evidence_id} -> {fp}): "
               f"candidate {_version(cand)} is replaced by {_version(new)}")
        w.withdraw(why)
        w.update(candidate=new, phase="dry-run")
        w.act("replace", "fingerprint", f"{why}; its traffic returns to {back}; the new "
              "candidate starts at the first stage", final=False,
              inputs={"evidence": fp, "replaced": cand.evidence_id})
        w.done = False  # what was decided for the old candidate is moot: judge the new one
        return
    w.update(candidate=new)


def _fill_in(w: _Work, which: str) -> None:
    """A status migrated from the old format does not know the version and code digest;
    the version on disk has the same fingerprint, so it has the same ones."""
    held: Version | None = getattr(w.status, which)
    if held is None or (held.version and held.workflow_digest):
        return
    changes = {"version": held.version or w.inp.version,
               "workflow_digest": held.workflow_digest or w.inp.workflow_digest}
    w.update(**{which: held.model_copy(update=changes)})


def _failed_run_takes_traffic(w: _Work) -> None:
    """A failing dry run of the candidate that is out never keeps its traffic, held or
    not, whatever else this plan decided."""
    cand, ev = w.candidate, w.inp.evidence
    if cand is None or cand.stage is None or ev is None or ev.evidence_id != cand.evidence_id \
            or ev.passed:
        return
    why = f"dry run {ev.evidence_id} failed ({ev.failed} of {ev.cases} cases, pass rate " \
          f"{ev.pass_rate:.0%})"
    if _held_back(w):
        record = w.status.rollback
        assert record is not None
        _record_rollback(w, record.cause, record.incident, w.current, None,
                         record.evidence_id)
        w.unstage(why, "rolled-back")
        _held(w)
        w.act("rollback", "evidence", f"takes all traffic from {_version(cand)}: {why}")
        return
    w.unstage(why, "blocked")
    w.block(why, "evidence", "fix the workflow or spec and rerun the dry run")


def _lowered_target(w: _Work) -> None:
    """A lower target rolls the candidate back at once, even during a rollback hold: a
    human asked for it."""
    target = w.spec.index(w.spec.target)
    if w.current is None or target is None or w.current <= target:
        return
    why = f"rollout.target lowered to {w.spec.stages[target].name}"
    held = w.status.rollback is not None and not w.status.rollback.released
    w.move(target, "rollback", why, "rolled-back" if held else "complete")
    # Not final: the gates below still judge the new stage (e.g. evidence gone stale).
    w.act("rollback", "target", f"rolls back to {w.label(target)}: {why}", final=False)


def _unknown_fingerprint(w: _Work) -> None:
    """Without an input fingerprint nothing can be judged: hold. But failing monitoring
    still rolls back first (an unreadable dataset reference must not keep traffic on a
    failing candidate), and a lowered target, decided before, leads the plan."""
    if w.inp.evidence_id is not None:
        return
    if not _held_back(w):  # as in `_rollout`: a rollback hold already took the traffic down
        _failing_monitoring(w, 0)  # (its target argument is not used)
        if w.done:
            return
    w.act("hold", "evidence", f"holds at {w.where()}: the input fingerprint cannot be "
          f"computed ({w.inp.evidence_problem or 'unknown'}); to release: fix the "
          "dataset or workflow reference")


def _held_back(w: _Work) -> bool:
    return w.status.rollback is not None and not w.status.rollback.released


def _released_by_a_new_version(w: _Work) -> None:
    record = w.status.rollback
    if record is None or record.released or w.inp.evidence_id is None \
            or w.inp.evidence_id == record.evidence_id:
        return
    if _regression_shortfall(w, record):
        return  # _hold_after_rollback says why this version is not the fix
    passed = (f"its dry run passed regression case {', '.join(record.regression_cases)}; "
              if record.regression_cases else "")
    w.update(rollback=record.model_copy(update={"released": True}))
    w.act("release", "evidence", f"a new version ({w.inp.evidence_id}) is the fix: {passed}"
          "the rollback hold is released", final=False)


def _hold_after_rollback(w: _Work) -> None:
    record = w.status.rollback
    if record is None or record.released:
        return
    # Only data newer than the rollback: what it acted on must not act again (a re-plan on
    # the same readings changes nothing); new failing data at the lower stage still does.
    failing = [r for r in w.readings or () if r.verdict == "fail"
               and (r.observed_at is None or r.observed_at > record.at)]
    here = w.current
    if failing and here is not None and w.spec.stages[here].percent > 0:
        # Unhealthy while held, with traffic: no traffic at all.
        _record_rollback(w, record.cause, record.incident, here, None, record.evidence_id)
        w.unstage(f"monitoring gate '{failing[0].gate}' fails ({failing[0].reason}) while "
                  "a rollback holds", "rolled-back")
        _held(w)
        w.act("rollback", "monitoring", f"takes all traffic from {_version(w.candidate)}: "
              f"monitoring gate '{failing[0].gate}' fails while a rollback holds",
              inputs={"gate": failing[0].gate})
        return
    if w.status.phase not in ("rolled-back", "holding"):
        w.update(phase="rolled-back" if record.from_stage != record.to_stage else "holding")
    why = _held(w)
    new = w.inp.evidence_id is not None and w.inp.evidence_id != record.evidence_id
    short = _regression_shortfall(w, record) if new else ""
    w.act("hold", record.cause, f"holds at {w.where()}: {why}"
          + (f" (the new version is not the fix yet: {short})" if short else ""),
          inputs={"rollback": record.incident or record.cause})


def _held(w: _Work) -> str:
    """The terminal state while a rollback holds, the same from the first run on, so a
    re-plan changes nothing. Returns its reason."""
    record = w.status.rollback
    assert record is not None
    fix = (f"ship a fix whose dry run passes regression case "
           f"{', '.join(record.regression_cases)}" if record.regression_cases
           else "ship a fix (a new version)")
    release = f"mark incident {record.incident} resolved, or {fix}" if record.incident else fix
    what = "held" if record.from_stage == record.to_stage else "rolled back"
    why = (f"{what} after {record.cause}" + (f" {record.incident}" if record.incident else "")
           + f"; to release: {release}")
    w.terminal("blocked", why, owner=w.spec.owner)
    return why


# --- the stage machine --------------------------------------------------------------------

def _rollout(w: _Work) -> None:
    if w.candidate is None:
        _steady(w)
        return
    target = w.spec.index(w.spec.target)
    if target is None:
        w.act("hold", "target", f"holds: rollout.target '{w.spec.target}' is not a stage; to "
              "release: name one of rollout.stages")
        return
    if w.candidate.stage is not None and w.current is None:
        w.act("hold", "target", f"holds: the candidate's stage '{w.candidate.stage}' is no "
              "longer in rollout.stages; to release: restore it or lower rollout.target")
        return
    # The segment gate comes after the spec, governance and evidence gates: a new segment
    # reaches production only from a priority that validates, with trusted evidence.
    for step in (_failing_monitoring, _governance_gate, _findings_gate, _evidence_gate,
                 _regression_gate, _segment_gate, _at_target, _bake_gate, _monitoring_gate,
                 _roles_gate, _approval_gate, _human_review_gate, _promote):
        step(w, target)
        if w.done:
            return


def _steady(w: _Work) -> None:
    """No candidate: the serving version carries all traffic."""
    serving = w.status.serving
    if serving is None:
        return
    if w.status.phase != "complete":
        w.update(phase="complete")
    w.act("none", "target", f"serving {_version(serving)} carries all traffic: nothing to do")


def _failing_monitoring(w: _Work, target: int) -> None:
    failing = [r for r in w.readings or () if r.verdict == "fail"]
    here = w.current
    if here is None or not failing:
        return
    first = failing[0]
    why = f"monitoring gate '{first.gate}' fails ({first.reason})"
    if w.spec.reaction != "rollback":
        w.update(phase="holding")
        w.act("hold", "monitoring", f"holds at {w.label(here)}: {why}; to release: fix it or "
              "lower rollout.target", inputs={"gate": first.gate})
        return
    name = monitoring_incident_name(first.gate, w.now)
    w.mark(f"Incident/{name}")
    to = max(here - 1, 0)
    unstage = to == here and w.spec.stages[here].percent > 0  # no lower stage: no traffic
    # The record says where the candidate went (nowhere when unstaged), so the terminal
    # state reads "rolled back", not "held", when all its traffic was taken.
    _record_rollback(w, "monitoring", name, here, None if unstage else to,
                     w.candidate.evidence_id if w.candidate else None)
    w.act("open-incident", "monitoring", f"opens incident {name}: {why}", final=False,
          inputs={"incident": name, "gate": first.gate, "readings": _readings_text(failing)})
    release = f"mark incident {name} resolved, or ship a fix (a new version)"
    _held(w)
    if unstage:
        w.unstage(why, "rolled-back")
        w.act("rollback", "monitoring", f"takes all traffic from {_version(w.candidate)}: "
              f"{why}; to release: {release}", inputs={"gate": first.gate, "incident": name})
        return
    if to == here:
        w.update(phase="holding")
        w.act("hold", "monitoring", f"holds at {w.label(here)}: {why}; to release: {release}",
              inputs={"gate": first.gate, "incident": name})
        return
    w.move(to, "rollback", why, "rolled-back")
    w.act("rollback", "monitoring", f"rolls back to {w.label(to)}: {why}; to release: "
          f"{release}", inputs={"gate": first.gate, "incident": name})


def monitoring_incident_name(gate: str, now: datetime) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", gate.lower()).strip("-")[:40] or "gate"
    return f"{MONITORING_INCIDENT}{slug}-{now.astimezone(UTC):%Y%m%d-%H%M}"


def _readings_text(readings: list[GateReading]) -> str:
    return "; ".join(f"{r.gate}: {r.reason}" for r in readings)


def _segment_gate(w: _Work, target: int) -> None:
    """The segment of the stage in flight changed in the spec: who gets the candidate would
    change, so it needs the stage's approvals again, given after the candidate entered the
    stage (a review of the pull request that changed it counts). With them the candidate
    enters the stage again with the new segment (its bake time starts again); without them
    it holds on the segment it entered with, which the flag keeps serving."""
    here, cand = w.current, w.candidate
    if here is None or cand is None:
        return
    stage = w.spec.stages[here]
    if segment_text(cand.segment) == stage.segment:
        return
    entered = cand.entered
    fresh = [a for a in w.inp.approvals or () if entered is not None and a.time > entered]
    used, missing = match_approvals(stage, fresh, cand.evidence_id)
    if w.inp.approvals is not None and not missing:
        by = ", ".join(f"{a.person} ({a.role})" for a in used) or "no approvals needed"
        why = (f"the segment (targeting) of stage {stage.name} changed and was approved "
               f"again ({by})")
        # Its own action: the history's promotions each move up one stage, this one stays.
        w.move(here, "resegment", why, "complete" if here == target else "progressing")
        w.update_candidate(approvals_used=[
            *[u for u in cand.approvals_used if u.stage != stage.name],
            *(ApprovalUsed(stage=stage.name, role=a.role, person=a.person,
                           evidence_id=a.evidence_id, source=a.source) for a in used)])
        _reached(w, here)
        w.act("resegment", "segment", f"moves {_version(cand)} to the new segment of "
              f"{w.label(here)}: {why}", inputs={"evidence": cand.evidence_id})
        return
    w.update(phase="holding")
    w.act("hold", "segment", f"holds at {w.label(here)}: the segment (targeting) of stage "
          f"{stage.name} changed since {_version(cand)} entered it, and production still "
          f"serves the segment it entered with; to release: approve stage {stage.name} "
          f"again (`ailoop approve {w.inp.key} --stage {stage.name}`, or review the pull "
          "request that changed it), or restore the segment",
          inputs={"role": ", ".join(dict.fromkeys(missing))})


def _governance_gate(w: _Work, target: int) -> None:
    """The tool cannot judge itself: while a governance change that landed lacks its
    approvals, nothing moves up anywhere (rollbacks, decided before, still happen)."""
    if w.inp.governance:
        w.act("hold", "governance", f"holds at {w.where()}: {w.inp.governance}")


def _findings_gate(w: _Work, target: int) -> None:
    findings = w.inp.findings
    if not findings:
        return
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    w.act("hold", "spec", f"holds at {w.where()}: the priority does not validate: "
          f"{findings[0]}{more}; to release the hold, fix what `ailoop validate` reports")


def _evidence_gate(w: _Work, target: int) -> None:
    inp, cand = w.inp, w.candidate
    assert cand is not None
    if inp.evidence is not None and inp.evidence.evidence_id == cand.evidence_id \
            and inp.evidence.broken:
        w.act("hold", "evidence", f"holds at {w.where()}: evidence {cand.evidence_id} does "
              f"not verify: {inp.evidence.broken}; to release: rerun the trusted dry run "
              f"(`ailoop verify {inp.key}` shows the whole chain)")
        return
    if inp.evidence is None or inp.evidence.evidence_id != cand.evidence_id:
        if cand.stage is not None:  # it had evidence when it was promoted: hold, never expand
            gone = f"is {UNVERIFIED}" if _unverified(inp, cand.evidence_id) else \
                "is no longer in the repository"
            w.act("hold", "evidence", f"holds at {w.where()}: evidence {cand.evidence_id} "
                  f"{gone}; to release: restore it or rerun the dry run")
            return
        fresh = not w.status.history and w.status.serving is None
        w.update(phase="pending" if fresh and w.status.phase == "pending" else "dry-run")
        w.act("dry-run-needed", "evidence", f"needs a dry run: no evidence for "
              f"{cand.evidence_id} ({_version(cand)}){_unverified(inp, cand.evidence_id)}; "
              f"to release: `ailoop dry-run {inp.key}` on the default branch",
              inputs={"evidence": cand.evidence_id})
        return
    if not inp.evidence.passed:
        ev = inp.evidence
        why = (f"dry run {ev.evidence_id} failed ({ev.failed} of {ev.cases} cases, pass rate "
               f"{ev.pass_rate:.0%})")
        w.block(why, "evidence", "fix the workflow or spec and rerun the dry run")
        return
    _no_regression_basis(w)


def _no_regression_basis(w: _Work) -> None:
    """A noRegressionOn pass counts only against the version serving now: measured against
    another (or against nothing, with a version serving now), it proves nothing."""
    ev, serving = w.inp.evidence, w.status.serving
    assert ev is not None
    now = serving.evidence_id if serving is not None else ""
    if ev.compared_with is None or ev.compared_with == now:
        return
    was = f"serving {ev.compared_with}" if ev.compared_with else "nothing serving"
    is_now = f"{now} (v{serving.version}) serves now" if serving is not None else \
        "nothing serves now"
    w.act("hold", "evidence", f"holds at {w.where()}: the noRegressionOn gates of evidence "
          f"{ev.evidence_id} were measured against {was}, but {is_now}; to release: rerun "
          f"the trusted dry run (`ailoop dry-run {w.inp.key} --trusted` on the default "
          "branch, its evidence committed by CI)")


def _unverified(inp: PriorityInput, evidence_id: str) -> str:
    """What evidence nobody trusted says: shown, never counted (DESIGN.md, "Trust")."""
    ev = inp.unverified
    if ev is None or ev.evidence_id != evidence_id:
        return ""
    result = "passed" if ev.passed else "failed"
    return (f" from a trusted run; evidence {ev.evidence_id} is {UNVERIFIED} ({result}, "
            f"{ev.cases - ev.failed} of {ev.cases} cases) and does not count")


def _regression_gate(w: _Work, target: int) -> None:
    """Every regression case in the candidate's dataset needs its expected output confirmed
    by a customer reviewer who did not write it; a confirmation is recorded in status and
    lasts while the case's input and expected output stay the same."""
    confirmed = {(c.case, c.digest) for c in w.status.confirmed_cases}
    for case in w.inp.regression:
        if (case.case, case.digest) in confirmed:
            continue
        found = _confirmation(w, case)
        if found is None:
            w.update(phase="awaiting-approval")
            w.act("hold", "regression", f"holds at {w.where()}: regression case {case.case} "
                  "awaits confirmation by a customer reviewer; to release: a "
                  f"{CONFIRMING_ROLE} who did not write it approves the pull request that "
                  f"adds it, or `ailoop approve {w.inp.key} --case {case.case}`",
                  inputs={"case": case.case, "digest": case.digest})
            return
        entry = ConfirmedCase(case=case.case, digest=case.digest, by=found.person,
                              source=found.source, at=w.now)
        w.update(confirmed_cases=[*[c for c in w.status.confirmed_cases if c.case != case.case],
                                  entry])
        w.act("confirm-case", "regression", f"{found.person} ({CONFIRMING_ROLE}) confirmed "
              f"the expected output of regression case {case.case} ({case.digest})",
              final=False, inputs={"case": case.case, "by": found.person})


def _confirmation(w: _Work, case: RegressionView) -> Approval | None:
    """A valid approval, bound to the candidate's fingerprint (so to this exact case), by a
    customer reviewer who did not write the case: a pull request review, or a signed
    confirmation of the case. A stage approval is not one."""
    evidence = w.candidate.evidence_id if w.candidate else ""
    stages = (ANY_STAGE, f"{CASE_STAGE}{case.case}")
    found = [a for a in w.inp.approvals or () if a.valid and a.role == CONFIRMING_ROLE
             and a.evidence_id == evidence and a.stage in stages
             and a.person not in case.authors]
    return min(found, key=lambda a: (a.time, a.person)) if found else None


def _at_target(w: _Work, target: int) -> None:
    if w.current != target:
        return
    if w.spec.completes(target):
        return  # the candidate still has to bake and pass its gates here: see _promote
    if w.status.phase != "complete":
        w.update(phase="complete")
        _reached(w, target)
    w.act("none", "target", f"at target {w.label(target)}: nothing to do")


def _bake_gate(w: _Work, target: int) -> None:
    here, cand = w.current, w.candidate
    if here is None or cand is None:
        return
    entered = cand.entered
    if entered is None:
        w.act("hold", "bake-time", f"holds at {w.label(here)}: status has no entry time; to "
              "release: let the reconciler rewrite status.yaml")
        return
    ends = entered + w.spec.stages[here].bake_time
    if w.now < ends or w.now <= entered:  # strictly after entering: one move per reconcile
        w.update(phase=w.waiting_phase())
        w.act("hold", "bake-time", f"holds at {w.label(here)}: bake time ends {_when(ends)}",
              inputs={"bake_ends": _when(ends)})


def _monitoring_gate(w: _Work, target: int) -> None:
    here = w.current
    if here is None or not w.spec.gates:
        return
    readings = w.readings
    if readings is None:
        problem = w.inp.readings_problem or "no readings for this stage yet"
        w.act("hold", "monitoring", f"holds at {w.label(here)}: monitoring unavailable "
              f"({problem}); to release: restore the monitoring source",
              inputs=_unreachable(w, "monitoring"))
        return
    seen = {r.gate: r for r in readings}
    for gate in w.spec.gates:
        reading = seen.get(gate)
        if reading is None or reading.verdict != "pass":
            why = reading.reason if reading is not None else "no reading"
            w.update(phase=w.waiting_phase())
            w.act("hold", "monitoring",
                  f"holds at {w.label(here)}: monitoring gate '{gate}' inconclusive ({why}); "
                  "to release: wait for enough fresh samples", inputs={"gate": gate})
            return


def _roles_gate(w: _Work, target: int) -> None:
    if _completing(w, target):
        return
    nxt = w.spec.stages[_next(w)]
    if w.inp.roles is None:
        w.act("hold", "approval", "holds: customer.yaml cannot be read (roles unknown); to "
              "release: fix customer.yaml")
        return
    for roles, count in nxt.approvals:
        have = sum(w.inp.roles.get(role, 0) for role in roles)
        if have < count:
            people = ("no one holds" if have == 0 else "only 1 person holds" if have == 1
                      else f"only {have} people hold")
            w.block(f"{people} the role {_label(roles)} in customer.yaml (stage {nxt.name} "
                    f"needs {count})", "approval", "add the role to someone in customer.yaml")
            return


def _approval_gate(w: _Work, target: int) -> None:
    if _completing(w, target):
        return
    nxt = w.spec.stages[_next(w)]
    if not nxt.approvals:
        return
    if w.inp.approvals is None:
        problem = w.inp.approvals_problem or "not loaded"
        w.act("hold", "approval", f"holds: approvals unavailable ({problem}); to release: "
              "restore access to the approval source", inputs=_unreachable(w, "approvals"))
        return
    evidence = w.candidate.evidence_id if w.candidate else ""
    _used, missing = match_approvals(nxt, w.inp.approvals, evidence)
    if missing:
        stale = sum(1 for a in w.inp.approvals if a.valid and _for_stage(a, nxt)
                    and a.evidence_id != evidence)
        hint = f" ({stale} approval(s) bound to other evidence)" if stale else ""
        w.update(phase="awaiting-approval")
        w.act("await-approval", "approval",
              f"holds: {_missing_text(missing)} missing for stage {nxt.name}{hint}; to "
              f"release: approve the pull request, or `ailoop approve {w.inp.key} --stage "
              f"{nxt.name}`", to=_next(w),
              inputs={"role": ", ".join(dict.fromkeys(missing)), "evidence": evidence})


def _human_review_gate(w: _Work, target: int) -> None:
    """The next stage's humanReview: every sampled output labelled by someone holding the
    stage's role, agreeing with the dry run often enough, on the candidate's evidence."""
    verdict = _review_verdict(w, target)
    if verdict is None or verdict.passed:
        return
    nxt = w.spec.stages[_next(w)]
    if w.inp.reviews is None:
        w.act("hold", "human-review", f"holds: human reviews unavailable "
              f"({w.inp.reviews_problem or 'not loaded'}); to release: restore access to "
              "the approval source", inputs=_unreachable(w, "reviews"))
        return
    w.update(phase="awaiting-approval")
    w.act("await-approval", "human-review", f"holds: {verdict.reason}", to=_next(w),
          inputs={"stage": nxt.name, "evidence": w.candidate.evidence_id
                  if w.candidate else "", **_review_progress(verdict, nxt)})


def _review_progress(verdict: ReviewVerdict, stage: StageView) -> dict[str, str]:
    """How far the labelling got, for `ailoop status` and `plan` (as action inputs)."""
    assert stage.human_review is not None
    out = {"review_sample": str(stage.human_review.sample),
           "review_min_agreement": f"{stage.human_review.min_agreement:.2f}"}
    if verdict.labelled is not None and verdict.total is not None:
        out |= {"review_labelled": str(verdict.labelled), "review_total": str(verdict.total)}
    if verdict.agreement is not None:
        out["review_agreement"] = f"{verdict.agreement:.2f}"
    return out


def _review_verdict(w: _Work, target: int) -> ReviewVerdict | None:
    """None when the next stage asks for no human review."""
    if _completing(w, target) or w.candidate is None:
        return None
    nxt = w.spec.stages[_next(w)]
    if nxt.human_review is None:
        return None
    if w.inp.reviews is None:
        return ReviewVerdict(False, "unavailable")
    roles = list(dict.fromkeys(r for roles, _ in nxt.approvals for r in roles)) \
        or ["customer-owner", "customer-reviewer", "risk-officer"]  # as approvals.requirements
    who = "a " + (roles[0] if len(roles) == 1 else ", ".join(roles[:-1]) + " or " + roles[-1])
    return judge(w.inp.key, nxt.name, nxt.human_review, w.inp.reviews,
                 w.candidate.evidence_id, who)


def _missing_text(missing: list[str]) -> str:
    """'approval from risk-officer', 'approvals from 2 customer-reviewer and risk-officer':
    every role still missing, not only the first."""
    counts: dict[str, int] = {}
    for label in missing:
        counts[label] = counts.get(label, 0) + 1
    parts = [label if n == 1 else f"{n} {label}" for label, n in counts.items()]
    names = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"approval{'s' if len(missing) > 1 else ''} from {names}"


def match_approvals(stage: StageView, approvals: Iterable[Approval],
                    evidence_id: str) -> tuple[list[Approval], list[str]]:
    """Approvals that satisfy a stage (one person counts once) and the roles still missing."""
    usable = sorted((a for a in approvals if a.valid and _for_stage(a, stage)
                     and a.evidence_id == evidence_id), key=lambda a: (a.time, a.person))
    used: list[Approval] = []
    people: set[str] = set()
    missing: list[str] = []
    for roles, count in stage.approvals:
        got = 0
        for a in usable:
            if got < count and a.role in roles and a.person not in people:
                used.append(a)
                people.add(a.person)
                got += 1
        missing += [_label(roles)] * (count - got)
    return used, missing


def _unreachable(w: _Work, system: str) -> dict[str, str]:
    return {"unreachable": system} if system in w.inp.unreachable else {}


def unreachable_systems(result: Plan) -> list[Action]:
    """Holds caused by an external system failing (the command then exits 3)."""
    return [a for a in result.actions if dict(a.inputs).get("unreachable")]


def _for_stage(approval: Approval, stage: StageView) -> bool:
    """A PR review approves every stage its pull request asks for (stage "*")."""
    return approval.stage in (stage.name, ANY_STAGE)


def _label(roles: tuple[str, ...]) -> str:
    return " or ".join(roles)


def _next(w: _Work) -> int:
    return 0 if w.current is None else w.current + 1


def _completing(w: _Work, target: int) -> bool:
    return w.current == target and w.spec.completes(target)


def _promote(w: _Work, target: int) -> None:
    cand = w.candidate
    assert cand is not None
    if _completing(w, target):
        _complete(w, target)
        return
    to = _next(w)
    stage = w.spec.stages[to]
    used, _ = match_approvals(stage, w.inp.approvals or (), cand.evidence_id)
    by = ", ".join(f"{a.person} ({a.role})" for a in used) or "no approvals needed"
    review = _review_verdict(w, target)
    if review is not None:
        by += f"; {review.reason}"
    why = f"every gate holds (evidence {cand.evidence_id}; {by})"
    done = to == target and not w.spec.completes(target)
    w.move(to, "promote", why, "complete" if done else "progressing")
    w.update_candidate(approvals_used=[
        *[u for u in cand.approvals_used if u.stage != stage.name],
        *(ApprovalUsed(stage=stage.name, role=a.role, person=a.person,
                       evidence_id=a.evidence_id, source=a.source) for a in used)])
    _reached(w, to)
    if done:
        _schedule_review(w)
    inputs = {"evidence": cand.evidence_id}
    if review is not None:
        inputs["human_review"] = review.trailer
    w.act("promote", "target", f"promotes {_version(cand)} to {w.label(to)}: {why}",
          inputs=inputs)


def _complete(w: _Work, target: int) -> None:
    """The candidate baked at a 100 % target with every gate passing: it becomes the
    serving version (the only way the serving version ever changes)."""
    cand = w.candidate
    assert cand is not None
    before = w.status.serving
    serving = Version(version=cand.version, evidence_id=cand.evidence_id,
                      workflow_digest=cand.workflow_digest, since=w.now)
    why = (f"{_version(cand)} baked at {w.label(target)} with every gate passing"
           + (f"; it replaces {_version(before)}" if before else ""))
    w.record("complete", why, cand.stage, None, 0, cand.version)
    w.update(serving=serving, candidate=None, phase="complete")
    _reached(w, target, completed=True)
    _schedule_review(w)
    w.act("complete", "target", f"{why}: it is now the serving version",
          inputs={"evidence": serving.evidence_id})


def _schedule_review(w: _Work) -> None:
    """The rollout reached its target: operations reviews start."""
    if w.spec.review_cadence and w.status.next_review is None:
        w.update(next_review=w.now + w.spec.review_cadence)


def _reached(w: _Work, index: int, *, completed: bool = False) -> None:
    """The terminal state of a stage reached: `issue-fixed` when it closes a fix cycle (a
    rollback released by a new version, and that version has now reached the target)."""
    record = w.status.rollback
    target = w.spec.index(w.spec.target)
    evidence = w.status.serving.evidence_id if completed and w.status.serving else \
        (w.candidate.evidence_id if w.candidate else None)
    # A fix cycle ends where the rollout ends: at the target, or once serving for a 100 %
    # target (reaching that stage is not enough).
    ends = index == target and (completed or not w.spec.completes(index))
    fixed = (record is not None and record.released and record.incident is not None
             and record.evidence_id != evidence and ends
             and not _regression_shortfall(w, record))
    stage = None if completed else w.spec.stages[index].name
    what = (f"{_version(w.status.serving)} is serving" if completed
            else f"{_version(w.candidate)} reached {w.label(index)}")
    if fixed and record is not None:
        cases = (f"; regression case {', '.join(record.regression_cases)} passed"
                 if record.regression_cases else "")
        w.terminal("issue-fixed", f"incident {record.incident} fixed: {what} "
                   f"(evidence {evidence}{cases})", stage=stage)
    else:
        w.terminal("stage-reached", what, stage=stage)
    if record is not None and record.released and ends:
        w.update(rollback=None)


# --- the terminal state is always true ----------------------------------------------------

def _settle_terminal(w: _Work) -> None:
    """After everything else: a recorded terminal state that no longer describes the
    priority (a rollback after `stage-reached`, a withdrawn candidate, a healthy review
    before an incident) is replaced by what is true now."""
    t, status = w.status.terminal, w.status
    held = status.rollback is not None and not status.rollback.released
    if status.phase in ("rolled-back", "blocked") or held:
        if t is None or t.state != "blocked":
            why = next((a.reason for a in w.actions if a.kind not in SIDE_KINDS), status.phase)
            w.terminal("blocked", why, owner=w.spec.owner)
        return
    if t is None or t.state not in ("stage-reached", "issue-fixed", "healthy-review"):
        # A review's `blocked` verdict (written with lastReview) stands like a healthy one,
        # until a move or the next review; other blocks end when the phase moves on.
        if t is not None and t.state == "blocked" and status.phase != "blocked" \
                and t.at != status.last_review:
            _true_exposure(w)
        return
    if t.state == "healthy-review":
        return
    cand = status.candidate
    exposed = cand.stage if cand is not None and cand.stage is not None else None
    if exposed is not None and t.stage == exposed:
        return
    if exposed is None and t.stage is None and status.serving is not None:
        return
    _true_exposure(w)


def _quiet_when_nothing_happened(w: _Work) -> None:
    """A new priority waiting for its first dry run has nothing worth a status file yet:
    its candidate is recorded once it moves past pending."""
    if w.status.phase == "pending" and w.inp.status.candidate is None and \
            w.status.serving is None and w.candidate is not None and w.candidate.stage is None:
        w.update(candidate=None)


def _true_exposure(w: _Work) -> None:
    cand, serving = w.status.candidate, w.status.serving
    if cand is not None and cand.stage is not None:
        index = w.spec.index(cand.stage)
        label = w.label(index) if index is not None else cand.stage
        w.terminal("stage-reached", f"{_version(cand)} reached {label}", stage=cand.stage)
    elif serving is not None:
        w.terminal("stage-reached", f"{_version(serving)} is serving")
    else:
        w.update(terminal=None)


# --- reviews ------------------------------------------------------------------------------

def _review(w: _Work) -> None:
    if w.current is None and w.status.serving is None:
        return
    how = f"run `ailoop review {w.inp.key}`"
    for event in sorted(w.inp.events, key=lambda e: (e.time, e.name)):
        if event.kind == "ReviewRequest" and not w.processed(event.id):
            w.act("review-due", "review", f"review requested by {event.by or 'someone'} "
                  f"({event.name}): {how}", final=False)
            return
    due = w.status.next_review
    if due is not None and w.now >= due:
        w.act("review-due", "review", f"scheduled review due since {_when(due)}: {how}",
              final=False)


def _version(held: Version | None) -> str:
    if held is None:
        return "none"
    return f"v{held.version}" if held.version else held.evidence_id


def _pct(percent: float) -> str:
    return f"{percent:g}%"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
