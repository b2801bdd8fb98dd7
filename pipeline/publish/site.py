"""`ailoop site`: a static dashboard, self-contained HTML (works from file:// and on GitHub
Pages; no scripts, no fonts or styles fetched from anywhere).

It shows every customer at once, so it is written in English, the operators' language; its
times are in the project's time zone, like the customer updates'."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from pipeline.model.evidence import UNVERIFIED
from pipeline.publish.charts import Bar, bars_chart, rollout_chart
from pipeline.publish.snapshot import PriorityView
from pipeline.redact import process_redactor

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f9fafb}"
    "header{background:#111827;color:#fff;padding:1em 2em}header a{color:#fff}"
    "main{padding:1em 2em;max-width:1100px}table{border-collapse:collapse;width:100%;"
    "background:#fff}th,td{padding:.45em .6em;border-bottom:1px solid #e5e7eb;text-align:left;"
    "font-size:.92em}th{background:#f3f4f6}.healthy{color:#15803d}.incident,.blocked,"
    ".failing{color:#b91c1c;font-weight:bold}.muted{color:#6b7280}ol.timeline li{margin:.3em 0}"
    "section{background:#fff;padding:1em;margin:1em 0;border:1px solid #e5e7eb}"
)


_UTC = ZoneInfo("UTC")


def _moment(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _day(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d}"


def _page(title: str, body: str, generated: datetime, home: str, zone: ZoneInfo) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><a href='{home}'>ailoop</a> · {escape(title)}</header><main>{body}"
        f"<p class='muted'>Generated {_moment(generated, zone)}.</p></main></body></html>\n"
    )


def _slug(view: PriorityView) -> str:
    return f"{view.customer}--{view.name}.html"


def _serving(view: PriorityView) -> str:
    return f"v{view.serving}" if view.serving else "none (existing process)"


def _candidate(view: PriorityView) -> str:
    if view.candidate is None:
        return "none"
    where = f"{view.stage} {view.percent:g}%" if view.stage else "not out yet"
    if view.stage and view.segment:
        where += f" of segment {view.segment}"
    return f"v{view.candidate} at {where}"


def _roi_cell(view: PriorityView) -> str:
    if view.roi is None:
        return "<span class='muted'>none</span>"
    net = view.roi.expected_value - view.roi.expected_cost
    return f"{escape(view.roi.currency)} {net:,.0f}/month planned"


def _evidence_cell(view: PriorityView, zone: ZoneInfo) -> str:
    ev = view.evidence
    if ev is None:
        return "<span class='muted'>no run yet</span>"
    state = "passed" if ev.passed else "failed"
    label = "" if ev.verified else f"; {UNVERIFIED}"
    return f"{ev.pass_rate:.0%} of {ev.cases} ({state}, {_day(ev.created, zone)}{label})"


def _row(view: PriorityView, zone: ZoneInfo) -> str:
    health_class = view.health.split()[0]
    next_check = _day(view.next_check, zone) if view.next_check else "—"
    cells = [
        f"<a href='{_slug(view)}'>{escape(view.name)}</a>",
        escape(_serving(view)),
        escape(_candidate(view)),
        f"<span class='{health_class}'>{escape(view.health)}</span>",
        escape(view.phase),
        escape(view.terminal or "—"),
        escape(view.decision or "—"),
        next_check,
        _roi_cell(view),
        _evidence_cell(view, zone),
    ]
    return (f"<tr data-priority='{escape(view.key)}' data-stage='{escape(view.stage or '')}'>"
            + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")


def render_index(views: Sequence[PriorityView], generated: datetime,
                 zone: ZoneInfo = _UTC) -> str:
    customers: dict[str, list[PriorityView]] = {}
    for view in views:
        customers.setdefault(view.customer, []).append(view)
    head = ("<tr><th>Priority</th><th>Serving</th><th>Candidate</th><th>Health</th><th>Phase</th>"
            "<th>Terminal state</th><th>Next action</th><th>Next check</th><th>ROI</th>"
            "<th>Last dry run</th></tr>")
    body = [f"<h1>{len(views)} priorities for {len(customers)} customers</h1>"]
    for customer, items in sorted(customers.items()):
        name = items[0].customer_name
        body.append(f"<section id='{escape(customer)}'><h2>{escape(name)}</h2>"
                    f"<table>{head}{''.join(_row(v, zone) for v in items)}</table></section>")
    return _page("Dashboard", "".join(body), generated, "index.html", zone)


def render_priority(view: PriorityView, generated: datetime,
                    zone: ZoneInfo = _UTC) -> str:
    timeline = "".join(
        f"<li><b>{_moment(h.time, zone)}</b> {escape(h.action)} → "
        f"{escape(h.to_stage or 'serving version only')} "
        f"({h.percent:g}%): {escape(h.reason)}</li>" for h in view.history
    ) or "<li class='muted'>No transitions yet.</li>"
    bars = []
    if view.evidence and view.evidence.threshold is not None:
        bars.append(Bar("Dry-run pass rate", view.evidence.pass_rate,
                        view.evidence.threshold, True))
    chart = rollout_chart([(h.time, h.percent) for h in view.history], generated,
                          "Rollout progression")
    terminal = (f"{escape(view.terminal)}: {escape(view.terminal_reason)}"
                if view.terminal else "none recorded")
    body = (
        f"<h1>{escape(view.customer_name)} / {escape(view.name)}</h1>"
        f"<section><p>{escape(view.goal)}</p><p>Owner: {escape(view.owner)} · risk "
        f"{escape(view.risk)} · serving <b>{escape(_serving(view))}</b> · candidate "
        f"<b>{escape(_candidate(view))}</b> · target {escape(view.target)} · health "
        f"<b>{escape(view.health)}</b></p><p>Terminal state: {terminal}</p>"
        f"<p>Next action: {escape(view.decision or 'none')}</p></section>"
        f"<section><h2>Rollout</h2>{chart}</section>"
        f"<section><h2>Last dry run</h2><p>{_evidence_cell(view, zone)}</p>"
        f"{bars_chart(bars, 'Dry run against its threshold')}</section>"
        f"<section><h2>History</h2><ol class='timeline'>{timeline}</ol></section>"
    )
    return _page(f"{view.customer_name} / {view.name}", body, generated, "index.html", zone)


def build_site(views: Sequence[PriorityView], out: str, generated: datetime,
               time_zone: str = "UTC") -> list[str]:
    """Write the site into `out` (replaced whole, atomically); returns the files written.
    Times are shown in `time_zone` (the project's)."""
    zone = ZoneInfo(time_zone)
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".tmp-site-")
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the site from a web server
    files = {"index.html": render_index(views, generated, zone)}
    files.update({_slug(v): render_priority(v, generated, zone) for v in views})
    redact = process_redactor().text  # pages quote reasons and incident summaries
    for name, text in files.items():
        with open(os.path.join(staging, name), "w", encoding="utf-8") as fh:
            fh.write(redact(text))
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.replace(staging, out)
    return sorted(files)
