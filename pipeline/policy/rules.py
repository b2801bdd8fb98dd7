"""Plain data shared by the policy modules: what is judged, by what, and what was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pipeline.documents.findings import Severity
from pipeline.policy.expr import Expression
from pipeline.policy.paths import Loc

MIN_BAKE_TIME_HIGH_RISK = timedelta(hours=24)


class Violation(NamedTuple):
    """A rule that failed for one document, at a field location (positions come later)."""

    rule: str
    loc: Loc
    message: str
    severity: Severity = "error"


class Subject(NamedTuple):
    """One document to judge: its data (model dump, YAML field names) and its customer.

    `customer` is {"name", "labels", "people": [ids], "roles": {role: [ids]}} or None when
    the customer file is missing or invalid.
    """

    key: str
    kind: str
    data: dict[str, Any]
    customer: dict[str, Any] | None = None


@dataclass(frozen=True)
class Env:
    """Repository-wide context: the clock and the project settings."""

    now: datetime
    min_bake_time_high_risk: timedelta = MIN_BAKE_TIME_HIGH_RISK
    project: dict[str, Any] = field(default_factory=dict)
    customers: tuple[str, ...] = ()
    priorities: int = 0


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A repo rule compiled once per run (compared and hashed by identity, so a matched
    set of rules can key a memo)."""

    id: str
    description: str
    severity: Severity
    kinds: frozenset[str]
    labels: dict[str, str]
    customers: frozenset[str]
    risk: frozenset[str]
    condition: Expression
    message: tuple[str | Expression, ...]
    loc: Loc
    source: str
    line: int
    condition_text: str = ""
    message_text: str = ""


class PolicySet(NamedTuple):
    rules: tuple[CompiledRule, ...] = ()
    guardrails: bool = True

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.rules)

    def only(self, source: str) -> PolicySet:
        return PolicySet(tuple(r for r in self.rules if r.source == source), guardrails=False)
