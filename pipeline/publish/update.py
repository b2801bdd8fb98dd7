"""Customer-facing updates in plain language: what changed, where things stand, proof,
production health, value against the plan, the next step, and blockers with their owner.

`build_update` is pure (view + previous state + now + audience -> sections); renderers turn
sections into Markdown or self-contained HTML with SVG charts. Every sentence is a gettext
message in the customer's language, with dates in the project's time zone (`pipeline.i18n`).
Reasons the reconciler recorded and incident summaries are quoted as written. A hidden state
line in each update lets the next one say what changed since.
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
from pipeline.i18n import N_, Audience
from pipeline.monitoring.base import GateReading
from pipeline.monitoring.shadow import ShadowSummary
from pipeline.publish.charts import Bar, bars_chart, rollout_chart
from pipeline.publish.snapshot import EvidenceView, PriorityView, StepView

_STATE_RE = re.compile(r"<!-- ailoop-update (\{.*?\}) -->")
_PHASE_WORDS = {
    "pending": N_("is being tested on your sample data before anyone uses it"),
    "dry-run": N_("is being re-tested after a change, before it goes any further"),
    "awaiting-approval": N_("has passed testing and is waiting for your approval"),
    "progressing": N_("is being released step by step"),
    "holding": N_("is paused at its current step until every check is met"),
    "rolled-back": N_("was pulled back to a safer step after a problem, and stays there until "
                      "the problem is fixed"),
    "complete": N_("has reached the release step you asked for"),
    "blocked": N_("is blocked and needs a decision"),
}
# Section keys (stable, for the HTML charts and tests) and their titles.
SECTION_TITLES = {
    "changes": N_("What changed since the last update"),
    "standing": N_("Where it stands"),
    "testing": N_("Test results on your sample data"),
    "health": N_("Production health"),
    "value": N_("Value against the plan"),
    "next": N_("Next step"),
    "blockers": N_("Blockers"),
}
# Phrases that mean nothing to a customer; tests assert none reaches an update.
JARGON = ("reconcile", "evidence id", "fingerprint", "gate", "flagd", "sha", "yaml")


@dataclass(frozen=True)
class Section:
    key: str
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
    audience: Audience = field(default_factory=Audience)


@dataclass(frozen=True)
class Subject:
    """Whose production figures: a version, on trial at a stage or serving (stage None)."""

    version: str
    stage: str | None = None


@dataclass(frozen=True)
class Readings:
    """Production figures, when monitoring has them (metric -> value, sample count): the
    readings the plan or the review judged at the same moment, never a second reading."""

    values: dict[str, tuple[float | None, int]] = field(default_factory=dict)
    observed_value: float | None = None
    observed_cost: float | None = None
    subject: Subject | None = None


def readings_of(gates: Iterable[GateReading] | None, subject: Subject | None = None, *,
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


def build_update(view: PriorityView, previous: dict[str, Any] | None, now: datetime,
                 readings: Readings | None = None, audience: Audience | None = None,
                 shadow: ShadowSummary | None = None) -> Update:
    readings = readings or Readings()
    a = audience or Audience()
    lines = {
        "changes": _changes(view, previous, a),
        "standing": _standing(view, a),
        "testing": _testing(view, a),
        "health": _health(view, readings, a) + shadow_lines(shadow, a),
        "value": _value(view, readings, a),
        "next": _next_step(view, now, a),
        "blockers": _blockers(view, a),
    }
    sections = tuple(Section(key, a._(SECTION_TITLES[key]), lines[key]) for key in lines)
    points = tuple((h.time, h.percent) for h in view.history)
    bars = _bars(view, readings, a)
    title = a._("{customer}: {priority}, update of {date}").format(
        customer=view.customer_name, priority=view.name.replace("-", " "), date=a.date(now))
    return Update(title, now, sections, state_of(view, now), points, bars, a)


def _traffic(a: Audience, percent: float) -> str:
    return a.percent(percent / 100)


def _changes(view: PriorityView, previous: dict[str, Any] | None,
             a: Audience) -> tuple[str, ...]:
    if previous is None:
        return (a._("This is the first update on this work."),)
    since = datetime.fromisoformat(str(previous.get("date")))
    lines = [_step_line(h, a) for h in view.history if h.time > since]
    if view.serving and previous.get("serving") not in (None, view.serving):
        lines.append(a._("Version {version} now handles all live work that is not part of "
                         "a trial.").format(version=view.serving))
    if view.evidence and previous.get("evidence") != view.evidence.id:
        ev, before = view.evidence, previous.get("passRate")
        if isinstance(before, float) and before < ev.pass_rate:
            lines.append(a.n_("A new test run passed {rate} of {cases} sample case, up from "
                              "{before}.", "A new test run passed {rate} of {cases} sample "
                              "cases, up from {before}.", ev.cases).format(
                rate=a.percent(ev.pass_rate), cases=ev.cases, before=a.percent(before)))
        else:
            lines.append(a.n_("A new test run passed {rate} of {cases} sample case.",
                              "A new test run passed {rate} of {cases} sample cases.",
                              ev.cases).format(rate=a.percent(ev.pass_rate), cases=ev.cases))
    opened = {i.name for i in view.open_incidents} - set(previous.get("openIncidents") or [])
    closed = set(previous.get("openIncidents") or []) - {i.name for i in view.open_incidents}
    lines += [a._("A production problem was reported ({name}).").format(name=name)
              for name in sorted(opened)]
    lines += [a._("The production problem {name} is resolved.").format(name=name)
              for name in sorted(closed)]
    return tuple(lines) or (a._("Nothing has changed since the last update."),)


def _step_line(h: StepView, a: Audience) -> str:
    if h.action == "complete":
        text = a._("On {day} the new version finished its release: {reason}")
    elif h.to_stage is None:
        text = a._("On {day} the trial version was taken off live work: {reason}")
    elif h.action == "resegment":  # same step, another group of live work (its segment)
        text = a._("On {day} the group chosen for the {stage} step changed, and the new "
                   "version now handles {share} of the live work in the new group: {reason}")
    else:
        text = a._("Release step changed to {stage} ({share} of traffic) on {day}: {reason}")
    return text.format(day=a.day(h.time), reason=h.reason, stage=h.to_stage,
                       share=_traffic(a, h.percent))


def _standing(view: PriorityView, a: Audience) -> tuple[str, ...]:
    phase = a._(_PHASE_WORDS[view.phase]) if view.phase in _PHASE_WORDS else view.phase
    names = [name for name, _ in view.stages]
    rest = (a._("version {version}").format(version=view.serving) if view.serving
            else a._("your existing process"))
    if view.stage:
        step = names.index(view.stage) + 1 if view.stage in names else 0
        facts = {"version": view.candidate, "step": step, "steps": len(names),
                 "stage": view.stage, "share": _traffic(a, view.percent), "rest": rest}
        if view.percent == 0:
            where = a._("Version {version} is at step {step} of {steps} ({stage}): it runs "
                        "alongside {rest} without acting on live work.").format(**facts)
        elif view.segmented:  # the percent is a share of the stage's segment only
            where = a._("Version {version} is at step {step} of {steps} ({stage}), handling "
                        "{share} of the live work in the group chosen for this step; {rest} "
                        "handles the rest.").format(**facts)
        else:
            where = a._("Version {version} is at step {step} of {steps} ({stage}), handling "
                        "{share} of live traffic; {rest} handles the rest.").format(**facts)
    elif view.serving:
        where = a._("Version {version} handles all live work.").format(version=view.serving)
        if view.candidate:
            where += " " + a._("Version {version} is being prepared and has no live work "
                               "yet.").format(version=view.candidate)
    else:
        where = a._("It is not handling any live traffic yet.")
    return (a._("The workflow {phase}.").format(phase=phase), where,
            a._("The release goes up to the {target} step you asked for.").format(
                target=view.target))


def _testing(view: PriorityView, a: Audience) -> tuple[str, ...]:
    ev = view.evidence
    if ev is None:
        return (a._("No test run yet."),)
    facts = {"day": a.day(ev.created), "correct": ev.cases - ev.failed, "cases": ev.cases,
             "rate": a.percent(ev.pass_rate),
             "bar": a.percent(ev.threshold) if ev.threshold is not None else ""}
    if not ev.verified:
        text = (a._("The latest run, from the PR, not yet verified, on {day} handled {correct} "
                    "of {cases} sample cases correctly, {rate} (the bar is {bar}). It does "
                    "not count until a trusted run repeats it.") if ev.threshold is not None
                else a._("The latest run, from the PR, not yet verified, on {day} handled "
                         "{correct} of {cases} sample cases correctly, {rate}. It does not "
                         "count until a trusted run repeats it."))
    elif ev.threshold is not None:
        text = (a._("The latest run on {day} handled {correct} of {cases} sample cases "
                    "correctly, {rate} (the bar is {bar}); it met the agreed standard.")
                if ev.passed else
                a._("The latest run on {day} handled {correct} of {cases} sample cases "
                    "correctly, {rate} (the bar is {bar}); it did not meet the agreed "
                    "standard."))
    else:
        text = (a._("The latest run on {day} handled {correct} of {cases} sample cases "
                    "correctly, {rate}; it met the agreed standard.") if ev.passed else
                a._("The latest run on {day} handled {correct} of {cases} sample cases "
                    "correctly, {rate}; it did not meet the agreed standard."))
    return (text.format(**facts), *_case_counts(ev, a))


def _case_counts(ev: EvidenceView, a: Audience) -> list[str]:
    lines = []
    if ev.fixed:
        lines.append(a.n_("{n} case that failed before now passes.",
                          "{n} cases that failed before now pass.", len(ev.fixed))
                     .format(n=len(ev.fixed)))
    if ev.newly_failing:
        lines.append(a.n_("{n} case that passed before now fails.",
                          "{n} cases that passed before now fail.", len(ev.newly_failing))
                     .format(n=len(ev.newly_failing)))
    if ev.edge_cases_failing:
        lines.append(a.n_("{n} unusual case still needs work.",
                          "{n} unusual cases still need work.",
                          ev.edge_cases_failing).format(n=ev.edge_cases_failing))
    for category, count in sorted(ev.categories.items(), key=lambda kv: -kv[1])[:3]:
        lines.append(a.n_("Open issue: {category} ({n} case).",
                          "Open issue: {category} ({n} cases).", count).format(
            category=category, n=count))
    if len(ev.categories) > 3:
        more = len(ev.categories) - 3
        lines.append(a.n_("… and {n} more open issue.", "… and {n} more open issues.",
                          more).format(n=more))
    return lines


def _health(view: PriorityView, readings: Readings, a: Audience) -> tuple[str, ...]:
    if not view.serving and (not view.stage or view.percent == 0):
        return (a._("Not live yet, so there is no production data."),)
    lines = [_subject_line(readings.subject, a)] if readings.subject else []
    for name, metric, comparison, threshold in view.gates:
        value, samples = readings.values.get(metric, (None, 0))
        if value is None:
            lines.append(a._("{name}: no recent data, so the release stays where it is.")
                         .format(name=name))
        else:
            lines.append(a.n_("{name}: {value} (target {comparison} {threshold}, {n} "
                              "request).", "{name}: {value} (target {comparison} {threshold}, "
                              "{n} requests).", samples).format(
                name=name, value=a.number(value), comparison=comparison,
                threshold=a.number(threshold), n=samples))
    if view.open_incidents:
        n = len(view.open_incidents)
        lines.append(a.n_("{n} reported problem is open.", "{n} reported problems are open.",
                          n).format(n=n))
    return tuple(lines) or (a._("No production checks are defined."),)


def shadow_lines(summary: ShadowSummary | None, a: Audience) -> tuple[str, ...]:
    """The candidate's shadow runs beside the serving version: how often it answered the
    same, and a few of the answers that differed (outputs only, cut short: the requests are
    production data the dataset's redaction may not know)."""
    if summary is None or not summary.runs:
        return ()
    lines = [a.n_("In shadow, version {version} answered {n} request beside the current "
                  "version and gave the same answer {agreed} times ({rate}).",
                  "In shadow, version {version} answered {n} requests beside the current "
                  "version and gave the same answer {agreed} times ({rate}).",
                  summary.runs).format(version=summary.version, n=summary.runs,
                                       agreed=summary.agreed,
                                       rate=a.percent(summary.agreed / summary.runs))]
    for ex in summary.examples:
        lines.append(a._("Different answer (trace {trace}): the current version said "
                         "{serving}, the new one {candidate}.").format(
            trace=ex.trace[:12], serving=_short(ex.serving), candidate=_short(ex.candidate)))
    if summary.more > 0:
        lines.append(a.n_("… and {n} more different answer.", "… and {n} more different "
                          "answers.", summary.more).format(n=summary.more))
    return tuple(lines)


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                            sort_keys=True)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _subject_line(subject: Subject, a: Audience) -> str:
    if subject.stage is None:
        return a._("Figures for version {version}:").format(version=subject.version)
    return a._("Figures for version {version} (on trial at {stage}):").format(
        version=subject.version, stage=subject.stage)


def _value(view: PriorityView, readings: Readings, a: Audience) -> tuple[str, ...]:
    roi = view.roi
    if roi is None:
        return (a._("No value estimate was agreed."),)
    lines = [a._("Planned: {value} of saved work per month at {cost} running cost.").format(
        value=a.money(roi.expected_value, roi.currency),
        cost=a.money(roi.expected_cost, roi.currency))]
    if readings.observed_value is not None:
        lines.append(a._("Observed so far: {value} per month at {cost}.").format(
            value=a.money(readings.observed_value, roi.currency),
            cost=a.money(readings.observed_cost or 0.0, roi.currency)))
    else:
        lines.append(a._("Observed value is measured once the workflow handles live traffic."))
    return tuple(lines)


def _next_step(view: PriorityView, now: datetime, a: Audience) -> tuple[str, ...]:
    names = [name for name, _ in view.stages]
    if view.phase in ("blocked", "rolled-back"):
        return (a._("Fix the problem below, test again, and ask for approval again."),)
    if view.stage is None and (view.candidate or not view.serving):
        return (a._("Finish testing, then ask for approval to start the first step."),)
    if view.stage is None or (view.stage == view.target
                              and dict(view.stages).get(view.stage, 0) < 100):
        return (_watch(view, a),)
    if view.stage == view.target:
        return (a._("Once it has run at this step for the agreed time with healthy checks, "
                    "it becomes the version all your live work uses."),)
    step = names.index(view.stage) if view.stage in names else -1
    following = names[step + 1] if 0 <= step < len(names) - 1 else view.target
    bake = dict(view.bake).get(view.stage)
    if bake is not None and view.since is not None:
        return (a._("Move to the {stage} step, no earlier than {moment}, once testing, "
                    "approvals and production checks all agree.").format(
            stage=following, moment=a.moment(max(view.since + bake, now))),)
    return (a._("Move to the {stage} step, once testing, approvals and production checks all "
                "agree.").format(stage=following),)


def _watch(view: PriorityView, a: Audience) -> str:
    if view.next_check is None:
        return a._("Keep watching production; the next scheduled review is planned.")
    return a._("Keep watching production; the next scheduled review is on {date}.").format(
        date=a.date(view.next_check))


def _blockers(view: PriorityView, a: Audience) -> tuple[str, ...]:
    lines = [a._("{name} ({severity}): {summary} Owner: {owner}.").format(
        name=i.name, severity=i.severity, summary=i.summary, owner=view.owner)
        for i in view.open_incidents]
    if view.terminal == "blocked":
        lines.append(a._("{reason} Owner: {owner}.").format(
            reason=view.terminal_reason, owner=view.terminal_owner or view.owner))
    return tuple(lines) or (a._("None."),)


def _bars(view: PriorityView, readings: Readings, a: Audience) -> tuple[Bar, ...]:
    bars = []
    if view.evidence and view.evidence.threshold is not None:
        bars.append(Bar(a._("Test pass rate"), view.evidence.pass_rate,
                        view.evidence.threshold, True))
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
    a = update.audience
    parts = [
        f"<!doctype html><html lang='{a.language}'><head><meta charset='utf-8'>",
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
        if section.key == "standing":
            parts.append("<figure>" + rollout_chart(
                update.rollout_points, now, a._("Share of live traffic over time"),
                a._("No rollout yet")) + "</figure>")
        if section.key == "health":
            parts.append("<figure>" + bars_chart(
                update.bars, a._("Key measures against their targets"), a._("No metrics yet"),
                a._("no data")) + "</figure>")
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
