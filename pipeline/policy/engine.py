"""evaluate(subject, env, policy_set) -> violations: the pure core of policy checking.

Guardrails run as Python over the document's data; repo rules run as CEL. A rule whose
condition errors at run time (missing key, division by zero, wrong types) or returns
something other than true/false counts as failed, with a message that says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pipeline.model.base import format_duration
from pipeline.policy.expr import CelRuntimeError, Expression, make_context, merge_needs, run
from pipeline.policy.guardrails import GUARDRAILS, Guardrail
from pipeline.policy.rules import CompiledRule, Env, PolicySet, Subject, Violation


def evaluate(subject: Subject, env: Env, policy_set: PolicySet) -> list[Violation]:
    out: list[Violation] = []
    if policy_set.guardrails and subject.kind == "Priority":
        out.extend(run_guardrails(subject, env))
    rules = [r for r in policy_set.rules if matches(r, subject)]
    if rules:
        context = make_context(variables(subject, env, rules))
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


def _expressions(rules: list[CompiledRule]) -> list[Expression]:
    out = []
    for rule in rules:
        out.append(rule.condition)
        out.extend(p for p in rule.message if isinstance(p, Expression))
    return out


def variables(subject: Subject, env: Env, rules: list[CompiledRule]) -> dict[str, Any]:
    """Only what the rules read: converting a whole document to CEL costs more than the rules."""
    expressions = _expressions(rules)
    uses = frozenset().union(*(e.uses for e in expressions))
    needs = merge_needs([e.needs for e in expressions])
    data = subject.data
    full: dict[str, Any] = {
        "doc": data, "metadata": data.get("metadata", {}), "spec": data.get("spec", {}),
    }
    out: dict[str, Any] = {}
    for root, keys in needs.items():
        value = full[root]
        out[root] = value if keys is None else {k: value[k] for k in keys if k in value}
    if "customer" in uses:
        out["customer"] = subject.customer
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
