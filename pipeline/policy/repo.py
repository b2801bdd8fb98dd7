"""The validate hook: policies, guardrails and waivers over a repository's documents.

`policy_findings` is the imperative shell: it reads the policy, waiver and project files,
builds each target document's Subject from the per-file facts, calls the pure `evaluate`
and gives each violation its file position (re-reading only files that have one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pipeline.checks import FileResult, check_file
from pipeline.errors import InputError
from pipeline.findings import Finding, format_field_path
from pipeline.layout import CUSTOMERS, PROJECT_FILE
from pipeline.load import load_document
from pipeline.policy.compiler import load_policy_set
from pipeline.policy.data import open_data
from pipeline.policy.engine import evaluate
from pipeline.policy.guardrails import (
    BY_ID,
    PROJECT_BAKE_FIELD,
    bake_time_message,
    owner_message,
    project_bake_time,
)
from pipeline.policy.rules import MIN_BAKE_TIME_HIGH_RISK, Env, PolicySet, Subject, Violation
from pipeline.policy.waivers import ActiveWaiver, check_waiver, waived, waiver_files
from pipeline.yamlio import Loaded, read_yaml

_SUBJECT_KINDS = ("Priority", "Customer")


@dataclass
class _Customers:
    """Customer facts by name, from the validate results or read on demand."""

    root: str
    results: Mapping[str, FileResult]
    seen: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def __call__(self, name: str) -> dict[str, Any] | None:
        if name not in self.seen:
            rel = f"{CUSTOMERS}/{name}/customer.yaml"
            result = self.results.get(rel)
            if result is None:
                result = check_file(self.root, rel)
            self.seen[name] = customer_view(name, result.facts)
        return self.seen[name]


def customer_view(name: str, facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """What rules see as `customer`: name, labels, people (ids) and roles (role -> ids)."""
    if facts.get("kind") != "Customer":
        return None
    data = open_data(facts.get("data")) or {}
    labels = data.get("metadata", {}).get("labels", {})
    return {"name": name, "labels": dict(labels), "people": list(facts.get("people", [])),
            "roles": {k: list(v) for k, v in facts.get("roles", {}).items()}}


def policy_findings(root: str, documents: list[str], targets: list[str],
                    results: Mapping[str, FileResult], now: datetime) -> list[Finding]:
    customers = _Customers(root, results)
    env, project_findings = load_env(root, documents, now)
    policy_set, policy_problems = load_policy_set(root, documents)
    waivers, waiver_problems = load_waivers(root, documents, policy_set, customers, now.date())
    judged = [(rel, key, str(kind)) for rel in targets
              if (kind := results[rel].facts.get("kind")) in _SUBJECT_KINDS
              and (key := _key(rel, str(kind)))]
    keys = {key for _, key, _ in judged}
    out: list[Finding] = []
    if judged or PROJECT_FILE in targets:
        out.extend(project_findings)
    out.extend(f for f in policy_problems if judged or f.path in targets)
    for path, target, problems in waiver_problems:
        if path in targets or any(k == target or k.startswith(target + "/") for k in keys):
            out.extend(problems)
    for rel, key, kind in judged:
        found = _judge(root, rel, key, kind, results[rel].facts, env, policy_set, customers)
        out.extend(f for f in found if not waived(f.rule, key, waivers))
    return out


def _key(rel: str, kind: str) -> str | None:
    parts = rel.split("/")
    if parts[0] != CUSTOMERS or len(parts) < 3:
        return None
    return f"{parts[1]}/{parts[2]}" if kind == "Priority" else parts[1]


def _judge(root: str, rel: str, key: str, kind: str, facts: Mapping[str, Any], env: Env,
           policy_set: PolicySet, customers: _Customers) -> list[Finding]:
    customer = customers(key.split("/")[0])
    out: list[Finding] = []
    if kind == "Priority":
        out.extend(facts.get("guardrails", ()))
        out.extend(bake_time_findings(rel, facts, env))
        out.extend(owner_findings(rel, facts, customer))
    if policy_set.rules:
        data = open_data(facts.get("data"))
        if data is not None:
            subject = Subject(key, kind, data, customer)
            violations = evaluate(subject, env, PolicySet(policy_set.rules, guardrails=False))
            if violations:
                out.extend(position(root, rel, violations))
    return out


def bake_time_findings(rel: str, facts: Mapping[str, Any], env: Env) -> list[Finding]:
    minimum = max(env.min_bake_time_high_risk, MIN_BAKE_TIME_HIGH_RISK)
    out = []
    for i, name, seconds, line, col in facts.get("bake_times", ()):
        if seconds < minimum.total_seconds():
            message = bake_time_message(facts["risk"], name, minimum, timedelta(seconds=seconds))
            out.append(Finding(rel, line, col, f"spec.rollout.stages[{i}].bakeTime", message,
                               "guardrail/bake-time"))
    return out


def owner_findings(rel: str, facts: Mapping[str, Any],
                   customer: dict[str, Any] | None) -> list[Finding]:
    owner_at = facts.get("owner_at")
    if customer is None or not owner_at or owner_at[0] in customer["people"]:
        return []
    owner, line, col = owner_at
    return [Finding(rel, line, col, "spec.owner", owner_message(owner, customer),
                    "guardrail/owner-exists")]


def _customer_names(documents: list[str]) -> set[str]:
    """Customer names from document paths (string work: pathlib is slow over 10k paths)."""
    return {p[1] for d in documents if (p := d.split("/"))[0] == CUSTOMERS and len(p) >= 3}


def load_env(root: str, documents: list[str], now: datetime) -> tuple[Env, list[Finding]]:
    customers = tuple(sorted(_customer_names(documents)))
    priorities = sum(1 for d in documents if d.endswith("/priority.yaml"))
    doc, _ = load_document(root, PROJECT_FILE)
    if doc is None:  # a missing or invalid ailoop.yaml has its own findings
        return Env(now, customers=customers, priorities=priorities), []
    project = doc.model.model_dump(mode="python", by_alias=True)["spec"]
    minimum = doc.model.spec.min_bake_time_high_risk
    findings = []
    message = project_bake_time(minimum)
    if message is not None:
        findings.append(doc.finding(PROJECT_BAKE_FIELD, message, rule="guardrail/bake-time"))
    return Env(now, minimum, project, customers, priorities), findings


def load_waivers(root: str, documents: list[str], policy_set: PolicySet, customers: _Customers,
                 today: date) -> tuple[list[ActiveWaiver], list[tuple[str, str, list[Finding]]]]:
    rules = frozenset(BY_ID) | policy_set.rule_ids
    targets = frozenset(_customer_names(documents)
                        | {d[len(CUSTOMERS) + 1:-len("/priority.yaml")] for d in documents
                           if d.startswith(CUSTOMERS + "/") and d.endswith("/priority.yaml")})
    active: list[ActiveWaiver] = []
    problems: list[tuple[str, str, list[Finding]]] = []
    for rel in waiver_files(documents):
        doc, load_problems = load_document(root, rel)
        if doc is None:
            problems.append((rel, "", load_problems))
            continue
        waiver, found = check_waiver(doc, rules, targets, customers, today)
        if waiver is not None:
            active.append(waiver)
        problems.append((rel, doc.model.spec.target, found))
    return active, problems


def position(root: str, rel: str, violations: list[Violation]) -> list[Finding]:
    """Findings at each violation's field (the file is parsed again only here)."""
    loaded: Loaded | None
    try:
        loaded = read_yaml(f"{root}/{rel}", rel)
    except (InputError, OSError):  # the file changed under us: point at its top instead
        loaded = None
    out = []
    for v in violations:
        (line, col), kept = loaded.locate(v.loc) if loaded is not None else ((1, 1), v.loc)
        out.append(Finding(rel, line, col, format_field_path(kept), v.message, v.rule,
                           v.severity))
    return out
