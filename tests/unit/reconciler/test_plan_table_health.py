"""The planner, gate by gate, in production: monitoring, incidents and the fix cycle that
ends in `issue-fixed`. One row per case (see `table.py` for the defaults)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pipeline.monitoring.base import GateReading, Verdict
from tests.unit.reconciler.table import (
    GATE,
    MONITORING_INCIDENT,
    NOW,
    OLD,
    SERVED,
    STAGES,
    Case,
    Then,
    blocked,
    check,
    evidence,
    given,
    incident,
    readings,
    rollback,
    rows,
    spec,
    status,
)

FAILS = "monitoring gate 'error rate' fails (error_rate 0.031 > 0.02 over 1h (412 samples))"
RELEASE_MONITORING = f"to release: mark incident {MONITORING_INCIDENT} resolved, or ship a " \
    "fix (a new version)"
RELEASE_INC_1 = "to release: mark incident inc-1 resolved, or ship a fix (a new version)"
FIRST_STAGE_5 = spec(stages=STAGES[1:])  # canary 5 % is the first stage
TWO_GATES = spec(gates=("latency", GATE))
# Rolled back from early to shadow by inc-1, which is still open.
HELD: dict[str, Any] = {"phase": "rolled-back", "rollback": rollback(), "terminal": blocked(),
                        "processedEvents": ["Incident/inc-1"]}
# A rollback released by a new version (NEW): the fix cycle of inc-1 is open.
FIXING: dict[str, Any] = {"rollback": rollback(fp=OLD, released=True),
                          "processedEvents": ["Incident/inc-1"]}


def latency(verdict: Verdict) -> GateReading:
    return GateReading("latency", "p95_ms", verdict, 800, 500, NOW,
                       f"p95_ms 800 {'<=' if verdict == 'pass' else '>'} 500 over 1h")


MONITORING = [
    Case("passing at canary: promoted",
         given(status("canary")),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              terminal="stage-reached early")),
    Case("failing at canary: one stage down and an incident opened",
         given(status("canary"), readings=readings("fail")),
         Then("rollback", "monitoring", f"rolls back to shadow 0%: {FAILS}; "
              f"{RELEASE_MONITORING}", at="shadow 0%", phase="rolled-back",
              terminal="blocked", why=f"rolled back after monitoring {MONITORING_INCIDENT}",
              side=("open-incident",), note=f"opens incident {MONITORING_INCIDENT}: {FAILS}",
              inputs=(("incident", MONITORING_INCIDENT),), exact=True)),
    Case("failing at early: back to canary",
         given(status("early"), readings=readings("fail")),
         Then("rollback", "monitoring", "rolls back to canary 5%", at="canary 5%",
              phase="rolled-back", terminal="blocked", side=("open-incident",))),
    Case("failing at full: back to early",
         given(status("full"), readings=readings("fail")),
         Then("rollback", "monitoring", "rolls back to early 25%", at="early 25%",
              phase="rolled-back", terminal="blocked", side=("open-incident",))),
    Case("failing at the first stage at 0 %: held there with an incident",
         given(status("shadow"), readings=readings("fail")),
         Then("hold", "monitoring", f"holds at shadow 0%: {FAILS}; {RELEASE_MONITORING}",
              at="shadow 0%", phase="holding", terminal="blocked",
              why=f"held after monitoring {MONITORING_INCIDENT}", side=("open-incident",),
              exact=True)),
    # Fixed: the rollback record said it stayed at canary, so the terminal state read
    # "held after monitoring" while all the candidate's traffic had been taken.
    Case("failing at a first stage above 0 %: all the candidate's traffic is taken",
         given(status("canary"), the_spec=FIRST_STAGE_5, readings=readings("fail")),
         Then("rollback", "monitoring", f"takes all traffic from v2.0.0: {FAILS}",
              at="unstaged", phase="rolled-back", terminal="blocked",
              why=f"rolled back after monitoring {MONITORING_INCIDENT}",
              side=("open-incident",))),
    Case("failing during the bake time: rolled back all the same",
         given(status("early", ago=timedelta(minutes=30)), readings=readings("fail")),
         Then("rollback", "monitoring", "rolls back to canary 5%", at="canary 5%",
              phase="rolled-back", terminal="blocked", side=("open-incident",))),
    Case("failing with the reaction `hold`: held in place, no incident",
         given(status("early"), the_spec=spec(reaction="hold"), readings=readings("fail")),
         Then("hold", "monitoring", f"holds at early 25%: {FAILS}; to release: fix it or lower "
              "rollout.target", at="early 25%", phase="holding",
              terminal="stage-reached early", exact=True)),
    Case("one of two gates failing is named",
         given(status("early"), the_spec=TWO_GATES,
               readings=(latency("fail"), *readings("pass"))),
         Then("rollback", "monitoring", "monitoring gate 'latency' fails (p95_ms 800 > 500 "
              "over 1h)", at="canary 5%", phase="rolled-back", terminal="blocked")),
    Case("inconclusive (too few samples): hold",
         given(status("early"), readings=readings("inconclusive")),
         Then("hold", "monitoring", "holds at early 25%: monitoring gate 'error rate' "
              "inconclusive (40 samples < 100 minimum); to release: wait for enough fresh "
              "samples", at="early 25%", terminal="stage-reached early",
              inputs=(("gate", GATE),), exact=True)),
    Case("one gate has no reading: hold",
         given(status("early"), the_spec=TWO_GATES, readings=readings("pass")),
         Then("hold", "monitoring", "monitoring gate 'latency' inconclusive (no reading)",
              at="early 25%", terminal="stage-reached early")),
    Case("the monitoring source is unreachable: hold",
         given(status("early"), readings=None, readings_problem="Prometheus returned 503",
               unreachable=("monitoring",)),
         Then("hold", "monitoring", "holds at early 25%: monitoring unavailable (Prometheus "
              "returned 503); to release: restore the monitoring source", at="early 25%",
              terminal="stage-reached early", inputs=(("unreachable", "monitoring"),),
              exact=True)),
    Case("no readings for this stage yet: hold",
         given(status("early"), readings=None),
         Then("hold", "monitoring", "monitoring unavailable (no readings for this stage yet)",
              at="early 25%", terminal="stage-reached early")),
    Case("no gates declared: promoted on the other gates",
         given(status("early"), the_spec=spec(gates=()), readings=None),
         Then("promote", "target", "promotes v2.0.0 to full 100%", at="full 100%",
              terminal="stage-reached full")),
    Case("failing readings of a replaced candidate do not touch the new one",
         given(status("early", fp=OLD), readings=readings("fail")),
         Then("replace", "fingerprint", "the new candidate starts at the first stage",
              at="shadow 0%", terminal="stage-reached shadow")),
    Case("failing readings of a stage left by a lowered target are not acted on",
         given(status("early"), the_spec=spec("canary"), readings=readings("fail")),
         Then("rollback", "target", "rolls back to canary 5%: rollout.target lowered to "
              "canary", at="canary 5%", phase="complete", terminal="stage-reached canary")),
    # Unhealthy wins over a hold: a candidate held at canary 5 % whose own readings fail
    # there loses all its traffic.
    Case("a failed dry run while a rollback holds at canary: all its traffic is taken",
         given(status("canary", **{**HELD, "rollback": rollback(to="canary")}),
               evidence=evidence(passed=False)),
         Then("rollback", "evidence", "takes all traffic from v2.0.0: dry run "
              "ev-0000000000new failed", at="unstaged", phase="rolled-back",
              terminal="blocked")),
    Case("failing while a rollback holds at canary: all its traffic is taken",
         given(status("canary", **{**HELD, "rollback": rollback(to="canary")}),
               readings=readings("fail")),
         Then("rollback", "monitoring", "takes all traffic from v2.0.0: monitoring gate 'error "
              "rate' fails while a rollback holds", at="unstaged", phase="rolled-back",
              terminal="blocked", exact=True)),
    # What the rollback acted on does not act again: readings no newer than the rollback
    # (found by the loop machine: a re-plan took the rest of the traffic).
    Case("readings no newer than the rollback: held, not rolled back again",
         given(status("canary", **{**HELD, "rollback": {**rollback(to="canary"), "at": NOW}}),
               readings=readings("fail")),
         Then("hold", "incident", "holds at v2.0.0 at canary 5%", at="canary 5%",
              phase="rolled-back", terminal="blocked")),
]

INCIDENT = [
    Case("low severity: held in place",
         given(status("early"), events=(incident(severity="low"),)),
         Then("hold", "incident", f"holds at v2.0.0 at early 25%: held after incident inc-1; "
              f"{RELEASE_INC_1}", at="early 25%", phase="holding", terminal="blocked",
              why="held after incident inc-1", exact=True)),
    Case("medium severity at early: one stage down",
         given(status("early"), events=(incident(severity="medium"),)),
         Then("rollback", "incident", f"rolls back to canary 5%: incident inc-1 severity "
              f"medium; {RELEASE_INC_1}", at="canary 5%", phase="rolled-back",
              terminal="blocked", why="rolled back after incident inc-1", exact=True)),
    Case("medium severity at canary: to shadow",
         given(status("canary"), events=(incident(severity="medium"),)),
         Then("rollback", "incident", "rolls back to shadow 0%", at="shadow 0%",
              phase="rolled-back", terminal="blocked")),
    Case("medium severity at full: to early",
         given(status("full"), events=(incident(severity="medium"),)),
         Then("rollback", "incident", "rolls back to early 25%", at="early 25%",
              phase="rolled-back", terminal="blocked")),
    Case("medium severity at shadow: no lower stage, held",
         given(status("shadow"), events=(incident(severity="medium"),)),
         Then("hold", "incident", "held after incident inc-1", at="shadow 0%",
              phase="holding", terminal="blocked")),
    Case("high severity at early: to the first stage",
         given(status("early"), events=(incident(),)),
         Then("rollback", "incident", "rolls back to shadow 0%: incident inc-1 severity high",
              at="shadow 0%", phase="rolled-back", terminal="blocked")),
    Case("critical severity at full: to the first stage",
         given(status("full"), events=(incident(severity="critical"),)),
         Then("rollback", "incident", "rolls back to shadow 0%: incident inc-1 severity "
              "critical", at="shadow 0%", phase="rolled-back", terminal="blocked")),
    # As failing monitoring there: no stage below the first, so all the traffic.
    Case("critical severity at a first stage above 0 %: all its traffic is taken",
         given(status("canary"), the_spec=FIRST_STAGE_5,
               events=(incident(severity="critical"),)),
         Then("rollback", "incident", "takes all traffic from v2.0.0: incident inc-1 severity "
              "critical", at="unstaged", phase="rolled-back", terminal="blocked")),
    Case("two new incidents: the worst decides",
         given(status("full"), events=(incident("inc-a", "low"), incident("inc-b", "medium"))),
         Then("rollback", "incident", "rolls back to early 25%: incident inc-b severity medium",
              at="early 25%", phase="rolled-back", terminal="blocked")),
    Case("on the serving version: held, nothing can replace it but a fix",
         given(status(fp=None), fp=SERVED, events=(incident(),)),
         Then("hold", "incident", f"holds at serving v1.0.0: held after incident inc-1; "
              f"{RELEASE_INC_1}", at=None, phase="holding", terminal="blocked", exact=True)),
    # A candidate already waiting when an incident hits the serving version is not the
    # fix: only a version that comes after the incident releases the hold.
    Case("on the serving version with a candidate waiting: the hold stays",
         given(status(), events=(incident(),)),
         Then("hold", "incident", "holds at serving v1.0.0: held after incident inc-1",
              at="unstaged", phase="holding", terminal="blocked")),
    Case("already processed: the rollback holds",
         given(status("shadow", **HELD), events=(incident(),)),
         Then("hold", "incident", f"holds at v2.0.0 at shadow 0%: rolled back after incident "
              f"inc-1; {RELEASE_INC_1}", at="shadow 0%", phase="rolled-back",
              terminal="blocked", inputs=(("rollback", "inc-1"),), exact=True)),
    Case("a second incident while held rolls back further",
         given(status("canary", **{**HELD, "rollback": rollback(to="canary")}),
               events=(incident(), incident("inc-2", "high"))),
         Then("rollback", "incident", "rolls back to shadow 0%: incident inc-2 severity high",
              at="shadow 0%", phase="rolled-back", terminal="blocked",
              why="rolled back after incident inc-2")),
    Case("resolved: the hold is released and the rollout resumes",
         given(status("shadow", **HELD), events=(incident(resolved=True),)),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary", side=("release",),
              note="incident inc-1 resolved: the rollback hold is released")),
    Case("another incident resolved: still held",
         given(status("shadow", **HELD), events=(incident(), incident("inc-0", resolved=True))),
         Then("hold", "incident", "rolled back after incident inc-1", at="shadow 0%",
              phase="rolled-back", terminal="blocked")),
    Case("a resolution already processed is not released twice",
         given(status("shadow", rollback=rollback(released=True), terminal=blocked(),
                      processedEvents=["Incident/inc-1", "Incident/inc-1#resolved"]),
               events=(incident(resolved=True),)),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary")),
    Case("filed already resolved: never acts",
         given(status("early"), events=(incident(resolved=True),)),
         Then("promote", "target", "promotes v2.0.0 to full 100%", at="full 100%",
              terminal="stage-reached full")),
    Case("a new version releases the hold and replaces the candidate",
         given(status("shadow", fp=OLD, **{**HELD, "rollback": rollback(fp=OLD)}),
               events=(incident(),)),
         Then("replace", "fingerprint", "candidate v1.5.0 is replaced by v2.0.0", at="shadow 0%",
              terminal="stage-reached shadow", side=("release",),
              note="a new version (ev-0000000000new) is the fix: the rollback hold is "
              "released")),
    Case("a new version without a dry run: released, waits for its evidence",
         given(status("shadow", fp=OLD, **{**HELD, "rollback": rollback(fp=OLD)}),
               evidence=None, events=(incident(),)),
         Then("replace", "fingerprint", "candidate v1.5.0 is replaced by v2.0.0",
              at="unstaged", phase="dry-run", terminal="stage-reached", side=("release",))),
]

ISSUE_FIXED = [
    Case("the fix reaches a target below 100 %: issue-fixed",
         given(status("canary", **FIXING), the_spec=spec("early")),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              phase="complete", terminal="issue-fixed early",
              why="incident inc-1 fixed: v2.0.0 reached early 25% (evidence ev-0000000000new)")),
    Case("the fix completes at 100 %: issue-fixed",
         given(status("full", **FIXING)),
         Then("complete", "target", "it is now the serving version", at=None,
              serving="2.0.0", phase="complete", terminal="issue-fixed",
              why="incident inc-1 fixed: v2.0.0 is serving (evidence ev-0000000000new)")),
    Case("the fix reaches the 100 % stage: not fixed before it completes",
         given(status("early", **FIXING)),
         Then("promote", "target", "promotes v2.0.0 to full 100%", at="full 100%",
              terminal="stage-reached full")),
    Case("the fix on its way below the target: still open",
         given(status("shadow", **FIXING)),
         Then("promote", "target", "promotes v2.0.0 to canary 5%", at="canary 5%",
              terminal="stage-reached canary")),
    Case("resolved without a new version: reaching the target again is no fix",
         given(status("canary", rollback=rollback(released=True),
                      processedEvents=["Incident/inc-1", "Incident/inc-1#resolved"]),
               the_spec=spec("early")),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              phase="complete", terminal="stage-reached early")),
    Case("a monitoring incident's fix reaches the target: issue-fixed",
         given(status("canary", rollback=rollback(MONITORING_INCIDENT, cause="monitoring",
                                                  fp=OLD, released=True)),
               the_spec=spec("early")),
         Then("promote", "target", "promotes v2.0.0 to early 25%", at="early 25%",
              phase="complete", terminal="issue-fixed early",
              why=f"incident {MONITORING_INCIDENT} fixed")),
]


@pytest.mark.parametrize("case", rows(monitoring=MONITORING, incident=INCIDENT,
                                      issue_fixed=ISSUE_FIXED))
def test_in_production(case: Case) -> None:
    check(case)
