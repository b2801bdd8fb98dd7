"""status.yaml against its priority's spec: values a reconciler could have written.

Status is written by the reconciler only (its trust is checked elsewhere); these bounds
hold anyway, so a hand edit that slipped through can never be acted on: the candidate's
stage is a stage of the spec, its percent is at most that stage's, and every promotion in
the history moved up exactly one stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.documents.findings import Finding
from pipeline.documents.layout import PRIORITY_FILE, STATUS_FILE
from pipeline.validate.checks import FileResult


def status_facts(doc: Any) -> dict[str, Any]:
    """What the cross-check needs from a Status document, with positions."""
    body = doc.model.status
    cand = body.candidate
    facts: dict[str, Any] = {"candidate": None, "promotions": []}
    if cand is not None and cand.stage is not None:
        facts["candidate"] = (cand.stage, cand.percent,
                              *doc.pos("status", "candidate", "stage"),
                              *doc.pos("status", "candidate", "percent"))
    for i, entry in enumerate(body.history):
        if entry.action == "promote":
            facts["promotions"].append((i, entry.from_stage, entry.to_stage,
                                        *doc.pos("status", "history", i, "to")))
    return facts


def status_findings(targets: list[str], results: Mapping[str, FileResult]) -> list[Finding]:
    findings: list[Finding] = []
    for rel in targets:
        facts = results[rel].facts
        if facts.get("kind") != "Status" or not rel.endswith("/" + STATUS_FILE):
            continue
        spec = results.get(rel[: -len(STATUS_FILE)] + PRIORITY_FILE)
        stages = spec.facts.get("stages") if spec is not None else None
        if isinstance(stages, list):
            findings += _against(rel, facts, dict(stages), [name for name, _ in stages])
    return findings


def _against(rel: str, facts: Mapping[str, Any], percents: dict[str, float],
             order: list[str]) -> list[Finding]:
    out: list[Finding] = []
    listing = ", ".join(order)
    cand = facts.get("candidate")
    if cand is not None:
        stage, percent, line, col, pline, pcol = cand
        if stage not in percents:
            out.append(Finding(rel, line, col, "status.candidate.stage",
                               f"'{stage}' is not a stage of rollout.stages ({listing})"))
        elif percent > percents[stage]:
            out.append(Finding(rel, pline, pcol, "status.candidate.percent",
                               f"must be at most {percents[stage]:g} (stage {stage}'s "
                               "percent)"))
    for i, frm, to, line, col in facts.get("promotions", []):
        if to not in percents or (frm is not None and frm not in percents):
            continue  # a stage renamed since: nothing to compare with
        start = -1 if frm is None else order.index(frm)
        if order.index(to) != start + 1:
            skipped = order[start + 1: order.index(to)] if order.index(to) > start else []
            what = f"skips {', '.join(skipped)}" if skipped else "does not move up one stage"
            out.append(Finding(rel, line, col, f"status.history[{i}].to",
                               f"a promotion from {frm or 'the start'} to {to} {what}"))
    return out
