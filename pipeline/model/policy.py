"""kind: Policy (rules as CEL) and kind: Waiver (an approved, expiring exception)."""

import datetime as dt
from typing import Literal

from pydantic import Field

from pipeline.model.base import Metadata, Model, Role


class RuleMatch(Model):
    kinds: list[str] = Field(default_factory=lambda: ["Priority"])
    labels: dict[str, str] = Field(default_factory=dict)
    customers: list[str] = Field(default_factory=list)
    risk: list[Literal["low", "medium", "high", "critical"]] = Field(default_factory=list)


class Rule(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9./-]*$")
    description: str
    match: RuleMatch = Field(default_factory=RuleMatch)
    condition: str = Field(description="CEL expression; the document passes when it is true.")
    field: str = Field("", description="Field path the finding points at, e.g. spec.rollout.")
    severity: Literal["error", "warning"] = "error"
    message: str = Field(description="Shown when the condition is false; {{ expr }} interpolates.")


class PolicySpec(Model):
    rules: list[Rule] = Field(min_length=1)


class Policy(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Policy"]
    metadata: Metadata
    spec: PolicySpec


class WaiverApproval(Model):
    role: Role
    person: str


class WaiverSpec(Model):
    rule: str
    target: str = Field(pattern=r"^[a-z0-9-]+(/[a-z0-9-]+)?$",
                        description="customer or customer/priority the waiver applies to.")
    reason: str = Field(min_length=1)
    approved_by: WaiverApproval | None = None
    expires: dt.date


class Waiver(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Waiver"]
    metadata: Metadata
    spec: WaiverSpec
