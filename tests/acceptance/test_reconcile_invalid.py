"""The reconciler never acts on a priority that does not validate, and one invalid priority
never stops the others: a change pushed straight to the default branch (no PR, so no PR
check ran) that breaks a rule holds that priority alone, with the finding, until fixed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.acceptance.test_reconcile import reconcile
from tests.acceptance.test_status_trust import at_canary, served
from tests.support import GitRepo, run_cli
from tests.unit.reconciler.builders import T0, iso

__all__ = ["at_canary"]  # the fixture, shared with the trust tests
LATER = 200  # minutes: canary has baked; a valid priority would be promoted to early
PRIORITY = "customers/acme/triage/priority.yaml"


def break_owner(repo: GitRepo) -> None:
    """A rollout-control edit (the owner is no input of the dry run) that a guardrail
    refuses: the owner is nobody at the customer."""
    path = repo.work / PRIORITY
    path.write_text(path.read_text().replace("  owner: olga\n", "  owner: mallory\n"))
    repo.commit_all("Hand the priority to mallory")


def test_a_priority_that_does_not_validate_is_held_with_the_finding(
        at_canary: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    break_owner(at_canary)
    assert reconcile(capsys, at_canary, LATER) == "No changes\n"
    assert served(at_canary) == ("canary", 500)
    plan = run_cli(capsys, "-C", str(at_canary.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=LATER)))
    assert "acme/triage: holds at v1.0.0 at canary 5%: the priority does not validate: " \
        in plan.out, plan.out
    assert (f"{PRIORITY}:7:10: guardrail/owner-exists: spec.owner: owner 'mallory' is not a "
            "person at customer 'acme'") in plan.out, plan.out
    assert "to release the hold, fix what `ailoop validate` reports" in plan.out, plan.out


def test_fixing_the_finding_releases_the_hold(at_canary: GitRepo,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    break_owner(at_canary)
    assert reconcile(capsys, at_canary, LATER) == "No changes\n"
    path = at_canary.work / PRIORITY
    path.write_text(path.read_text().replace("  owner: mallory\n", "  owner: olga\n"))
    at_canary.commit_all("Hand it back to olga")
    assert "early" in reconcile(capsys, at_canary, LATER)
    assert served(at_canary) == ("early", 2500)
