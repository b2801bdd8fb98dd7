"""kind: Status, written by the reconciler only; humans read it."""

from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from pipeline.model.base import Bool, Float, JsonObject, Metadata, Model

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
    """One move of the candidate's traffic: promote, rollback, withdraw (its traffic goes
    back to the serving version) or complete (it becomes the serving version)."""

    time: AwareDatetime
    from_stage: str | None = Field(None, alias="from")
    to_stage: str | None = Field(None, alias="to")
    percent: Float = Field(description="The candidate's share after the move.")
    action: str
    reason: str
    commit: str = ""
    version: str = ""


class TerminalState(Model):
    state: TerminalKind
    at: AwareDatetime
    reason: str
    owner: str | None = None
    next_check: AwareDatetime | None = None
    stage: str | None = Field(None, description="The stage reached (stage-reached, issue-fixed).")


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
    released: Bool = Field(
        False, description="The hold was released (incident resolved or spec changed); the "
        "fix cycle stays open until the target stage is reached again.")
    regression_cases: list[str] = Field(
        default_factory=list, description="Regression cases made from the incident (dataset "
        "case ids): a new version is the fix only when its dry run ran them and they passed.")


class ConfirmedCase(Model):
    """A regression case whose expected output a customer reviewer confirmed."""

    case: str
    digest: str = Field(description="rc- + the digest of its input and expected output: "
                        "changing either needs a new confirmation.")
    by: str = Field(description="Person id in customer.yaml.")
    source: str = Field(description="The approval that confirmed it.")
    at: AwareDatetime


class Version(Model):
    """A workflow version as it was tested: what production must run to serve it."""

    version: str = Field(description="spec.workflow.version when it was tested.")
    evidence_id: str = Field(description="Its input fingerprint: the evidence it passed on.")
    workflow_digest: str = Field(
        "", description="sha256 of its workflow code: production refuses other code.")
    since: AwareDatetime | None = None


class Candidate(Version):
    """The version walking the stages. Its percent is its share of the traffic; the rest
    goes to the serving version."""

    stage: str | None = Field(None, description="None: not yet at the first stage.")
    percent: Float = Field(0, ge=0, le=100)
    segment: JsonObject | None = Field(
        None, description="The stage's targeting rule when it entered the stage: the "
        "percent is its share inside this segment, and the flag serves it only there.")
    entered: AwareDatetime | None = Field(
        None, description="When it entered its stage (bake time counts from here).")
    approvals_used: list[ApprovalUsed] = Field(default_factory=list)


class StatusBody(Model):
    phase: Phase = "pending"
    serving: Version | None = Field(
        None, description="The version that completed a rollout; none: the customer's "
        "existing process (no AI).")
    candidate: Candidate | None = None
    history: list[Transition] = Field(default_factory=list)
    terminal: TerminalState | None = None
    processed_events: list[str] = Field(default_factory=list)
    last_review: AwareDatetime | None = None
    next_review: AwareDatetime | None = None
    message: str = ""
    rollback: Rollback | None = None
    pending_feedback: list[str] = Field(
        default_factory=list, description="Feedback events waiting for the next review.")
    confirmed_cases: list[ConfirmedCase] = Field(
        default_factory=list, description="Regression cases confirmed by a customer reviewer.")
    adopted: AwareDatetime | None = Field(
        None, description="When the bot vouched for this status, written by an ailoop from "
        "before the bot key (`ailoop adopt`).")

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Status files written before serving and candidate existed carry the rollout
        at the top (stage, percent, since, evidenceId, approvalsUsed). A stage of 100 %
        reached and complete was a finished rollout: it becomes the serving version; any
        other stage becomes the candidate there. The reconciler fills in the version and
        the code digest from the evidence, and writes the new form on its next commit."""
        if not isinstance(data, dict) or not _LEGACY.intersection(data):
            return data
        data = dict(data)
        stage = data.pop("stage", None)
        # A percent without a stage is not the old form either: left for the error.
        percent = data.pop("percent", 0) if stage is not None or \
            _number(data.get("percent", 0)) == 0 else None
        since = data.pop("since", None)
        evidence = data.pop("evidenceId", None) or data.pop("evidence_id", None) or ""
        used = data.pop("approvalsUsed", None) or data.pop("approvals_used", None) or []
        if stage is None:
            return data
        version = {"version": "", "evidenceId": evidence, "since": since}
        if data.get("phase") == "complete" and _number(percent) == 100:
            data.setdefault("serving", version)
        else:
            data.setdefault("candidate", {**version, "stage": stage, "percent": percent,
                                          "entered": since, "approvalsUsed": used})
        return data


_LEGACY = frozenset({"stage", "percent", "since", "evidenceId", "approvalsUsed", "evidence_id",
                     "approvals_used"})


def _number(value: Any) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


class Status(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Status"]
    metadata: Metadata
    status: StatusBody = Field(default_factory=StatusBody)
