"""The action guard: every action a workflow proposes goes through it.

An action whose class the priority declares as sensitive, irreversible, financial or
customer-facing, or that asks for human confirmation, is queued for a person and runs only
once someone confirms it; a rejection is recorded and nothing runs. An action the spec does
not declare is refused. In a dry run (and for a shadow candidate) nothing runs: proposals
are recorded, with whether they would have waited for a person. Every decision (who, when)
is kept in the queue.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import yaml

EXPOSED = frozenset({"sensitive", "irreversible", "financial", "customer-facing"})
Status = Literal["executed", "queued", "confirmed", "rejected", "refused", "recorded"]
Executor = Callable[[dict[str, Any]], Any]


class ActionRefused(Exception):
    """The action is not declared in the priority's spec: it never runs."""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    cls: str  # internal | sensitive | irreversible | financial | customer-facing
    human_confirmation: bool = True

    @property
    def needs_person(self) -> bool:
        return self.cls in EXPOSED or self.human_confirmation


@dataclass(frozen=True)
class Decision:
    id: str
    action: str
    payload: dict[str, Any]
    status: Status
    priority: str = ""
    variant: str = ""
    request: str = ""
    by: str = ""  # the person who confirmed or rejected
    at: float = field(default_factory=time.time)  # of this decision
    proposed: float = 0.0  # when the workflow proposed it (a person's wait: at - proposed)
    result: Any = None
    would_wait: bool = False  # recorded only: a person would have had to confirm it


class Queue(Protocol):
    def put(self, decision: Decision) -> None: ...
    def get(self, decision_id: str) -> Decision | None: ...
    def pending(self) -> list[Decision]: ...


class MemoryQueue:
    def __init__(self) -> None:
        self._items: dict[str, Decision] = {}
        self._lock = threading.Lock()

    def put(self, decision: Decision) -> None:
        with self._lock:
            self._items[decision.id] = decision

    def get(self, decision_id: str) -> Decision | None:
        return self._items.get(decision_id)

    def pending(self) -> list[Decision]:
        return [d for d in self._items.values() if d.status == "queued"]

    def all(self) -> list[Decision]:
        return list(self._items.values())


class SqliteQueue:
    """The default: decisions survive a restart of the service."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("CREATE TABLE IF NOT EXISTS decisions (id TEXT PRIMARY KEY, "
                         "status TEXT, body TEXT)")

    def put(self, decision: Decision) -> None:
        body = json.dumps(decision.__dict__, default=str)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?)",
                             (decision.id, decision.status, body))

    def get(self, decision_id: str) -> Decision | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM decisions WHERE id = ?",
                                   (decision_id,)).fetchone()
        return Decision(**json.loads(row[0])) if row else None

    def pending(self) -> list[Decision]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM decisions WHERE status = 'queued'")
            return [Decision(**json.loads(r[0])) for r in rows.fetchall()]


class CallbackQueue(MemoryQueue):
    """Hands every queued action to the customer's own tool (a ticket, a chat message):
    the person confirms or rejects through `Guard.confirm` / `Guard.reject`."""

    def __init__(self, notify: Callable[[Decision], None]) -> None:
        super().__init__()
        self._notify = notify

    def put(self, decision: Decision) -> None:
        super().put(decision)
        if decision.status == "queued":
            self._notify(decision)


class Guard:
    def __init__(self, actions: Mapping[str, ActionSpec], executors: Mapping[str, Executor],
                 queue: Queue | None = None, *, priority: str = "",
                 on_decision: Callable[[Decision, bool], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.actions, self.executors = dict(actions), dict(executors)
        self.clock = clock  # when decisions are made (a replay passes its own clock)
        self.queue: Queue = queue if queue is not None else MemoryQueue()
        self.priority = priority
        # Called with every decision, and whether a person changed the proposal (override).
        self._on_decision = on_decision or (lambda d, override: None)

    def propose(self, name: str, payload: dict[str, Any], *, variant: str = "serving",
                request: str = "", record_only: bool = False) -> Decision:
        """Run an action, queue it for a person, or (dry run, shadow) only record it."""
        spec = self.actions.get(name)
        base = Decision(uuid.uuid4().hex, name, dict(payload), "refused", self.priority,
                        variant, request, at=(now := self.clock()), proposed=now)
        if spec is None:
            self._keep(base)
            raise ActionRefused(f"action '{name}' is not declared in the priority's spec")
        if record_only:
            return self._keep(replace(base, status="recorded", would_wait=spec.needs_person))
        if spec.needs_person:
            return self._keep(replace(base, status="queued"))
        return self._keep(replace(base, status="executed",
                                  result=self.executors[name](dict(payload))))

    def confirm(self, decision_id: str, by: str,
                payload: dict[str, Any] | None = None) -> Decision:
        """A person confirms a queued action (possibly changed: an override); it runs now."""
        queued = self._queued(decision_id)
        final = dict(payload) if payload is not None else queued.payload
        result = self.executors[queued.action](final)
        return self._keep(replace(queued, status="confirmed", by=by, at=self.clock(),
                                  payload=final, result=result),
                          override=payload is not None and payload != queued.payload)

    def reject(self, decision_id: str, by: str) -> Decision:
        return self._keep(replace(self._queued(decision_id), status="rejected", by=by,
                                  at=self.clock()))

    def _queued(self, decision_id: str) -> Decision:
        found = self.queue.get(decision_id)
        if found is None or found.status != "queued":
            raise KeyError(f"no queued action {decision_id}")
        return found

    def _keep(self, decision: Decision, *, override: bool = False) -> Decision:
        self.queue.put(decision)
        self._on_decision(decision, override)
        return decision


def actions_from_priority(path: str) -> dict[str, ActionSpec]:
    """The actions a priority declares (spec.actions in its priority.yaml)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    out = {}
    for action in (data.get("spec") or {}).get("actions") or []:
        spec = ActionSpec(str(action["name"]), str(action.get("class", "internal")),
                          action.get("humanConfirmation", True) is True)
        out[spec.name] = spec
    return out
