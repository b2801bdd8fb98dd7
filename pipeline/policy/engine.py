"""evaluate(subject, env, policy_set) -> violations: the pure core of policy checking.

Guardrails run as Python over the document's data; repo rules run as CEL. A rule whose
condition errors at run time (missing key, division by zero, wrong types) or returns
something other than true/false counts as failed, with a message that says why.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from pipeline.model.base import format_duration
from pipeline.policy.expr import (
    CelRuntimeError,
    Expression,
    SharedContexts,
    make_context,
    merge_needs,
    run,
)
from pipeline.policy.guardrails import GUARDRAILS, Guardrail
from pipeline.policy.rules import CompiledRule, Env, PolicySet, Subject, Violation


def evaluate(subject: Subject, env: Env, policy_set: PolicySet,
             contexts: SharedContexts | None = None) -> list[Violation]:
    """`contexts`: keep each customer's CEL value across calls (a run's documents)."""
    out: list[Violation] = []
    if policy_set.guardrails and subject.kind == "Priority":
        out.extend(run_guardrails(subject, env))
    rules = tuple(r for r in policy_set.rules if matches(r, subject))
    if rules:
        values = variables(subject, env, rules)
        if contexts is None:
            context = make_context(values)
        else:
            values.pop("customer", None)
            context = contexts.make(subject.key.split("/")[0],
                                    {"customer": subject.customer}, values)
        for rule in rules:
            out.extend(_run_rule(rule, context))
    return out


def run_guardrails(subject: Subject, env: Env,
                   guardrails: tuple[Guardrail, ...] = GUARDRAILS) -> list[Violation]:
    out: list[Violation] = []
    for guardrail in guardrails:
        try:
            out.extend(guardrail.check(subject, env))
        except (KeyError, TypeError, ValueError, IndexError) as e:  # fail closed, never crash
            out.append(Violation(guardrail.id, (), f"guardrail could not be evaluated "
                                 f"({type(e).__name__}: {e}), so it counts as failed"))
    return out


def matches(rule: CompiledRule, subject: Subject) -> bool:
    if subject.kind not in rule.kinds:
        return False
    labels = subject.data.get("metadata", {}).get("labels", {})
    if any(labels.get(k) != v for k, v in rule.labels.items()):
        return False
    if rule.customers and subject.key.split("/")[0] not in rule.customers:
        return False
    if rule.risk:
        return subject.kind == "Priority" and subject.data["spec"]["risk"] in rule.risk
    return True


@functools.lru_cache(maxsize=256)
def _reads(rules: tuple[CompiledRule, ...],
           ) -> tuple[frozenset[str], dict[str, frozenset[str] | None]]:
    """The variables a set of rules uses, and the keys they read below each (the same few
    sets of matched rules come back for every document)."""
    expressions: list[Expression] = []
    for rule in rules:
        expressions.append(rule.condition)
        expressions.extend(p for p in rule.message if isinstance(p, Expression))
    return (frozenset().union(*(e.uses for e in expressions)),
            merge_needs([e.needs for e in expressions]))


def variables(subject: Subject, env: Env, rules: tuple[CompiledRule, ...]) -> dict[str, Any]:
    """Only what the rules read: converting a whole document to CEL costs more than the rules."""
    uses, needs = _reads(rules)
    data = subject.data
    full: dict[str, Any] = {
        "doc": data, "metadata": data.get("metadata", {}), "spec": data.get("spec", {}),
        "customer": subject.customer,
    }
    out: dict[str, Any] = {}
    for root, keys in needs.items():
        value = full[root]
        out[root] = value if keys is None or value is None else \
            {k: value[k] for k in keys if k in value}
    for root in uses.intersection(full).difference(out):
        out[root] = full[root]  # read in a way the field scan does not see (`.spec`)
    if "project" in uses:
        out["project"] = env.project
    if "repo" in uses:
        out["repo"] = {"customers": list(env.customers), "priorities": env.priorities}
    if "key" in uses:
        out["key"] = subject.key
    if "now" in uses:
        out["now"] = env.now
    return out


def _run_rule(rule: CompiledRule, context: Any) -> list[Violation]:
    where = f"{rule.source}:{rule.line}"
    try:
        result = run(rule.condition, context)
    except CelRuntimeError as e:
        return [Violation(rule.id, rule.loc, f"rule could not be evaluated ({e}), so it counts "
                          f"as failed; fix the rule in {where}")]
    if result is True:
        return []
    if result is not False:
        return [Violation(rule.id, rule.loc, f"condition returned {type(result).__name__} "
                          f"instead of true or false, so it counts as failed; fix the rule in "
                          f"{where}")]
    return [Violation(rule.id, rule.loc, render_message(rule, context), rule.severity)]


def render_message(rule: CompiledRule, context: Any) -> str:
    out = []
    for part in rule.message:
        if isinstance(part, str):
            out.append(part)
            continue
        try:
            out.append(format_value(run(part, context)))
        except CelRuntimeError as e:
            out.append(f"<{e}>")
    return "".join(out)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value)
    return str(value)
