"""The dry run's record-only guard decides as production's guard (ailoop-runtime's
`Guard.propose(..., record_only=True)`): the same proposals through both."""

from __future__ import annotations

from typing import Any

import pytest
from ailoop_runtime.guard import ActionRefused, ActionSpec, Guard
from hypothesis import given
from hypothesis import strategies as st

from pipeline.model.priority import Action
from pipeline.policy.actions import decide, split_output

CLASSES = ["internal", "sensitive", "irreversible", "financial", "customer-facing"]
NAMES = ["refund", "reply", "tag", "close", "escalate"]


def runtime_verdict(declared: list[Action], proposal: dict[str, Any]) -> str:
    specs = {a.name: ActionSpec(a.name, a.class_, a.human_confirmation) for a in declared}
    guard = Guard(specs, {})
    try:
        decision = guard.propose(proposal["name"], proposal.get("payload", {}),
                                 record_only=True)
    except ActionRefused:
        return "refused"
    assert decision.status == "recorded"
    return "would-wait" if decision.would_wait else "would-run"


actions = st.lists(st.builds(lambda n, c, h: Action.model_validate(
    {"name": n, "class": c, "humanConfirmation": h}),
    st.sampled_from(NAMES), st.sampled_from(CLASSES), st.booleans()),
    max_size=4, unique_by=lambda a: a.name)
proposals = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from([*NAMES, "delete-account"])},
    optional={"payload": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)}),
    max_size=5)


@given(actions, proposals)
def test_the_dry_run_decides_as_the_runtime_guard(declared: list[Action],
                                                  proposed: list[dict[str, Any]]) -> None:
    ours = [p.verdict for p in decide(declared, proposed)]
    assert ours == [runtime_verdict(declared, p) for p in proposed]


def test_what_a_workflow_returns_is_split_as_the_runtime_splits_it() -> None:
    from ailoop_runtime.runtime import _split

    for output in ({"output": {"a": 1}, "actions": [{"name": "x"}]},
                   {"decision": "approve", "actions": [{"name": "refund"}], "usage": {}},
                   {"decision": "deny"}, "text", {"usage": {"cost": 1}, "output": "t"}):
        value, proposed, _usage = _split(output)
        assert split_output(output) == (value, proposed)


@pytest.mark.parametrize(("cls", "confirm", "verdict", "why"), [
    ("financial", False, "would-wait", "financial: a person confirms it"),
    ("internal", True, "would-wait", "internal, humanConfirmation: a person confirms it"),
    ("internal", False, "would-run", "internal, no confirmation asked"),
])
def test_each_verdict_says_why(cls: str, confirm: bool, verdict: str, why: str) -> None:
    declared = [Action.model_validate({"name": "a", "class": cls, "humanConfirmation": confirm})]
    (one,) = decide(declared, [{"name": "a", "payload": {"n": 1}}])
    assert (one.verdict, one.why) == (verdict, why)
    assert one.to_json() == {"name": "a", "verdict": verdict, "class": cls,
                             "payload": {"n": 1}}


def test_an_undeclared_or_malformed_proposal_is_refused() -> None:
    refused = decide([], [{"name": "wire-money"}, "not a proposal", {"payload": {}}])
    assert [(p.name, p.verdict) for p in refused] == [
        ("wire-money", "refused"), ("(no name)", "refused"), ("(no name)", "refused")]
    assert refused[0].why == "action 'wire-money' is not declared in the priority's spec"
