"""kind: Status, written by the reconciler only; humans read it."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from pipeline.model.base import Metadata, Model

Phase = Literal[
    "pending",        # nothing run yet
    "dry-run",        # needs (new) dry-run evidence
    "awaiting-approval",
    "progressing",    # moving toward the target, gates hold
    "holding",        # a gate holds (bake time, monitoring, approvals...)
    "rolled-back",    # held after a rollback until a human acts
    "complete",       # target stage reached
    "blocked",        # escalated with an owner
]
TerminalKind = Literal["stage-reached", "issue-fixed", "blocked", "healthy-review"]


class Transition(Model):
    time: AwareDatetime
    from_stage: str | None = Field(None, alias="from")
    to_stage: str = Field(alias="to")
    percent: float
    action: str
    reason: str
    commit: str = ""


class TerminalState(Model):
    state: TerminalKind
    at: AwareDatetime
    reason: str
    owner: str | None = None
    next_check: AwareDatetime | None = None


class ApprovalUsed(Model):
    stage: str
    role: str
    person: str
    evidence_id: str
    source: str


class Rollback(Model):
    """Why the reconciler rolled back (or held in place), and what releases the hold."""

    cause: Literal["incident", "monitoring"]
    incident: str | None = Field(None, description="Name of the Incident event, if any.")
    at: AwareDatetime
    from_stage: str | None = Field(None, alias="from")
    to_stage: str | None = Field(None, alias="to")
    evidence_id: str | None = Field(
        None, description="Evidence in force at the rollback; new evidence releases the hold.")
    released: bool = Field(
        False, description="The hold was released (incident resolved or spec changed); the "
        "fix cycle stays open until the target stage is reached again.")


class StatusBody(Model):
    phase: Phase = "pending"
    stage: str | None = None
    percent: float = 0
    since: AwareDatetime | None = None
    evidence_id: str | None = None
    approvals_used: list[ApprovalUsed] = Field(default_factory=list)
    history: list[Transition] = Field(default_factory=list)
    terminal: TerminalState | None = None
    processed_events: list[str] = Field(default_factory=list)
    last_review: AwareDatetime | None = None
    next_review: AwareDatetime | None = None
    message: str = ""
    rollback: Rollback | None = None
    pending_feedback: list[str] = Field(
        default_factory=list, description="Feedback events waiting for the next review.")


class Status(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Status"]
    metadata: Metadata
    status: StatusBody = Field(default_factory=StatusBody)
