"""Customer-facing updates in plain language: what changed, where things stand, proof,
production health, value against the plan, the next step, and blockers with their owner.

`build_update` is pure (view + previous state + now -> sections); renderers turn sections
into Markdown or self-contained HTML with SVG charts. A hidden state line in each update
lets the next one say what changed since.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from pipeline.fsio import write_atomic
from pipeline.model.evidence import UNVERIFIED
from pipeline.monitoring.base import GateReading
from pipeline.publish.charts import Bar, bars_chart, rollout_chart
from pipeline.publish.snapshot import PriorityView, StepView

_STATE_RE = re.compile(r"<!-- ailoop-update (\{.*?\}) -->")
_PHASE_WORDS = {
    "pending": "is being tested on your sample data before anyone uses it",
    "dry-run": "is being re-tested after a change, before it goes any further",
    "awaiting-approval": "has passed testing and is waiting for your approval",
    "progressing": "is being released step by step",
    "holding": "is paused at its current step until every check is met",
    "rolled-back": "was pulled back to a safer step after a problem, and stays there until "
                   "the problem is fixed",
    "complete": "has reached the release step you asked for",
    "blocked": "is blocked and needs a decision",
}
# Phrases that mean nothing to a customer; tests assert none reaches an update.
JARGON = ("reconcile", "evidence id", "fingerprint", "gate", "flagd", "sha", "yaml")


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Update:
    title: str
    date: datetime
    sections: tuple[Section, ...]
    state: dict[str, Any]
    rollout_points: tuple[tuple[datetime, float], ...] = ()
    bars: tuple[Bar, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Readings:
    """Production figures, when monitoring has them (metric -> value, sample count): the
    readings the plan or the review judged at the same moment, never a second reading."""

    values: dict[str, tuple[float | None, int]] = field(default_factory=dict)
    observed_value: float | None = None
    observed_cost: float | None = None
    subject: str = ""  # whose readings: "version 1.2.0 (on trial)", "version 1.1.1"


def readings_of(gates: Iterable[GateReading] | None, subject: str = "", *,
                observed_value: float | None = None,
                observed_cost: float | None = None) -> Readings:
    values = {r.metric: (r.value, r.samples) for r in gates or ()}
    return Readings(values, observed_value, observed_cost, subject)


def state_of(view: PriorityView, now: datetime) -> dict[str, Any]:
    return {
        "priority": view.key, "date": now.isoformat(), "stage": view.stage,
        "percent": view.percent, "phase": view.phase, "serving": view.serving,
        "candidate": view.candidate,
        "evidence": view.evidence.id if view.evidence else None,
        "passRate": view.evidence.pass_rate if view.evidence else None,
        "openIncidents": sorted(i.name for i in view.open_incidents),
    }


def previous_state(text: str) -> dict[str, Any] | None:
    match = _STATE_RE.search(text)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _pct(value: float) -> str:
    return f"{value:.0f}%" if float(value).is_integer() else f"{value:g}%"


def _money(value: float, currency: str) -> str:
    return f"{currency} {value:,.0f}"


def build_update(view: PriorityView, previous: dict[str, Any] | None, now: datetime,
                 readings: Readings | None = None) -> Update:
    readings = readings or Readings()
    sections = (
        Section("What changed since the last update", _changes(view, previous)),
        Section("Where it stands", _standing(view)),
        Section("Test results on your sample data", _testing(view)),
        Section("Production health", _health(view, readings)),
        Section("Value against the plan", _value(view, readings)),
        Section("Next step", _next_step(view, now)),
        Section("Blockers", _blockers(view)),
    )
    points = tuple((h.time, h.percent) for h in view.history)
    bars = _bars(view, readings)
    title = f"{view.customer_name}: {view.name.replace('-', ' ')}, update of {now:%d %B %Y}"
    return Update(title, now, sections, state_of(view, now), points, bars)


def _changes(view: PriorityView, previous: dict[str, Any] | None) -> tuple[str, ...]:
    if previous is None:
        return ("This is the first update on this work.",)
    since = datetime.fromisoformat(str(previous.get("date")))
    lines = [_step_line(h) for h in view.history if h.time > since]
    if view.serving and previous.get("serving") not in (None, view.serving):
        lines.append(f"Version {view.serving} now handles all live work that is not part of "
                     "a trial.")
    if view.evidence and previous.get("evidence") != view.evidence.id:
        before = previous.get("passRate")
        change = f", up from {before:.0%}" if isinstance(before, float) and \
            before < view.evidence.pass_rate else ""
        lines.append(f"A new test run passed {view.evidence.pass_rate:.0%} of "
                     f"{view.evidence.cases} sample cases{change}.")
    opened = {i.name for i in view.open_incidents} - set(previous.get("openIncidents") or [])
    closed = set(previous.get("openIncidents") or []) - {i.name for i in view.open_incidents}
    lines += [f"A production problem was reported ({name})." for name in sorted(opened)]
    lines += [f"The production problem {name} is resolved." for name in sorted(closed)]
    return tuple(lines) or ("Nothing has changed since the last update.",)


def _step_line(h: StepView) -> str:
    if h.action == "complete":
        return f"On {h.time:%d %B} the new version finished its release: {h.reason}"
    if h.to_stage is None:
        return f"On {h.time:%d %B} the trial version was taken off live work: {h.reason}"
    return (f"Release step changed to {h.to_stage} ({_pct(h.percent)} of traffic) on "
            f"{h.time:%d %B}: {h.reason}")


def _standing(view: PriorityView) -> tuple[str, ...]:
    phase = _PHASE_WORDS.get(view.phase, view.phase)
    names = [name for name, _ in view.stages]
    rest = f"version {view.serving}" if view.serving else "your existing process"
    if view.stage:
        step = names.index(view.stage) + 1 if view.stage in names else 0
        where = (f"Version {view.candidate} is at step {step} of {len(names)} ({view.stage}), "
                 f"handling {_pct(view.percent)} of live traffic; {rest} handles the rest.")
        if view.percent == 0:
            where = (f"Version {view.candidate} is at step {step} of {len(names)} "
                     f"({view.stage}): it runs alongside {rest} without acting on live work.")
    elif view.serving:
        where = f"Version {view.serving} handles all live work."
        if view.candidate:
            where += f" Version {view.candidate} is being prepared and has no live work yet."
    else:
        where = "It is not handling any live traffic yet."
    return (f"The workflow {phase}.", where,
            f"The release goes up to the {view.target} step you asked for.")


def _testing(view: PriorityView) -> tuple[str, ...]:
    ev = view.evidence
    if ev is None:
        return ("No test run yet.",)
    verdict = "met" if ev.passed else "did not meet"
    bar = f" (the bar is {ev.threshold:.0%})" if ev.threshold is not None else ""
    lines = [f"The latest run on {ev.created:%d %B} handled {ev.cases - ev.failed} of "
             f"{ev.cases} sample cases correctly, {ev.pass_rate:.0%}{bar}; it {verdict} the "
             "agreed standard."]
    if not ev.verified:
        lines[0] = (f"The latest run, {UNVERIFIED}, on {ev.created:%d %B} handled "
                    f"{ev.cases - ev.failed} of {ev.cases} sample cases correctly, "
                    f"{ev.pass_rate:.0%}{bar}. It does not count until a trusted run repeats "
                    "it.")
    if ev.fixed:
        lines.append(f"{len(ev.fixed)} case(s) that failed before now pass.")
    if ev.newly_failing:
        lines.append(f"{len(ev.newly_failing)} case(s) that passed before now fail.")
    if ev.edge_cases_failing:
        lines.append(f"{ev.edge_cases_failing} unusual case(s) still need work.")
    for category, count in sorted(ev.categories.items(), key=lambda kv: -kv[1])[:3]:
        lines.append(f"Open issue: {category} ({count} case(s)).")
    if len(ev.categories) > 3:
        lines.append(f"… and {len(ev.categories) - 3} more open issue(s).")
    return tuple(lines)


def _health(view: PriorityView, readings: Readings) -> tuple[str, ...]:
    if not view.serving and (not view.stage or view.percent == 0):
        return ("Not live yet, so there is no production data.",)
    lines = [f"Figures for {readings.subject}:"] if readings.subject else []
    for name, metric, comparison, threshold in view.gates:
        value, samples = readings.values.get(metric, (None, 0))
        if value is None:
            lines.append(f"{name}: no recent data, so the release stays where it is.")
        else:
            lines.append(f"{name}: {value:.3g} (target {comparison} {threshold:g}, "
                         f"{samples} requests).")
    if view.open_incidents:
        lines.append(f"{len(view.open_incidents)} reported problem(s) are open.")
    return tuple(lines) or ("No production checks are defined.",)


def _value(view: PriorityView, readings: Readings) -> tuple[str, ...]:
    roi = view.roi
    if roi is None:
        return ("No value estimate was agreed.",)
    lines = [f"Planned: {_money(roi.expected_value, roi.currency)} of saved work per month at "
             f"{_money(roi.expected_cost, roi.currency)} running cost."]
    if readings.observed_value is not None:
        cost = readings.observed_cost or 0.0
        lines.append(f"Observed so far: {_money(readings.observed_value, roi.currency)} per "
                     f"month at {_money(cost, roi.currency)}.")
    else:
        lines.append("Observed value is measured once the workflow handles live traffic.")
    return tuple(lines)


def _next_step(view: PriorityView, now: datetime) -> tuple[str, ...]:
    names = [name for name, _ in view.stages]
    if view.phase in ("blocked", "rolled-back"):
        return ("Fix the problem below, test again, and ask for approval again.",)
    when = f" on {view.next_check:%d %B %Y}" if view.next_check else ""
    if view.stage is None and view.serving and not view.candidate:
        return (f"Keep watching production; the next scheduled review is{when or ' planned'}.",)
    if view.stage is None:
        return ("Finish testing, then ask for approval to start the first step.",)
    if view.stage == view.target:
        if dict(view.stages).get(view.stage, 0) >= 100:
            return ("Once it has run at this step for the agreed time with healthy checks, "
                    "it becomes the version all your live work uses.",)
        return (f"Keep watching production; the next scheduled review is{when or ' planned'}.",)
    step = names.index(view.stage) if view.stage in names else -1
    following = names[step + 1] if 0 <= step < len(names) - 1 else view.target
    bake = dict(view.bake).get(view.stage)
    when = ""
    if bake is not None and view.since is not None:
        earliest = max(view.since + bake, now)
        when = f", no earlier than {earliest:%d %B %Y %H:%M} UTC"
    return (f"Move to the {following} step{when}, once testing, approvals and production "
            "checks all agree.",)


def _blockers(view: PriorityView) -> tuple[str, ...]:
    lines = [f"{i.name} ({i.severity}): {i.summary} Owner: {view.owner}."
             for i in view.open_incidents]
    if view.terminal == "blocked":
        owner = view.terminal_owner or view.owner
        lines.append(f"{view.terminal_reason} Owner: {owner}.")
    return tuple(lines) or ("None.",)


def _bars(view: PriorityView, readings: Readings) -> tuple[Bar, ...]:
    bars = []
    if view.evidence and view.evidence.threshold is not None:
        bars.append(Bar("Test pass rate", view.evidence.pass_rate, view.evidence.threshold,
                        True))
    for name, metric, comparison, threshold in view.gates:
        value, _ = readings.values.get(metric, (None, 0))
        bars.append(Bar(name, value, threshold, comparison.startswith(">")))
    return tuple(bars)


def render_markdown(update: Update) -> str:
    out = [f"# {update.title}", ""]
    for section in update.sections:
        out += [f"## {section.title}", ""]
        out += [f"- {line}" for line in section.lines]
        out.append("")
    out.append(f"<!-- ailoop-update {json.dumps(update.state, sort_keys=True)} -->")
    return "\n".join(out) + "\n"


def render_html(update: Update, now: datetime) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(update.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#1f2937;"
        "line-height:1.5}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}"
        "figure{margin:1em 0}</style></head><body>",
        f"<h1>{escape(update.title)}</h1>",
    ]
    for section in update.sections:
        parts.append(f"<h2>{escape(section.title)}</h2><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in section.lines]
        parts.append("</ul>")
        if section.title == "Where it stands":
            parts.append("<figure>" + rollout_chart(update.rollout_points, now,
                                                    "Share of live traffic over time")
                         + "</figure>")
        if section.title == "Production health":
            parts.append("<figure>" + bars_chart(update.bars, "Key measures against their "
                                                 "targets") + "</figure>")
    parts.append(f"<!-- ailoop-update {escape(json.dumps(update.state, sort_keys=True))} -->")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def updates_folder(root: str, customer: str) -> str:
    return os.path.join(root, "customers", customer, "updates")


def latest_update_text(root: str, view: PriorityView) -> str | None:
    folder = updates_folder(root, view.customer)
    if not os.path.isdir(folder):
        return None
    mine = sorted(f for f in os.listdir(folder) if f.startswith(view.name + "-")
                  and f.endswith(".md"))
    if not mine:
        return None
    with open(os.path.join(folder, mine[-1]), encoding="utf-8") as fh:
        return fh.read()


def write_update(root: str, view: PriorityView, text: str, now: datetime, suffix: str) -> str:
    """Write atomically to customers/<c>/updates/<priority>-<date>.<suffix>; returns the path."""
    path = os.path.join(updates_folder(root, view.customer),
                        f"{view.name}-{now:%Y-%m-%d}.{suffix}")
    write_atomic(path, text)
    return path
