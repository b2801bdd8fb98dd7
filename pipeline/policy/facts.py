"""Per-file policy facts, computed in check_file (in the worker processes, cached by blob).

Most guardrails depend on the priority file alone, so they run here, with positions taken
from the parsed file, and their findings ride in the facts. The two that depend on other
files (bake-time: ailoop.yaml; owner-exists: customer.yaml) get the few values they need,
positioned, and finish when the document is judged (pipeline/validate/policies.py). Repo rules
(CEL) read the document's data, kept in the facts until then; the cache never keeps it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.documents.load import Document
from pipeline.policy.data import plain
from pipeline.policy.engine import run_guardrails
from pipeline.policy.guardrails import GUARDRAILS, HIGH_RISK
from pipeline.policy.rules import Env, Subject

CONTEXT_GUARDRAILS = frozenset({"guardrail/bake-time", "guardrail/owner-exists"})
FILE_GUARDRAILS = tuple(g for g in GUARDRAILS if g.id not in CONTEXT_GUARDRAILS)
_NO_CONTEXT = Env(datetime(1970, 1, 1, tzinfo=UTC))


def priority_facts(doc: Document) -> dict[str, Any]:
    data = plain(doc.model)
    subject = Subject("", "Priority", data, None)
    violations = run_guardrails(subject, _NO_CONTEXT, FILE_GUARDRAILS)
    findings = tuple(doc.finding(v.loc, v.message, rule=v.rule, severity=v.severity)
                     for v in violations)
    spec = doc.model.spec
    bake: tuple[tuple[Any, ...], ...] = ()
    if spec.risk in HIGH_RISK:
        bake = tuple((i, stage.name, stage.bake_time.total_seconds(),
                      *doc.pos("spec", "rollout", "stages", i, "bakeTime"))
                     for i, stage in enumerate(spec.rollout.stages))
    return {"data": data, "guardrails": findings, "risk": spec.risk, "bake_times": bake,
            "owner_at": (spec.owner, *doc.pos("spec", "owner"))}


def customer_facts(doc: Document) -> dict[str, Any]:
    """`labels` too: what rules see as `customer.labels` (the cache keeps no data)."""
    data = plain(doc.model)
    return {"data": data, "labels": dict(data.get("metadata", {}).get("labels") or {})}

