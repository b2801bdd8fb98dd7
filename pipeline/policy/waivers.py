"""kind: Waiver: an approved, expiring exception to one rule for one customer or priority.

A waiver is in force only when its rule exists, its target exists, it has not expired
(judged against the injected clock; the expiry date itself is still valid) and it names an
approver who holds a waiver-approving role at the target's customer. Anything else is
reported; a waiver that is not in force waives nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline.documents.findings import Finding, did_you_mean
from pipeline.documents.layout import policies_folder_documents
from pipeline.documents.load import Document

WAIVER_ROLES = ("policy-owner", "risk-officer")
CustomerFacts = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class ActiveWaiver:
    rule: str
    target: str
    path: str
    expires: date

    def covers(self, rule: str, key: str) -> bool:
        return rule == self.rule and self.target in (key, key.split("/")[0])


def waiver_files(documents: Iterable[str]) -> list[str]:
    return policies_folder_documents(documents, "Waiver")


def check_waiver(doc: Document, rules: frozenset[str], targets: frozenset[str],
                 customer_facts: CustomerFacts, today: date) -> tuple[ActiveWaiver | None,
                                                                      list[Finding]]:
    """The waiver in force (or None) and the findings about this waiver file."""
    spec = doc.model.spec
    problems = _reference_problems(doc, rules, targets)
    if spec.expires < today:
        problems.append(doc.finding(("spec", "expires"), f"waiver expired on "
                                    f"{spec.expires.isoformat()}; renew it with a new approval "
                                    "or remove it", rule=spec.rule))
    if problems:
        return None, problems
    ignored = _approval_problem(doc, customer_facts)
    if ignored is not None:
        return None, [ignored]
    return ActiveWaiver(spec.rule, spec.target, doc.path, spec.expires), []


def _reference_problems(doc: Document, rules: frozenset[str],
                        targets: frozenset[str]) -> list[Finding]:
    spec = doc.model.spec
    out = []
    if spec.rule not in rules:
        hint = did_you_mean(spec.rule, sorted(rules))
        out.append(doc.finding(("spec", "rule"), f"waiver for unknown rule '{spec.rule}'{hint}",
                               rule=spec.rule))
    if spec.target not in targets:
        out.append(doc.finding(("spec", "target"), f"no customer or priority '{spec.target}' "
                               "in this repository", rule=spec.rule))
    return out


def _approval_problem(doc: Document, customer_facts: CustomerFacts) -> Finding | None:
    spec = doc.model.spec
    approval = spec.approved_by
    customer = spec.target.split("/")[0]
    if approval is None:
        return _ignored(doc, ("spec",), "it names no approver (approvedBy: role and person)")
    if approval.role not in WAIVER_ROLES:
        return _ignored(doc, ("spec", "approvedBy", "role"), f"role '{approval.role}' cannot "
                        f"approve waivers ({' or '.join(WAIVER_ROLES)} can)")
    facts = customer_facts(customer)
    if facts is None:
        return _ignored(doc, ("spec", "approvedBy", "person"), f"customer '{customer}' has no "
                        "valid customer.yaml to check the approver against")
    if approval.person not in facts.get("roles", {}).get(approval.role, []):
        return _ignored(doc, ("spec", "approvedBy", "person"), f"'{approval.person}' does not "
                        f"hold role '{approval.role}' at customer '{customer}'")
    return None


def _ignored(doc: Document, loc: tuple[str, ...], why: str) -> Finding:
    return doc.finding(loc, f"waiver is ignored: {why}", rule=doc.model.spec.rule,
                       severity="warning")


def waived(rule: str, key: str, waivers: Iterable[ActiveWaiver]) -> bool:
    return any(w.covers(rule, key) for w in waivers)
