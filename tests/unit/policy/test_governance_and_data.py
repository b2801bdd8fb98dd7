from __future__ import annotations

from pathlib import Path

from pipeline.documents.load import load_document
from pipeline.policy.data import plain, plain_values
from pipeline.policy.governance import governance_files, policy_owners, roles_changed
from pipeline.policy.paths import parse_field_path

ROOT = Path(__file__).resolve().parents[3]


def test_governance_files_are_policies_waivers_customers_and_the_project_file() -> None:
    changed = ["ailoop.yaml", "policies/house-rules.yaml", "policies/waivers/w.yaml",
               "policies/tests/house-rules.yaml", "customers/acme/customer.yaml",
               "customers/acme/triage/priority.yaml", "customers/acme/lessons.yaml",
               "README.md", "pipeline/policy/guardrails.py"]
    assert governance_files(changed) == [
        "ailoop.yaml", "customers/acme/customer.yaml", "policies/house-rules.yaml",
        "policies/tests/house-rules.yaml", "policies/waivers/w.yaml"]


def test_policy_owners_come_from_the_customer_documents_given() -> None:
    docs = [load_document(str(ROOT), f"customers/{c}/customer.yaml")[0]
            for c in ("helio-saas", "northwind-insurance")]
    customers = [d.model for d in docs if d is not None]
    owners = policy_owners(customers)
    assert owners and all("policy-owner" in p.roles for p in owners)
    assert not roles_changed(customers[0], customers[0])
    assert roles_changed(customers[0], None)


def test_the_fast_dump_keeps_durations_and_equals_the_general_walk() -> None:
    doc, _ = load_document(str(ROOT), "customers/northwind-insurance/claims-intake/priority.yaml")
    assert doc is not None
    data = plain(doc.model)
    assert data == plain_values(doc.model)
    assert data["spec"]["rollout"]["stages"][0]["bakeTime"].total_seconds() > 0


def test_field_paths() -> None:
    assert parse_field_path("spec.rollout.stages[1].approvals") == (
        "spec", "rollout", "stages", 1, "approvals")
