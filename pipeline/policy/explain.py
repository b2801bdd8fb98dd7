"""`ailoop policy explain RULE-ID`: what a rule checks, where it is defined, how it fails."""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass

from pipeline.documents.findings import did_you_mean, format_field_path
from pipeline.errors import InputError
from pipeline.policy.engine import evaluate
from pipeline.policy.guardrails import BY_ID
from pipeline.policy.rules import CompiledRule, Env
from pipeline.policy.testing import (
    TEST_NOW,
    Suite,
    _policy_set,
    _read_base,
    _read_customer,
    _read_tests,
    _subject,
    builtin_suite,
    repo_suite,
    test_files,
)


@dataclass(frozen=True)
class Example:
    test_file: str
    case: str
    changes: list[str]
    field: str
    message: str


def explain(root: str, rule_id: str) -> str:
    builtin = builtin_suite()
    repo, _ = repo_suite(root)
    if rule_id in BY_ID:
        guardrail = BY_ID[rule_id]
        lines = [f"{rule_id} (built-in guardrail, severity error; a repo can only waive it)",
                 f"  checks: {guardrail.description}",
                 f"  source: {_source_of(guardrail.check)}"]
        example = find_example(builtin, rule_id)
    else:
        rule = next((r for r in repo.policies.rules if r.id == rule_id), None)
        if rule is None:
            raise InputError(_unknown(rule_id, [*BY_ID, *(r.id for r in repo.policies.rules)]))
        lines = _describe_rule(rule)
        example = find_example(repo, rule_id)
    return "\n".join(lines + _describe_example(example, rule_id)) + "\n"


def _source_of(function: object) -> str:
    path = inspect.getsourcefile(function)  # type: ignore[arg-type]
    line = inspect.getsourcelines(function)[1]  # type: ignore[arg-type]
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(path or "")))
    return f"{os.path.relpath(path or '', package_root)}:{line}"


def _unknown(rule_id: str, known: list[str]) -> str:
    return (f"unknown rule '{rule_id}'{did_you_mean(rule_id, known)} (built-in guardrails "
            "and rules in policies/*.yaml)")


def _describe_rule(rule: CompiledRule) -> list[str]:
    match = [f"kinds {', '.join(sorted(rule.kinds))}"]
    match += [f"labels {k}={v}" for k, v in rule.labels.items()]
    if rule.customers:
        match.append(f"customers {', '.join(sorted(rule.customers))}")
    if rule.risk:
        match.append(f"risk {', '.join(sorted(rule.risk))}")
    return [f"{rule.id} (repo rule, severity {rule.severity})",
            f"  checks: {rule.description}",
            f"  source: {rule.source}:{rule.line}",
            f"  matches: {'; '.join(match)}",
            f"  passes when: {rule.condition_text}",
            f"  otherwise: {rule.message_text}" + (
                f" (at {format_field_path(rule.loc)})" if rule.loc else "")]


def _describe_example(example: Example | None, rule_id: str) -> list[str]:
    if example is None:
        return ["  example: none yet; add a failing case for this rule to policies/tests/"]
    lines = [f"  example that fails it ({example.test_file}: {example.case}):"]
    lines += [f"    {change}" for change in example.changes] or ["    (the base document)"]
    where = f"{example.field}: " if example.field else ""
    lines.append(f"  finding: {rule_id}: {where}{example.message}")
    return lines


def find_example(suite: Suite, rule_id: str) -> Example | None:
    """The first test case that expects this rule to fail, run for real."""
    for path in test_files(suite.folder):
        try:
            example = _example_in(suite, path, rule_id)
        except InputError:
            continue
        if example is not None:
            return example
    return None


def _example_in(suite: Suite, path: str, rule_id: str) -> Example | None:
    tests = _read_tests(path, path)
    if tests is None:
        return None
    for case in tests.cases:
        if case.expect == "pass" or not any(e.rule == rule_id for e in case.expect):
            continue
        base = _read_base(suite, path, tests.base)
        customer = _read_customer(suite, path, tests.customer)
        subject = _subject(case, base, customer, path)
        env = Env(now=TEST_NOW, min_bake_time_high_risk=tests.min_bake_time_high_risk)
        for v in evaluate(subject, env, _policy_set(suite, tests.policy)):
            if v.rule == rule_id:
                changes = [f"set {k}: {_shown(val)}" for k, val in case.set.items()]
                changes += [f"unset {k}" for k in case.unset]
                if case.document is not None:
                    changes.insert(0, "a whole document (see the test file)")
                shown = suite.label + os.path.relpath(path, suite.folder)
                return Example(shown, case.name, changes, format_field_path(v.loc), v.message)
    return None


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
