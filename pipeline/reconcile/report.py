"""Reporters for `ailoop plan` and `ailoop status`: text for people, Markdown, JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.model.status import StatusBody
from pipeline.reconcile.plan import Action, Plan, PriorityInput, PriorityPlan
from pipeline.reconcile.segment_label import describe, markdown


def render_plan_text(result: Plan) -> str:
    lines: list[str] = []
    for p in result.priorities:
        lines += [f"{a.text}  [{a.gate}]" for a in p.actions]
        lines += [f"{p.key}: {note}" for note in _notes(p)]
    lines.append(_plan_summary(result))
    return "\n".join(lines) + "\n"


def render_plan_md(result: Plan) -> str:
    lines = ["| Priority | Action | Gate | Why |", "| --- | --- | --- | --- |"]
    for p in result.priorities:
        notes = "".join(f"; {markdown(note)}" for note in _notes(p))
        for a in p.actions:
            why = _md(a.reason) + (notes if a is p.primary else "")
            lines.append(f"| `{a.key}` | {a.kind} | {a.gate} | {why} |")
    return "\n".join([*lines, "", _plan_summary(result)]) + "\n"


def render_plan_json(result: Plan) -> str:
    payload = {"version": 2, "priorities": [
        {"priority": p.key, "changed": p.changed, "phase": p.status.phase,
         **exposure(p.status), "humanReview": review_progress(p.primary),
         "actions": [a.as_dict() for a in p.actions]}
        for p in result.priorities]}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _notes(p: PriorityPlan) -> list[str]:
    """What the action lines do not say: the segment the candidate serves after the plan,
    and how far the human review the plan holds on got."""
    notes = []
    cand = p.status.candidate
    if cand is not None and cand.stage is not None and cand.segment is not None:
        notes.append(f"at {cand.stage} {cand.percent:g}% of segment {describe(cand.segment)}")
    review = review_text(p.primary)
    if review:
        notes.append(review)
    return notes


def review_progress(action: Action) -> dict[str, Any] | None:
    """The human review the action holds on, as data (None: it holds on none)."""
    found = dict(action.inputs)
    if action.gate != "human-review" or "review_sample" not in found:
        return None

    def number(name: str) -> int | None:
        return int(found[name]) if name in found else None

    agreement = found.get("review_agreement")
    return {"stage": found.get("stage", ""), "labelled": number("review_labelled"),
            "total": number("review_total"), "sample": number("review_sample"),
            "agreement": float(agreement) if agreement is not None else None,
            "minAgreement": float(found["review_min_agreement"])}


def review_text(action: Action) -> str:
    """'human review for early: 2 of 4 labelled[, agreement 0.75 (needs 0.90)]'; for a
    review that cannot be counted (none yet, stale, forged), its reason's first clause."""
    progress = review_progress(action)
    if progress is None:
        return ""
    head = f"human review for {progress['stage']}"
    if progress["total"] is None:
        why = action.reason.removeprefix("holds: ").split("; to release:")[0]
        return head + why.removeprefix(f"human review for stage {progress['stage']}")
    text = f"{head}: {progress['labelled']} of {progress['total']} labelled"
    if progress["agreement"] is not None:
        text += (f", agreement {progress['agreement']:.2f} (needs "
                 f"{progress['minAgreement']:.2f})")
    return text


PLAN_RENDERERS = {"text": render_plan_text, "md": render_plan_md, "json": render_plan_json}


def _plan_summary(result: Plan) -> str:
    changes = result.changes
    if not changes:
        return f"{len(result.priorities)} priorities: no changes."
    kinds: dict[str, int] = {}
    for p in changes:
        kinds[p.primary.kind] = kinds.get(p.primary.kind, 0) + 1
    counts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return f"{len(result.priorities)} priorities: {len(changes)} would change ({counts})."


def _md(text: str) -> str:
    return text.replace("|", "\\|")


# --- status -------------------------------------------------------------------------------

COLUMNS = ("PRIORITY", "PHASE", "SERVING", "CANDIDATE", "HEALTH", "NEXT ACTION", "TERMINAL",
           "NEXT CHECK")


def exposure(body: StatusBody) -> dict[str, Any]:
    """Serving and candidate as plain data, for tools."""
    cand, serving = body.candidate, body.serving
    return {"serving": None if serving is None else
            {"version": serving.version, "evidenceId": serving.evidence_id,
             "workflowDigest": serving.workflow_digest},
            "candidate": None if cand is None else
            {"version": cand.version, "evidenceId": cand.evidence_id, "stage": cand.stage,
             "percent": cand.percent, "segment": cand.segment,
             "segmentText": describe(cand.segment) or None}}


def serving_cell(body: StatusBody) -> str:
    return f"v{body.serving.version}" if body.serving and body.serving.version else \
        (body.serving.evidence_id if body.serving else "-")


def candidate_cell(body: StatusBody) -> str:
    cand = body.candidate
    if cand is None:
        return "-"
    name = f"v{cand.version}" if cand.version else cand.evidence_id
    if not cand.stage:
        return f"{name} (not out)"
    segment = f" of segment {describe(cand.segment)}" if cand.segment is not None else ""
    return f"{name} {cand.stage} {cand.percent:g}%{segment}"


def status_rows(inputs: Sequence[PriorityInput], result: Plan) -> list[tuple[str, ...]]:
    by_key = {i.key: i for i in inputs}
    return [_row(by_key[p.key], p) for p in result.priorities]


def _row(inp: PriorityInput, p: PriorityPlan) -> tuple[str, ...]:
    now = inp.status  # what is recorded now; the plan says what happens next
    action = p.primary
    terminal: str = now.terminal.state if now.terminal else "-"
    if now.terminal and now.terminal.owner:
        terminal += f" ({now.terminal.owner})"
    # a held human review: how far it got, not the reason's start (the cell is cut)
    why = review_text(action) or action.reason
    return (inp.key, now.phase, serving_cell(now), candidate_cell(now), health(inp),
            f"{action.kind}: {why}", terminal, _next_check(inp, p))


def health(inp: PriorityInput) -> str:
    """Of the candidate at its stage, else of the serving version."""
    cand = inp.status.candidate
    out = (cand is not None and cand.stage is not None) or inp.status.serving is not None
    if not out or inp.spec is None or not inp.spec.gates:
        return "-"
    if inp.readings is None:
        return "unknown"
    verdicts = {r.verdict for r in inp.readings}
    if "fail" in verdicts:
        return "failing"
    if verdicts == {"pass"} and len(inp.readings) >= len(inp.spec.gates):
        return "healthy"
    return "collecting"


def _next_check(inp: PriorityInput, p: PriorityPlan) -> str:
    for a in p.actions:
        bake = dict(a.inputs).get("bake_ends")
        if bake:
            return bake
    due = p.status.next_review
    return due.strftime("%Y-%m-%d %H:%M UTC") if due else "-"


def render_status(rows: list[tuple[str, ...]], result: Plan | None = None, *,
                  wide: bool = False) -> str:
    """The status table; cells cut at 60 characters (marked …) unless WIDE."""
    if not rows:
        return "No priorities.\n"
    table = [COLUMNS, *rows]
    cap = 10_000 if wide else 60
    widths = [min(max(len(r[i]) for r in table), cap) for i in range(len(COLUMNS))]
    lines = ["  ".join(_fit(cell, widths[i]) for i, cell in enumerate(r)).rstrip()
             for r in table]
    return "\n".join([*lines, *(_holds(result) if result is not None else [])]) + "\n"


def _holds(result: Plan) -> list[str]:
    """Priorities held because they cannot be read or trusted, in full (the table cuts
    the reason short): what holds them and how to release it."""
    held = [f"{p.key}: {p.primary.reason}" for p in result.priorities
            if p.primary.kind == "hold" and p.primary.gate == "spec"]
    return ["", "Held:", *held] if held else []


def _fit(cell: str, width: int) -> str:
    return (cell if len(cell) <= width else cell[: width - 1] + "…").ljust(width)


def status_json(inputs: Sequence[PriorityInput], result: Plan) -> str:
    """Every priority's status in full, for scripts (`ailoop status --format json`)."""
    by_key = {i.key: i for i in inputs}
    out = []
    for p in result.priorities:
        inp, row = by_key[p.key], _row(by_key[p.key], p)
        review = p.status.next_review or inp.status.next_review
        cand = inp.status.candidate
        segment = None if cand is None or cand.stage is None or cand.segment is None else \
            {"stage": cand.stage, "rule": cand.segment, "text": describe(cand.segment)}
        out.append({"priority": p.key, "phase": inp.status.phase, "serving": row[2],
                    "candidate": row[3], "segment": segment, "health": row[4],
                    "humanReview": review_progress(p.primary),
                    "next": {"action": p.primary.kind, "gate": p.primary.gate,
                             "reason": p.primary.reason},
                    "terminal": row[6], "nextCheck": row[7],
                    "reviewDue": review.isoformat().replace("+00:00", "Z") if review else None})
    return json.dumps({"priorities": out}, indent=2, ensure_ascii=False) + "\n"
