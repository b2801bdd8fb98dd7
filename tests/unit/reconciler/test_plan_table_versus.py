"""The planner and noRegressionOn: a dry run's comparison with the serving version counts
only against the version serving now (pipeline.dryrun.versus)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.reconciler.table import (
    OLD,
    SERVED,
    Case,
    Then,
    check,
    evidence,
    given,
    rows,
    status,
)

RERUN = ("to release: rerun the trusted dry run (`ailoop dry-run acme/triage --trusted` on "
         "the default branch, its evidence committed by CI)")

VERSUS = [
    Case("measured against the version serving now: the first stage",
         given(status(), evidence=replace(evidence(), compared_with=SERVED)),
         Then("promote", "target", "(evidence ev-0000000000new;", at="shadow 0%",
              terminal="stage-reached shadow")),
    Case("no noRegressionOn gate: nothing to check",
         given(status(), evidence=replace(evidence(), compared_with=None)),
         Then("promote", "target", "(evidence ev-0000000000new;", at="shadow 0%",
              terminal="stage-reached shadow")),
    Case("nothing serving then and now: the first stage",
         given(status(serving=None), evidence=replace(evidence(), compared_with="")),
         Then("promote", "target", "(evidence ev-0000000000new;", at="shadow 0%",
              serving=None, terminal="stage-reached shadow")),
    Case("measured against another serving version: hold",
         given(status(), evidence=replace(evidence(), compared_with=OLD)),
         Then("hold", "evidence", "holds at serving v1.0.0: the noRegressionOn gates of "
              "evidence ev-0000000000new were measured against serving ev-0000000000old, but "
              f"ev-0000000served (v1.0.0) serves now; {RERUN}", at="unstaged",
              phase="complete", terminal="stage-reached", exact=True)),
    Case("measured when nothing was serving, a version serves now: hold",
         given(status(), evidence=replace(evidence(), compared_with="")),
         Then("hold", "evidence", "were measured against nothing serving, but "
              "ev-0000000served (v1.0.0) serves now", at="unstaged", phase="complete",
              terminal="stage-reached")),
]


@pytest.mark.parametrize("case", rows(no_regression=VERSUS))
def test_a_no_regression_pass_counts_only_against_the_serving_version(case: Case) -> None:
    check(case)
