"""Regression cases as approval gates: a regression case's expected output counts once a
customer reviewer confirmed it, and that is asked of the change that adds or changes it, the
same way as a stage approval: the reviews of its pull request (never its author's), or a
signed confirmation (`ailoop approve C/P --case ID`), bound to the change's evidence id.
What the base branch's status already records as confirmed (same input and expected
output) is not asked again."""

from __future__ import annotations

from pipeline.approvals.requirements import Requirement
from pipeline.documents.dataset import Case, case_digest, read_dataset, regression_cases
from pipeline.documents.layout import priority_dir, resolve_inside
from pipeline.errors import InputError
from pipeline.model.priority import Priority
from pipeline.model.status import StatusBody

CONFIRMING_ROLE = "customer-reviewer"  # as pipeline.reconcile.plan.CONFIRMING_ROLE
CASE_STAGE = "case:"  # the stage of a case's confirmation (plan.CASE_STAGE)


def case_stage(case_id: str) -> str:
    return f"{CASE_STAGE}{case_id}"


def awaiting(case_id: str) -> str:
    return f"regression case {case_id} awaits confirmation by a customer reviewer"


def dataset_regression_cases(root: str, key: str, priority: Priority) -> list[Case]:
    """The regression cases in the work tree's dataset; an unreadable dataset has none here
    (validate reports it, and the dry run fails)."""
    try:
        abs_path, rel = resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)
        return regression_cases(read_dataset(abs_path, rel))
    except InputError:
        return []


def unconfirmed(cases: list[Case], base: StatusBody | None) -> list[Case]:
    done = {(c.case, c.digest) for c in base.confirmed_cases} if base is not None else set()
    return [c for c in cases if (c.id, case_digest(c)) not in done]


def case_requirements(key: str, cases: list[Case]) -> list[list[Requirement]]:
    """One gate per case: one customer reviewer confirms it."""
    return [[Requirement(key, case_stage(c.id), (CONFIRMING_ROLE,), 1, awaiting(c.id))]
            for c in cases]
