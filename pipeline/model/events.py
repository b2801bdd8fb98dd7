"""Events in a priority's events/ folder: what happened outside the spec."""

from typing import Literal

from pydantic import AwareDatetime, Field

from pipeline.model.base import Bool, Metadata, Model

Severity = Literal["low", "medium", "high", "critical"]


class FeedbackSpec(Model):
    author: str = Field(description="id of the person giving the feedback.")
    time: AwareDatetime
    sentiment: Literal["positive", "neutral", "negative"]
    text: str
    case_ids: list[str] = Field(default_factory=list)


class Feedback(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Feedback"]
    metadata: Metadata
    spec: FeedbackSpec


class IncidentSpec(Model):
    severity: Severity
    reported_by: str
    time: AwareDatetime
    summary: str
    resolved: Bool = False
    resolved_at: AwareDatetime | None = None
    resolution: str = ""


class Incident(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Incident"]
    metadata: Metadata
    spec: IncidentSpec


class ReviewRequestSpec(Model):
    requested_by: str
    time: AwareDatetime
    reason: str


class ReviewRequest(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["ReviewRequest"]
    metadata: Metadata
    spec: ReviewRequestSpec


Event = Feedback | Incident | ReviewRequest
