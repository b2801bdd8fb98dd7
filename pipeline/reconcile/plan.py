"""The planner: a pure function from the repository's state to what the reconciler does next.

    plan(inputs, now) -> Plan

Each priority gets a status it should have after this reconcile and the actions that explain
it, each naming the gate that decided it. The rules (the README section "The reconciler"
has the diagram):

* at most one stage per reconcile, toward `rollout.target`, and only when the evidence for the
  spec as it is now exists and passed, the approvals for the next stage are bound to that
  evidence, the current stage has baked, and its monitoring gates pass with enough samples;
* anything missing, stale or unreadable holds: never promote on missing data;
* a lowered target, a new incident or failing monitoring rolls back at once, no approval
  needed; a rollback holds until the incident is resolved or the spec changes.

No I/O happens here: the clock and every input come in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.approvals.base import Approval
from pipeline.model.status import ApprovalUsed, Rollback, StatusBody, TerminalState, Transition
from pipeline.monitoring.base import GateReading

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
MAX_HISTORY = 100
SIDE_KINDS = frozenset({"record-feedback", "release", "review-due"})
# Phases a transient hold (bake time, monitoring still collecting) leaves as they are, so a
# waiting priority does not flip its status back and forth between reconciles.
_WAITING = frozenset({"progressing", "awaiting-approval", "holding"})


@dataclass(frozen=True)
class StageView:
    name: str
    percent: float
    bake_time: timedelta  # effective: already raised to the project minimum for high risk
    # (roles, count): `count` different people, each holding one of `roles`; the stage's own
    # approvals plus the guardrails (risk-officer for high risk, a human for exposed actions)
    approvals: tuple[tuple[tuple[str, ...], int], ...] = ()


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


@dataclass(frozen=True)
class EventView:
    kind: str  # Feedback | Incident | ReviewRequest
    name: str
    time: datetime
    severity: str = ""
    resolved: bool = False
    summary: str = ""
    by: str = ""

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


@dataclass(frozen=True)
class PriorityInput:
    key: str
    spec: SpecView | None
    status: StatusBody = field(default_factory=StatusBody)
    problems: tuple[str, ...] = ()  # the spec or status cannot be read: hold
    evidence_id: str | None = None  # id of the spec as it is now (None: cannot compute)
    evidence_problem: str = ""
    evidence: EvidenceView | None = None  # evidence whose id == evidence_id, if any
    approvals: tuple[Approval, ...] | None = None  # None: not loaded or unreachable
    approvals_problem: str = ""
    readings: tuple[GateReading, ...] | None = None  # for the current stage
    readings_problem: str = ""
    unreachable: tuple[str, ...] = ()  # external systems that failed ("approvals", ...)
    events: tuple[EventView, ...] = ()
    roles: Mapping[str, int] | None = None  # role -> people holding it in customer.yaml
    head: str = ""  # the commit this state was read from


@dataclass(frozen=True)
class Action:
    key: str
    kind: str  # promote, rollback, hold, dry-run-needed, await-approval, blocked, ...
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
        return PriorityPlan(inp.key, (action,), inp.status, inp.status)
    work = _Work(inp, inp.spec, now)
    _lowered_target(work)  # first: a human asked for it, and events then judge the new stage
    _take_events(work)
    if not work.done:
        _hold_after_rollback(work)
    if not work.done:
        _rollout(work)
    _review(work)
    return PriorityPlan(inp.key, tuple(work.actions), inp.status, work.status)


class _Work:
    """One priority being planned: the status as it evolves and the actions so far."""

    def __init__(self, inp: PriorityInput, spec: SpecView, now: datetime) -> None:
        self.inp, self.spec, self.now = inp, spec, now
        self.status = inp.status
        self.actions: list[Action] = []
        self.done = False
        self.current = spec.index(inp.status.stage)

    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def label(self, index: int | None) -> str:
        if index is None:
            return "not started"
        stage = self.spec.stages[index]
        return f"{stage.name} {_pct(stage.percent)}"

    def act(self, kind: str, gate: str, reason: str, *, to: int | None = None,
            inputs: Mapping[str, str] | None = None, final: bool = True) -> None:
        """Record an action from where the priority stood to `to` (default: where it is)."""
        origin = self.inp.status
        if to is not None:
            dest: tuple[str | None, float] = (self.spec.stages[to].name,
                                              self.spec.stages[to].percent)
        else:
            dest = (self.status.stage, self.status.percent)
        self.actions.append(Action(self.inp.key, kind, gate, reason, origin.stage,
                                   origin.percent, dest[0], dest[1],
                                   tuple(sorted((inputs or {}).items()))))
        self.done = self.done or final

    def processed(self, event_id: str) -> bool:
        return event_id in self.status.processed_events

    def mark(self, event_id: str) -> None:
        if not self.processed(event_id):
            self.update(processed_events=[*self.status.processed_events, event_id])

    def move(self, to: int, action: str, reason: str, phase: str) -> None:
        """Enter stage `to` now, recording the transition."""
        stage = self.spec.stages[to]
        entry = Transition.model_validate({
            "time": self.now, "from": self.status.stage, "to": stage.name,
            "percent": stage.percent, "action": action, "reason": reason,
            "commit": self.inp.head[:12]})
        self.update(stage=stage.name, percent=stage.percent, since=self.now, phase=phase,
                    history=[*self.status.history, entry][-MAX_HISTORY:])
        self.current = to

    def terminal(self, state: str, reason: str, *, owner: str | None = None,
                 next_check: datetime | None = None) -> None:
        old = self.status.terminal
        if old is not None and (old.state, old.reason, old.owner) == (state, reason, owner):
            return  # already recorded: keep its time so a re-plan changes nothing
        self.update(terminal=TerminalState.model_validate(
            {"state": state, "at": self.now, "reason": reason, "owner": owner,
             "nextCheck": next_check}))

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
        w.act("release", "incident",
              f"incident {event.name} resolved: the rollback hold is released", final=False,
              inputs={"incident": event.name})


def _incident(w: _Work, event: EventView) -> None:
    rank = SEVERITY_RANK.get(event.severity, 3)
    here = w.current
    to = None if here is None else (0 if rank >= 2 else max(here - 1, 0))
    why = f"incident {event.name} severity {event.severity}"
    if here is None or to is None or rank == 0 or to >= here:
        _record_rollback(w, "incident", event.name, here)
        w.update(phase="holding")
        w.act("hold", "incident", f"holds at {w.label(here)}: {why}; fix cycle open",
              inputs={"incident": event.name})
        return
    _record_rollback(w, "incident", event.name, here, to)
    w.move(to, "rollback", why, "rolled-back")
    w.act("rollback", "incident", f"rolls back to {w.spec.stages[to].name}: {why}",
          inputs={"incident": event.name})


def _record_rollback(w: _Work, cause: str, incident: str | None, here: int | None,
                     to: int | None = None) -> None:
    names = [None if i is None else w.spec.stages[i].name for i in (here, to)]
    w.update(rollback=Rollback.model_validate({
        "cause": cause, "incident": incident, "at": w.now, "from": names[0],
        "to": names[1] if to is not None else names[0],
        "evidenceId": w.inp.evidence_id}))


def _hold_after_rollback(w: _Work) -> None:
    record = w.status.rollback
    if record is None or record.released:
        return
    now_id = w.inp.evidence_id
    if now_id is not None and now_id != record.evidence_id:
        w.update(rollback=record.model_copy(update={"released": True}))
        w.act("release", "evidence",
              f"the spec changed since the rollback (evidence {now_id}): the hold is released",
              final=False)
        return
    if record.cause == "incident":
        why = (f"incident {record.incident} is not resolved (mark it resolved or change "
               "the spec)")
    else:
        why = "monitoring failed at the stage above (change the spec to release the hold)"
    w.act("hold", record.cause, f"holds at {w.label(w.current)}: {why}",
          inputs={"rollback": record.incident or record.cause})


# --- the stage machine --------------------------------------------------------------------

def _rollout(w: _Work) -> None:
    target = w.spec.index(w.spec.target)
    if target is None:
        w.act("hold", "target", f"holds: rollout.target '{w.spec.target}' is not a stage")
        return
    if w.status.stage is not None and w.current is None:
        w.act("hold", "target",
              f"holds: the current stage '{w.status.stage}' is no longer in rollout.stages")
        return
    for step in (_failing_monitoring, _evidence_gate, _at_target,
                 _bake_gate, _monitoring_gate, _roles_gate, _approval_gate, _promote):
        step(w, target)
        if w.done:
            return


def _lowered_target(w: _Work) -> None:
    """A lower target rolls back at once, even during a rollback hold: a human asked for it."""
    target = w.spec.index(w.spec.target)
    if w.current is None or target is None or w.current <= target:
        return
    why = f"rollout.target lowered to {w.spec.stages[target].name}"
    held = w.status.rollback is not None and not w.status.rollback.released
    w.move(target, "rollback", why, "rolled-back" if held else "complete")
    w.terminal("stage-reached", f"rolled back to {w.label(target)} ({why})")
    # Not final: the gates below still judge the new stage (e.g. evidence gone stale).
    w.act("rollback", "target", f"rolls back to {w.label(target)}: {why}", final=False)


def _failing_monitoring(w: _Work, target: int) -> None:
    failing = [r for r in w.inp.readings or () if r.verdict == "fail"]
    moved = w.status.stage != w.inp.status.stage  # readings belong to the stage we left
    if w.current is None or not failing or moved:
        return
    here, first = w.current, failing[0]
    why = f"monitoring gate '{first.gate}' fails ({first.reason})"
    if w.spec.reaction == "rollback" and here > 0:
        _record_rollback(w, "monitoring", None, here, here - 1)
        w.move(here - 1, "rollback", why, "rolled-back")
        w.act("rollback", "monitoring", f"rolls back to {w.label(here - 1)}: {why}",
              inputs={"gate": first.gate})
        return
    w.update(phase="holding")
    w.act("hold", "monitoring", f"holds at {w.label(here)}: {why}", inputs={"gate": first.gate})


def _evidence_gate(w: _Work, target: int) -> None:
    inp, now_id = w.inp, w.inp.evidence_id
    if now_id is None:
        w.act("hold", "evidence", f"holds at {w.label(w.current)}: evidence cannot be checked "
              f"({inp.evidence_problem or 'no fingerprint'})")
        return
    if inp.evidence is None or inp.evidence.evidence_id != now_id:  # only this exact spec
        old = w.status.evidence_id
        w.update(phase="pending" if w.status.phase == "pending" else "dry-run")
        if old and old != now_id:
            why = (f"needs a new dry run: the spec, dataset or workflow changed since "
                   f"evidence {old} (now {now_id})")
        else:
            why = f"needs a dry run: no evidence for {now_id}"
        w.act("dry-run-needed", "evidence", why, inputs={"evidence": now_id})
        return
    if not inp.evidence.passed:
        ev = inp.evidence
        reason = (f"dry run {ev.evidence_id} failed ({ev.failed} of {ev.cases} cases, "
                  f"pass rate {ev.pass_rate:.0%}); fix the workflow or spec and rerun")
        _block(w, reason, "evidence")


def _block(w: _Work, reason: str, gate: str) -> None:
    w.update(phase="blocked")
    w.terminal("blocked", reason, owner=w.spec.owner)
    w.act("blocked", gate, f"blocked (owner {w.spec.owner}): {reason}",
          inputs={"owner": w.spec.owner})


def _at_target(w: _Work, target: int) -> None:
    if w.current != target:
        return
    if w.status.phase != "complete":
        w.update(phase="complete")
        _reach_terminal(w, target)
    w.act("none", "target", f"at target {w.label(target)}: nothing to do")


def _reach_terminal(w: _Work, index: int) -> None:
    record = w.status.rollback
    fixed = (record is not None and record.released and record.cause == "incident"
             and record.evidence_id != w.inp.evidence_id)
    if record is not None and record.released and index == w.spec.index(w.spec.target):
        w.update(rollback=None)
    if fixed:
        w.terminal("issue-fixed", f"incident {record.incident if record else ''} fixed: "
                   f"{w.label(index)} reached again with evidence {w.inp.evidence_id}")
    else:
        w.terminal("stage-reached", f"reached {w.label(index)}")


def _bake_gate(w: _Work, target: int) -> None:
    here = w.current
    if here is None:
        return
    since = w.status.since
    if since is None:
        w.act("hold", "bake-time", f"holds at {w.label(here)}: status has no entry time")
        return
    ends = since + w.spec.stages[here].bake_time
    if w.now < ends or w.now <= since:  # strictly after entering: one stage per reconcile
        w.update(phase=w.waiting_phase())
        w.act("hold", "bake-time", f"holds at {w.label(here)}: bake time ends {_when(ends)}",
              inputs={"bake_ends": _when(ends)})


def _monitoring_gate(w: _Work, target: int) -> None:
    here = w.current
    if here is None or not w.spec.gates:
        return
    if w.inp.readings is None:
        problem = w.inp.readings_problem or "no readings"
        w.act("hold", "monitoring", f"holds at {w.label(here)}: monitoring unavailable "
              f"({problem})", inputs=_unreachable(w, "monitoring"))
        return
    seen = {r.gate: r for r in w.inp.readings}
    for gate in w.spec.gates:
        reading = seen.get(gate)
        if reading is None or reading.verdict != "pass":
            why = reading.reason if reading is not None else "no reading"
            w.update(phase=w.waiting_phase())
            w.act("hold", "monitoring",
                  f"holds at {w.label(here)}: monitoring gate '{gate}' inconclusive ({why})",
                  inputs={"gate": gate})
            return


def _roles_gate(w: _Work, target: int) -> None:
    nxt = w.spec.stages[_next(w)]
    if w.inp.roles is None:
        w.act("hold", "approval", "holds: customer.yaml cannot be read (roles unknown)")
        return
    for roles, count in nxt.approvals:
        have = sum(w.inp.roles.get(role, 0) for role in roles)
        if have < count:
            people = "no one holds" if have == 0 else f"only {have} people hold"
            _block(w, f"{people} the role {_label(roles)} in customer.yaml (stage {nxt.name} "
                      f"needs {count})", "approval")
            return


def _approval_gate(w: _Work, target: int) -> None:
    nxt = w.spec.stages[_next(w)]
    if not nxt.approvals:
        return
    if w.inp.approvals is None:
        problem = w.inp.approvals_problem or "not loaded"
        w.act("hold", "approval", f"holds: approvals unavailable ({problem})",
              inputs=_unreachable(w, "approvals"))
        return
    _used, missing = match_approvals(nxt, w.inp.approvals, w.inp.evidence_id or "")
    if missing:
        role = missing[0]
        stale = sum(1 for a in w.inp.approvals if a.valid and _for_stage(a, nxt)
                    and a.evidence_id != w.inp.evidence_id)
        hint = f" ({stale} approval(s) bound to other evidence)" if stale else ""
        w.update(phase="awaiting-approval")
        w.act("await-approval", "approval",
              f"holds: approval from {role} missing for stage {nxt.name}{hint}",
              to=_next(w), inputs={"role": role, "evidence": w.inp.evidence_id or ""})


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
    return approval.stage in (stage.name, "*")


def _label(roles: tuple[str, ...]) -> str:
    return " or ".join(roles)


def _next(w: _Work) -> int:
    return 0 if w.current is None else w.current + 1


def _promote(w: _Work, target: int) -> None:
    to = _next(w)
    stage = w.spec.stages[to]
    used, _ = match_approvals(stage, w.inp.approvals or (), w.inp.evidence_id or "")
    by = ", ".join(f"{a.person} ({a.role})" for a in used) or "no approvals needed"
    why = f"every gate holds (evidence {w.inp.evidence_id}; {by})"
    w.move(to, "promote", why, "complete" if to == target else "progressing")
    w.update(evidence_id=w.inp.evidence_id, approvals_used=[
        ApprovalUsed(stage=a.stage, role=a.role, person=a.person, evidence_id=a.evidence_id,
                     source=a.source) for a in used])
    _reach_terminal(w, to)
    if to == target and w.spec.review_cadence and w.status.next_review is None:
        w.update(next_review=w.now + w.spec.review_cadence)
    w.act("promote", "target", f"promotes to {w.label(to)}: {why}",
          inputs={"evidence": w.inp.evidence_id or ""})


# --- reviews ------------------------------------------------------------------------------

def _review(w: _Work) -> None:
    if w.current is None:
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


def review_due(inp: PriorityInput, now: datetime) -> bool:
    return any(a.kind == "review-due" for a in plan_priority(inp, now).actions)


def _pct(percent: float) -> str:
    return f"{percent:g}%"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
