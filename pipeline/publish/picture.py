"""One picture of a priority at one moment, for every reporter: the plan's decision and the
readings it judged. `ailoop update` and the dashboard take it from the same plan as
`ailoop plan` and `ailoop status`; a reconcile or a review hands over its own, so nothing
a customer reads contradicts what the reconciler or the review decided at that time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.monitoring.base import GateReading
from pipeline.publish.update import Readings, readings_of
from pipeline.reconcile.plan import PriorityPlan


@dataclass(frozen=True)
class Picture:
    decision: str  # the plan's primary action, in the operator's words
    health: str  # healthy | failing | collecting | unknown
    readings: Readings


def picture_of(plan: PriorityPlan) -> Picture:
    from pipeline.publish.outputs import judged

    return Picture(plan.primary.reason, health_of(plan.readings),
                   readings_of(plan.readings, judged(plan.before)))


def health_of(readings: tuple[GateReading, ...] | None) -> str:
    if readings is None:
        return "unknown"
    verdicts = {r.verdict for r in readings}
    if "fail" in verdicts:
        return "failing"
    return "healthy" if verdicts == {"pass"} else "collecting"


def pictures(root: str, now: datetime, only: str | None = None) -> dict[str, Picture]:
    """The picture of every priority (or those under `only`), planned at `now`."""
    from pipeline.reconcile.apply import make_plan

    _state, result = make_plan(root, now, only=only)
    return {p.key: picture_of(p) for p in result.priorities}
