"""Reporters for a review: text for people, Markdown for PRs and issues, JSON for tools."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.reconcile.plan import EventView
from pipeline.review.roi import RoiFigures, RoiResult, money
from pipeline.review.run import Review


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _event(e: EventView) -> str:
    if e.kind == "Incident":
        state = "resolved" if e.resolved else "open"
        return f"incident {e.name} ({e.severity}, {state}) {when(e.time)}: {e.summary}"
    cases = f" (cases {', '.join(e.cases)})" if e.cases else ""
    return (f"feedback {e.name} ({e.severity or 'neutral'}) from {e.by} {when(e.time)}: "
            f"{e.summary}{cases}")


def cost_line(review: Review) -> str:
    p = review.production
    if p is None:
        return f"not measured: {review.production_note}"
    currency = review.roi.currency if review.roi else ""
    per_run = f"{currency} {p.cost_per_run:.4g}".strip()
    return (f"{p.runs:,} runs in {p.period.days}d, {per_run} per run, "
            f"success rate {p.success_rate:.1%}")


ROWS: tuple[tuple[str, Callable[[RoiFigures], float], bool], ...] = (
    ("runs per month", lambda f: f.runs_per_month, False),
    ("cases handled by AI", lambda f: f.cases_handled_per_month, False),
    ("value per month", lambda f: f.value_per_month, True),
    ("cost per month", lambda f: f.cost_per_month, True),
    ("net per month", lambda f: f.net_per_month, True),
)


def roi_rows(roi: RoiResult) -> list[tuple[str, str, str]]:
    def show(value: float, is_money: bool) -> str:
        return money(value, roi.currency) if is_money else f"{value:,.0f}"
    rows = [(label, show(get(roi.observed), m) if roi.observed else "-", show(get(roi.expected), m))
            for label, get, m in ROWS]
    observed_rate = f"{roi.observed.automation_rate:.1%}" if roi.observed else "-"
    return [*rows, ("automation rate", observed_rate, f"{roi.expected.automation_rate:.1%}")]


def outcome(review: Review) -> str:
    t = review.terminal
    if t.state == "healthy-review":
        return f"healthy-review; next check {when(t.next_check)}"
    return f"{t.state}; owner {t.owner}; next review {when(review.next_review)}"


def render_text(review: Review) -> str:
    out = [f"Review of {review.key} at {when(review.now)} (last review: {when(review.since)})",
           f"Reviewed: {review.stage} ({review.percent:g}% of traffic), owner {review.owner}",
           "",
           "Health per gate:"]
    out += [f"  {r.verdict:<12} {r.gate}: {r.reason}" for r in review.readings] or ["  (none)"]
    out += ["", "Incidents since the last review:"]
    out += [f"  {_event(e)}" for e in review.incidents] or ["  none"]
    out += ["", "Feedback since the last review:"]
    out += [f"  {_event(e)}" for e in review.feedback] or ["  none"]
    out += ["", f"Cost: {cost_line(review)}", ""]
    if review.roi is None:
        out.append("ROI: no hypothesis (spec.roi)")
    else:
        out.append(f"ROI: {review.roi.verdict} ({review.roi.reason})")
        out.append(f"  {'':<22}{'observed':>16}{'expected':>16}")
        out += [f"  {label:<22}{o:>16}{e:>16}" for label, o, e in roi_rows(review.roi)]
    out += ["", f"Drift: {review.drift.state}: {review.drift.reason}", "",
            f"Result: {outcome(review)}"]
    out += [f"  - {issue}" for issue in review.issues]
    return "\n".join(out) + "\n"


def render_md(review: Review) -> str:
    out = [f"## Operations review: {review.key}", "",
           f"{when(review.now)}, last review {when(review.since)}; reviewed "
           f"**{review.stage}** ({review.percent:g}% of traffic), owner {review.owner}", "",
           "### Health", "", "| Gate | Verdict | Reading |", "| --- | --- | --- |"]
    out += [f"| {r.gate} | {r.verdict} | {r.reason} |" for r in review.readings]
    out += ["", "### Incidents and feedback since the last review", ""]
    out += [f"- {_event(e)}" for e in (*review.incidents, *review.feedback)] or ["- none"]
    out += ["", "### Cost and ROI", "", f"Cost: {cost_line(review)}", ""]
    if review.roi is not None:
        out += [f"ROI **{review.roi.verdict}**: {review.roi.reason}", "",
                "| | Observed | Expected |", "| --- | ---: | ---: |"]
        out += [f"| {label} | {o} | {e} |" for label, o, e in roi_rows(review.roi)]
    out += ["", f"### Drift\n\n{review.drift.state}: {review.drift.reason}", "",
            f"### Result\n\n**{outcome(review)}**", ""]
    out += [f"- {issue}" for issue in review.issues]
    return "\n".join(out) + "\n"


def _figures(f: RoiFigures | None) -> dict[str, float] | None:
    if f is None:
        return None
    return {"runsPerMonth": f.runs_per_month, "casesHandledPerMonth": f.cases_handled_per_month,
            "automationRate": f.automation_rate, "valuePerMonth": f.value_per_month,
            "costPerMonth": f.cost_per_month, "netPerMonth": f.net_per_month}


def as_dict(review: Review) -> dict[str, Any]:
    t, roi, p = review.terminal, review.roi, review.production
    return {
        "priority": review.key, "time": review.now.isoformat(),
        "since": review.since.isoformat() if review.since else None,
        "stage": review.stage, "percent": review.percent,
        "gates": [{"gate": r.gate, "metric": r.metric, "verdict": r.verdict, "value": r.value,
                   "samples": r.samples, "reason": r.reason,
                   "observedAt": r.observed_at.isoformat() if r.observed_at else None}
                  for r in review.readings],
        "incidents": [e.name for e in review.incidents],
        "openIncidents": [e.name for e in review.open_incidents],
        "feedback": [e.name for e in review.feedback],
        "production": None if p is None else {
            "runs": p.runs, "periodDays": p.period.total_seconds() / 86400,
            "successRate": p.success_rate, "costPerRun": p.cost_per_run},
        "roi": None if roi is None else {
            "verdict": roi.verdict, "currency": roi.currency, "reason": roi.reason,
            "observed": _figures(roi.observed), "expected": _figures(roi.expected)},
        "drift": {"state": review.drift.state, "reason": review.drift.reason},
        "issues": list(review.issues),
        "terminal": t.model_dump(mode="json", by_alias=True, exclude_none=True),
        "nextReview": review.next_review.isoformat(),
    }


def render_json(review: Review) -> str:
    return json.dumps(as_dict(review), indent=2) + "\n"


RENDERERS: dict[str, Callable[[Review], str]] = {
    "text": render_text, "md": render_md, "json": render_json}
