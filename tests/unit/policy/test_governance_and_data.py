from __future__ import annotations

from pathlib import Path

from pipeline.documents.load import load_document
from pipeline.policy.data import plain, plain_values
from pipeline.policy.governance import is_governance_file
from pipeline.policy.paths import parse_field_path

ROOT = Path(__file__).resolve().parents[3]


def test_governance_files_are_policies_waivers_customers_and_the_project_file() -> None:
    changed = ["ailoop.yaml", "policies/house-rules.yaml", "policies/waivers/w.yaml",
               "policies/tests/house-rules.yaml", "customers/acme/customer.yaml",
               "customers/acme/triage/priority.yaml", "customers/acme/lessons.yaml",
               "README.md", "pipeline/policy/guardrails.py"]
    assert [p for p in changed if is_governance_file(p)] == [
        "ailoop.yaml", "policies/house-rules.yaml", "policies/waivers/w.yaml",
        "policies/tests/house-rules.yaml", "customers/acme/customer.yaml"]


def test_the_fast_dump_keeps_durations_and_equals_the_general_walk() -> None:
    doc, _ = load_document(str(ROOT), "customers/northwind-insurance/claims-intake/priority.yaml")
    assert doc is not None
    data = plain(doc.model)
    assert data == plain_values(doc.model)
    assert data["spec"]["rollout"]["stages"][0]["bakeTime"].total_seconds() > 0


def test_field_paths() -> None:
    assert parse_field_path("spec.rollout.stages[1].approvals") == (
        "spec", "rollout", "stages", 1, "approvals")
