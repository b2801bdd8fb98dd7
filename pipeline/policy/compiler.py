"""policies/*.yaml -> a PolicySet of compiled rules, and findings about the policy files.

Every rule is compiled once per run. A rule that does not compile, reads a field its kind
does not have, or uses an unknown variable is left out of the set and reported on the
policy file at the offending field; the finding is an error, so nothing passes silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.documents.findings import Finding, did_you_mean
from pipeline.documents.layout import policies_folder_documents
from pipeline.documents.load import Document, allowed_fields, load_document
from pipeline.errors import InputError
from pipeline.model import KINDS
from pipeline.model.policy import Rule
from pipeline.policy.expr import (
    DOCUMENT_ROOTS,
    ROOTS,
    CelCompileError,
    Expression,
    compile_expression,
)
from pipeline.policy.paths import Loc, parse_field_path
from pipeline.policy.rules import CompiledRule, PolicySet

SUPPORTED_KINDS = ("Priority", "Customer")
RESERVED_PREFIX = "guardrail/"
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)


def policy_files(documents: Iterable[str]) -> list[str]:
    return policies_folder_documents(documents, "Policy")


def load_policy_set(root: str, documents: Iterable[str]) -> tuple[PolicySet, list[Finding]]:
    rules: list[CompiledRule] = []
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    for rel in policy_files(documents):
        doc, problems = load_document(root, rel)
        findings.extend(problems)
        if doc is not None:
            compiled, problems = compile_policy(doc, seen)
            rules.extend(compiled)
            findings.extend(problems)
    return PolicySet(tuple(rules)), findings


def compile_policy(doc: Document, seen: dict[str, str]) -> tuple[list[CompiledRule], list[Finding]]:
    """Compile every rule of one Policy document; `seen` maps rule ids to their files."""
    out: list[CompiledRule] = []
    findings: list[Finding] = []
    for i, rule in enumerate(doc.model.spec.rules):
        problems = _identity_problems(doc, i, rule, seen)
        compiled, more = _compile_rule(doc, i, rule)
        problems += more
        findings.extend(problems)
        seen.setdefault(rule.id, doc.path)
        if compiled is not None and not problems:
            out.append(compiled)
    return out, findings


def _identity_problems(doc: Document, i: int, rule: Rule, seen: dict[str, str]) -> list[Finding]:
    at = ("spec", "rules", i)
    out = []
    if rule.id.startswith(RESERVED_PREFIX):
        out.append(doc.finding((*at, "id"), "rule ids starting with 'guardrail/' are reserved "
                               "for the built-in guardrails", rule=rule.id))
    if rule.id in seen:
        out.append(doc.finding((*at, "id"), f"duplicate rule id '{rule.id}' "
                               f"(also in {seen[rule.id]})", rule=rule.id))
    for j, kind in enumerate(rule.match.kinds):
        if kind not in SUPPORTED_KINDS:
            out.append(doc.finding((*at, "match", "kinds", j),
                                   f"policies can match kinds {', '.join(SUPPORTED_KINDS)}, "
                                   f"not '{kind}'", rule=rule.id))
    return out


def _compile_rule(doc: Document, i: int, rule: Rule) -> tuple[CompiledRule | None, list[Finding]]:
    at = ("spec", "rules", i)
    findings: list[Finding] = []
    condition = _compile(doc, (*at, "condition"), rule, rule.condition, findings)
    message = _compile_message(doc, (*at, "message"), rule, findings)
    loc: Loc = ()
    try:
        loc = parse_field_path(rule.field) if rule.field else ()
    except InputError as e:
        findings.append(doc.finding((*at, "field"), e.detail, rule=rule.id))
    if condition is None or message is None:
        return None, findings
    kinds = [k for k in rule.match.kinds if k in SUPPORTED_KINDS]
    return CompiledRule(
        id=rule.id, description=rule.description, severity=rule.severity,
        kinds=frozenset(kinds), labels=dict(rule.match.labels),
        customers=frozenset(rule.match.customers), risk=frozenset(rule.match.risk),
        condition=condition, message=message, loc=loc, source=doc.path,
        line=doc.pos(*at, "condition")[0], condition_text=rule.condition,
        message_text=rule.message,
    ), findings


def _compile(doc: Document, loc: Loc, rule: Rule, source: str,
             findings: list[Finding]) -> Expression | None:
    what = "condition" if loc[-1] == "condition" else "message expression"
    try:
        expression = compile_expression(source)
    except CelCompileError as e:
        findings.append(doc.finding(loc, f"CEL syntax error in the {what}: {e}", rule=rule.id))
        return None
    problems = [f"unknown variable '{name}'; rules can use {', '.join(ROOTS)}"
                for name in expression.unknown]
    problems += _missing_fields(expression, rule.match.kinds)
    for problem in problems:
        findings.append(doc.finding(loc, f"the {what} {problem}", rule=rule.id))
    return None if problems else expression


def _compile_message(doc: Document, loc: Loc, rule: Rule,
                     findings: list[Finding]) -> tuple[str | Expression, ...] | None:
    parts: list[str | Expression] = []
    pos, ok = 0, True
    for match in _TEMPLATE.finditer(rule.message):
        parts.append(rule.message[pos:match.start()])
        expression = _compile(doc, loc, rule, match.group(1).strip() or "''", findings)
        ok = ok and expression is not None
        if expression is not None:
            parts.append(expression)
        pos = match.end()
    parts.append(rule.message[pos:])
    return tuple(p for p in parts if p != "") if ok else None


def _missing_fields(expression: Expression, kinds: Iterable[str]) -> list[str]:
    """Fields the expression reads that the matched kinds' schemas do not have."""
    out: list[str] = []
    for kind in kinds:
        model = KINDS.get(kind)
        if model is None:
            continue
        for path in expression.paths:
            problem = _check_path(model, kind, path)
            if problem and problem not in out:
                out.append(problem)
    return out


def _check_path(model: type, kind: str, path: tuple[str, ...]) -> str | None:
    base: Loc = () if path[0] == "doc" else (path[0],)
    assert path[0] in DOCUMENT_ROOTS
    for part in path[1:]:
        allowed = allowed_fields(model, base)
        if not allowed:
            return None  # free-form data, a list or a scalar: nothing more to check
        if part not in allowed:
            hint = did_you_mean(part, allowed)
            return (f"reads {'.'.join(path)}, but {kind} has no field '{part}' "
                    f"at {'.'.join(str(p) for p in base) or 'the top level'}{hint}")
        base = (*base, part)
    return None
