"""The action guard's rule in record-only mode, as dry runs apply it: what production's
guard (ailoop-runtime's `Guard.propose(..., record_only=True)`) would have done with each
action a workflow proposes. An action the spec does not declare is refused (in production
it raises and never runs); a declared one would have waited for a person when its class is
sensitive, irreversible, financial or customer-facing, or it asks for humanConfirmation;
otherwise it would have run. Nothing runs in a dry run.

ailoop does not import the runtime (the CLI stays free of the runtime's dependencies, the
runtime of the CLI's); `tests/unit/policy/test_actions.py` drives both with the same
proposals and checks they decide alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.model.priority import EXPOSED_CLASSES, Action

Verdict = Literal["would-wait", "would-run", "refused"]


@dataclass(frozen=True)
class Proposed:
    name: str
    cls: str  # the class the spec declares ("" when it declares no such action)
    verdict: Verdict
    payload: Any = None

    @property
    def why(self) -> str:
        if self.verdict == "refused":
            return f"action '{self.name}' is not declared in the priority's spec"
        if self.verdict == "would-wait":
            return (f"{self.cls}: a person confirms it" if self.cls in EXPOSED_CLASSES
                    else f"{self.cls}, humanConfirmation: a person confirms it")
        return f"{self.cls}, no confirmation asked"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "verdict": self.verdict}
        if self.cls:
            out["class"] = self.cls
        if self.payload is not None:
            out["payload"] = self.payload
        return out


def split_output(output: Any) -> tuple[Any, list[Any]]:
    """A workflow may return {"output": ..., "actions": [...], "usage": {...}} (the
    runtime's protocol): the output the assertions judge, and the proposed actions."""
    if isinstance(output, dict) and ("actions" in output or "usage" in output):
        rest = {k: v for k, v in output.items() if k not in ("actions", "usage")}
        value = rest.get("output", rest) if set(rest) <= {"output"} else rest
        proposed = output.get("actions") or []
        return value, list(proposed) if isinstance(proposed, list) else [proposed]
    return output, []


def needs_person(action: Action) -> bool:
    return action.class_ in EXPOSED_CLASSES or action.human_confirmation


def decide(declared: Iterable[Action], proposals: Iterable[Any]) -> list[Proposed]:
    """What the guard would have done with each proposal, in order."""
    actions: Mapping[str, Action] = {a.name: a for a in declared}
    out: list[Proposed] = []
    for proposal in proposals:
        name = proposal.get("name") if isinstance(proposal, dict) else None
        payload = proposal.get("payload") if isinstance(proposal, dict) else None
        spec = actions.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = name if isinstance(name, str) else "(no name)"
            out.append(Proposed(shown, "", "refused", payload))
            continue
        out.append(Proposed(spec.name, spec.class_,
                            "would-wait" if needs_person(spec) else "would-run", payload))
    return out
