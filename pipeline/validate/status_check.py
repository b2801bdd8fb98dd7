"""status.yaml against its priority's spec: values a reconciler could have written.

Status is written by the reconciler only (its trust is checked elsewhere); these bounds
hold anyway, so a hand edit that slipped through can never be acted on: the candidate's
stage is a stage of the spec, its percent is at most that stage's, and every promotion in
the history moved up exactly one stage, and the candidate stands where the last move of
the history left it. `validate` reports them as findings; the
reconciler holds the priority with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.documents.findings import Finding
from pipeline.documents.layout import PRIORITY_FILE, STATUS_FILE
from pipeline.validate.checks import FileResult

if TYPE_CHECKING:  # pydantic and the models: only once a document is parsed
    from pipeline.model.status import StatusBody

# (field path, message, where: "stage" | "percent" | history index)
Problem = tuple[str, str, str | int]


def bound_problems(candidate: tuple[str, float] | None,
                   promotions: Sequence[tuple[int, str | None, str | None]],
                   stages: Sequence[tuple[str, float]],
                   last_move: tuple[str | None, float] | None = None) -> list[Problem]:
    """`last_move`: where the newest history entry left the candidate (stage, percent)."""
    percents, order = dict(stages), [name for name, _ in stages]
    out: list[Problem] = []
    if candidate is not None and last_move is not None and last_move != candidate:
        where = f"{last_move[0]} {last_move[1]:g}%" if last_move[0] else "no stage"
        out.append(("status.candidate.stage", f"the history's last move left the candidate "
                    f"at {where}, not {candidate[0]} {candidate[1]:g}%", "stage"))
    if candidate is not None:
        stage, percent = candidate
        if stage not in percents:
            out.append(("status.candidate.stage", f"'{stage}' is not a stage of "
                        f"rollout.stages ({', '.join(order)})", "stage"))
        elif percent > percents[stage]:
            out.append(("status.candidate.percent", f"must be at most {percents[stage]:g} "
                        f"(stage {stage}'s percent)", "percent"))
    for i, frm, to in promotions:
        if to not in percents or (frm is not None and frm not in percents):
            continue  # a stage renamed since: nothing to compare with
        start = -1 if frm is None else order.index(frm)
        if order.index(to) != start + 1:
            skipped = order[start + 1: order.index(to)]
            what = f"skips {', '.join(skipped)}" if skipped else "does not move up one stage"
            out.append((f"status.history[{i}].to",
                        f"a promotion from {frm or 'the start'} to {to} {what}", i))
    return out


def status_bounds(body: StatusBody, stages: Sequence[tuple[str, float]]) -> list[str]:
    """The bound problems of a loaded status, as messages (for the reconciler)."""
    cand = body.candidate
    staged = (cand.stage, cand.percent) if cand is not None and cand.stage else None
    return [f"{STATUS_FILE}: {field}: {message}" for field, message, _ in
            bound_problems(staged, _promotions(body), stages, _last_move(body))]


def _promotions(body: StatusBody) -> list[tuple[int, str | None, str | None]]:
    return [(i, h.from_stage, h.to_stage) for i, h in enumerate(body.history)
            if h.action == "promote"]


def _last_move(body: StatusBody) -> tuple[str | None, float] | None:
    last = body.history[-1] if body.history else None
    return None if last is None else (last.to_stage, last.percent)


def status_facts(doc: Any) -> dict[str, Any]:
    """What the cross-check needs from a Status document, with positions."""
    body: StatusBody = doc.model.status
    cand = body.candidate
    facts: dict[str, Any] = {"candidate": None, "promotions": _promotions(body),
                             "last": _last_move(body), "positions": {}}
    if cand is not None and cand.stage is not None:
        facts["candidate"] = (cand.stage, cand.percent)
        facts["positions"] = {"stage": doc.pos("status", "candidate", "stage"),
                              "percent": doc.pos("status", "candidate", "percent")}
    for i, _, _ in facts["promotions"]:
        facts["positions"][i] = doc.pos("status", "history", i, "to")
    return facts


def status_findings(targets: list[str], results: Mapping[str, FileResult]) -> list[Finding]:
    findings: list[Finding] = []
    for rel in targets:
        facts = results[rel].facts
        if facts.get("kind") != "Status" or not rel.endswith("/" + STATUS_FILE):
            continue
        spec = results.get(rel[: -len(STATUS_FILE)] + PRIORITY_FILE)
        stages = spec.facts.get("stages") if spec is not None else None
        if not isinstance(stages, list):
            continue
        for field, message, where in bound_problems(facts["candidate"], facts["promotions"],
                                                    stages, facts.get("last")):
            line, col = facts["positions"].get(where, (1, 1))
            findings.append(Finding(rel, line, col, field, message))
    return findings
