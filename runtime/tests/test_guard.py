"""Sensitive, irreversible, financial and customer-facing actions always wait for a person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ailoop_runtime import (
    ActionRefused,
    ActionSpec,
    CallbackQueue,
    Decision,
    Guard,
    SqliteQueue,
    actions_from_priority,
)

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = {"pay-refund": ActionSpec("pay-refund", "financial", True),
           "tag-ticket": ActionSpec("tag-ticket", "internal", False),
           "email-customer": ActionSpec("email-customer", "customer-facing", False)}


def guard(queue: Any = None) -> tuple[Guard, list[dict[str, Any]]]:
    done: list[dict[str, Any]] = []
    executors = {name: (lambda p, n=name: done.append({"action": n, **p}) or "ok")
                 for name in ACTIONS}
    return Guard(ACTIONS, executors, queue, priority="acme/refunds"), done


def test_an_unconfirmed_financial_action_never_runs() -> None:
    g, done = guard()
    decision = g.propose("pay-refund", {"amount": 120})
    assert decision.status == "queued" and done == []
    rejected = g.reject(decision.id, by="mei")
    assert rejected.status == "rejected" and rejected.by == "mei" and done == []
    with pytest.raises(KeyError):
        g.confirm(decision.id, by="mei")  # a rejection is final
    assert done == []


def test_a_person_confirms_and_it_runs_once() -> None:
    g, done = guard()
    decision = g.propose("pay-refund", {"amount": 120})
    confirmed = g.confirm(decision.id, by="lukas", payload={"amount": 100})  # an override
    assert confirmed.status == "confirmed" and confirmed.by == "lukas"
    assert done == [{"action": "pay-refund", "amount": 100}]
    with pytest.raises(KeyError):
        g.confirm(decision.id, by="lukas")


def test_customer_facing_waits_even_when_the_spec_says_no_confirmation() -> None:
    g, done = guard()
    assert g.propose("email-customer", {"to": "x"}).status == "queued" and done == []


def test_internal_actions_run_and_undeclared_ones_are_refused() -> None:
    g, done = guard()
    assert g.propose("tag-ticket", {"tag": "refund"}).status == "executed"
    with pytest.raises(ActionRefused):
        g.propose("delete-account", {})
    assert done == [{"action": "tag-ticket", "tag": "refund"}]


def test_a_dry_run_records_what_would_have_waited() -> None:
    g, done = guard()
    recorded = g.propose("pay-refund", {"amount": 5}, record_only=True)
    assert recorded.status == "recorded" and recorded.would_wait and done == []
    assert not g.propose("tag-ticket", {}, record_only=True).would_wait


def test_decisions_survive_a_restart_in_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "decisions.sqlite")
    g, _ = guard(SqliteQueue(path))
    decision = g.propose("pay-refund", {"amount": 7})
    again, done = guard(SqliteQueue(path))
    assert [d.id for d in again.queue.pending()] == [decision.id]
    again.confirm(decision.id, by="hannah")
    assert done == [{"action": "pay-refund", "amount": 7}]
    assert again.queue.get(decision.id).status == "confirmed"  # type: ignore[union-attr]


def test_a_callback_queue_hands_queued_actions_to_the_customers_tool() -> None:
    seen: list[Decision] = []
    g, _ = guard(CallbackQueue(seen.append))
    g.propose("pay-refund", {"amount": 1})
    g.propose("tag-ticket", {})
    assert [d.action for d in seen] == ["pay-refund"]


def test_actions_come_from_the_priority_spec() -> None:
    actions = actions_from_priority(
        str(ROOT / "customers/northwind-insurance/claims-intake/priority.yaml"))
    assert actions and all(isinstance(a, ActionSpec) for a in actions.values())
    assert any(a.needs_person for a in actions.values())
