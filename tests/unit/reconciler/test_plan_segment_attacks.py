"""Attacks on segment targeting through the spec (the pull request's author controls
rollout.stages): what a segment gave a candidate must not grow to everyone unapproved."""

from __future__ import annotations

import pytest

from tests.unit.reconciler.table import Case, Then, all_approvals, check, given, rows
from tests.unit.reconciler.test_plan_table_segment import INTERNAL, _spec, status

CASES = [
    Case("at a 100 % stage with a segment, a pull request removes the segment: the stage "
         "would complete and hand the candidate everyone, so it holds for approval",
         given(status("full", segment=INTERNAL, phase="complete"), the_spec=_spec(),
               approvals=all_approvals()),
         Then("hold", "segment", "the segment (targeting) of stage full changed since "
              "v2.0.0 entered it", at="full 100%", phase="holding",
              terminal="stage-reached full")),
]


@pytest.mark.parametrize("case", rows(segment_attacks=CASES))
def test_segment_attack(case: Case) -> None:
    check(case)
