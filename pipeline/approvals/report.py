"""How a pull request's gates read: text for people, Markdown for the step summary, and
the one-line commit status description."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.approvals.evaluate import Verdict
from pipeline.approvals.regression import CASE_STAGE
from pipeline.approvals.requirements import GOVERNANCE


class Gate(Protocol):
    """A pull request's gates (GitHub reviews) or a change's (signed git approvals)."""

    @property
    def verdicts(self) -> Sequence[Verdict]: ...

    @property
    def notes(self) -> Sequence[str]: ...

    @property
    def heading(self) -> str: ...

    @property
    def satisfied(self) -> bool: ...

STATUS_LIMIT = 140  # GitHub truncates longer commit status descriptions


def gate_name(verdict: Verdict) -> str:
    if verdict.stage == GOVERNANCE:
        return "governance files"
    if verdict.stage.startswith(CASE_STAGE):
        return f"{verdict.priority} regression case {verdict.stage.removeprefix(CASE_STAGE)}"
    return f"{verdict.priority} stage {verdict.stage}"


def _approved_by(verdict: Verdict) -> list[str]:
    return [f"{o.requirement.role_label}: {', '.join(o.approvers)}"
            for o in verdict.outcomes if o.approvers]


def not_counted(gate: Gate) -> list[str]:
    """Every approval set aside, once, with the reason."""
    seen: dict[str, None] = {}
    for verdict in gate.verdicts:
        for ignored in verdict.ignored:
            label = ignored.approval.label
            seen.setdefault(f"{label}: {ignored.reason}" if label else ignored.reason, None)
    for note in gate.notes:
        seen.setdefault(note.replace(" does not count: ", ": "), None)
    return list(seen)


def render_text(gate: Gate) -> str:
    lines = [gate.heading]
    if not gate.verdicts:
        lines.append("no approval gates: the change asks for no stage and changes no "
                     "governance file")
    for verdict in gate.verdicts:
        state = "approved" if verdict.satisfied else "waiting"
        lines.append(f"{gate_name(verdict)}: {state}")
        lines += [f"  approved by {text}" for text in _approved_by(verdict)]
        lines += [f"  - {reason}" for reason in verdict.reasons()]
    lines += [f"not counted: {reason}" for reason in not_counted(gate)]
    return "\n".join(lines)


def render_markdown(gate: Gate) -> str:
    lines = ["## ailoop approvals", "", "| Gate | State | Still needed |", "|---|---|---|"]
    for verdict in gate.verdicts:
        state = "✅ approved" if verdict.satisfied else "⏳ waiting"
        needed = "<br>".join(_cell(r) for r in verdict.reasons()) or "—"
        lines.append(f"| {_cell(gate_name(verdict))} | {state} | {needed} |")
    if not gate.verdicts:
        lines.append("| (none) | ✅ nothing to approve | — |")
    ignored = not_counted(gate)
    if ignored:
        lines += ["", "Not counted:", ""] + [f"- {_cell(reason)}" for reason in ignored]
    return "\n".join(lines) + "\n"


def status_description(gate: Gate) -> str:
    if gate.satisfied:
        return "all approval gates are met"
    waiting = [gate_name(v) for v in gate.verdicts if not v.satisfied]
    text = "waiting for approval: " + "; ".join(waiting)
    return text if len(text) <= STATUS_LIMIT else text[:STATUS_LIMIT - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
