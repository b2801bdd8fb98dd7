"""Small builders for policy tests: a Policy document from YAML text, a subject."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.documents.findings import Finding
from pipeline.documents.load import document_from
from pipeline.documents.yamlio import parse_yaml
from pipeline.policy.compiler import compile_policy
from pipeline.policy.data import plain
from pipeline.policy.rules import Env, PolicySet, Subject

BASE = Path(__file__).resolve().parents[3] / "pipeline/policy/builtin_tests/base"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CUSTOMER = {"name": "acme", "labels": {}, "people": ["olivia", "paul", "rita", "rob"],
            "roles": {"customer-owner": ["olivia"], "risk-officer": ["rita"]}}


def policy(rules_yaml: str, path: str = "policies/p.yaml") -> tuple[PolicySet, list[Finding]]:
    text = ("apiVersion: ailoop.dev/v1\nkind: Policy\nmetadata:\n  name: p\n"
            "spec:\n  rules:\n" + rules_yaml)
    doc, problems = document_from(parse_yaml(text, path), frozenset({"Policy"}))
    assert doc is not None, problems
    rules, findings = compile_policy(doc, {})
    return PolicySet(tuple(rules), guardrails=False), findings


def base_subject() -> Subject:
    loaded = parse_yaml((BASE / "priority.yaml").read_bytes(), "priority.yaml")
    doc, problems = document_from(loaded, frozenset({"Priority"}))
    assert doc is not None, problems
    return Subject("acme/refunds", "Priority", plain(doc.model), CUSTOMER)


def env() -> Env:
    return Env(NOW)
