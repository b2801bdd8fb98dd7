"""`ailoop policy test`: run the policies' own test cases, like a test runner.

A test file (policies/tests/*.yaml; the built-in guardrails ship theirs in
pipeline/policy/builtin_tests/) names the policy it tests, a base document and its
customer, and cases: changes to the base (`set`, `unset`) or a whole `document`, and
what must happen: `expect: pass`, or the exact findings (rule id and message, optionally
the field). A case passes only when the findings are exactly the expected ones.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from pipeline.documents.findings import Finding, format_field_path
from pipeline.documents.layout import POLICIES
from pipeline.documents.load import document_from, validation_findings
from pipeline.documents.yamlio import Loaded, read_yaml
from pipeline.errors import InputError
from pipeline.model.base import Duration, JsonObject, JsonValue, Model
from pipeline.policy.data import plain
from pipeline.policy.engine import evaluate
from pipeline.policy.paths import Loc, parse_field_path
from pipeline.policy.rules import MIN_BAKE_TIME_HIGH_RISK, Env, PolicySet, Subject

BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "builtin_tests")
BUILTIN = "builtin"
TESTS_DIR = f"{POLICIES}/tests"
# Policy tests judge waiver-free rules; a fixed clock keeps them reproducible.
TEST_NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Expected(Model):
    rule: str
    message: str
    field: str | None = None


class Case(Model):
    name: str
    document: JsonObject | None = Field(None, description="A whole document instead of base.")
    set: dict[str, JsonValue] = Field(default_factory=dict,
                                      description="field path -> new value, over the base.")
    unset: list[str] = Field(default_factory=list, description="field paths to remove.")
    expect: Literal["pass"] | list[Expected]


class PolicyTests(Model):
    policy: str | None = Field(None, description="A file under policies/, 'builtin' for the "
                               "guardrails; omitted: every rule and guardrail.")
    base: str | None = None
    customer: str | None = None
    min_bake_time_high_risk: Duration = MIN_BAKE_TIME_HIGH_RISK
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    name: str
    ok: bool
    details: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    path: str
    cases: list[CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class PolicyTestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(c.ok for f in self.files for c in f.cases)

    @property
    def failed(self) -> int:
        return sum(not c.ok for f in self.files for c in f.cases) + sum(
            len(f.problems) for f in self.files)


@dataclass(frozen=True)
class Suite:
    """Where test files live and the policies they may name."""

    label: str  # how paths are shown
    top: str  # absolute folder that referenced files must stay inside
    folder: str  # absolute folder of the test files
    policies: PolicySet


def test_files(folder: str) -> list[str]:
    out: list[str] = []
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        out.extend(os.path.join(base, f) for f in sorted(files) if f.endswith((".yaml", ".yml")))
    return out


def run_suite(suite: Suite) -> list[FileResult]:
    results = (run_file(suite, path) for path in test_files(suite.folder))
    return [r for r in results if r is not None]


def run_file(suite: Suite, abs_path: str) -> FileResult | None:
    """Run one test file; None when the file is a fixture (a document with a `kind`)."""
    rel = _shown(suite, abs_path)
    result = FileResult(rel)
    try:
        tests = _read_tests(abs_path, rel)
        if tests is None:
            return None
        policy_set = _policy_set(suite, tests.policy)
        base = _read_base(suite, abs_path, tests.base)
        customer = _read_customer(suite, abs_path, tests.customer)
    except InputError as e:
        result.problems.append(str(e))
        return result
    env = Env(TEST_NOW, tests.min_bake_time_high_risk)
    for case in tests.cases:
        result.cases.append(run_case(case, base, customer, env, policy_set, rel))
    return result


def _shown(suite: Suite, abs_path: str) -> str:
    return suite.label + os.path.relpath(abs_path, suite.folder).replace(os.sep, "/")


def _read_tests(abs_path: str, rel: str) -> PolicyTests | None:
    loaded = read_yaml(abs_path, rel)
    if isinstance(loaded.data, dict) and "kind" in loaded.data:
        return None  # a base document the tests refer to
    try:
        return PolicyTests.model_validate(loaded.data)
    except ValidationError as e:
        first = validation_findings(loaded, PolicyTests, e)[0]
        raise InputError(_field_message(first), path=rel, line=first.line,
                         col=first.col) from None


def _field_message(finding: Finding) -> str:
    return f"{finding.field}: {finding.message}" if finding.field else finding.message


def _policy_set(suite: Suite, policy: str | None) -> PolicySet:
    if policy is None:
        return suite.policies
    if policy == BUILTIN:
        return PolicySet((), guardrails=True)
    source = f"{POLICIES}/{policy}"
    chosen = suite.policies.only(source)
    if not chosen.rules:
        raise InputError(f"policy '{policy}' has no rules that compile (is {source} there?)")
    return chosen


def _inside(suite: Suite, test_path: str, ref: str) -> str:
    full = os.path.realpath(os.path.join(os.path.dirname(test_path), ref))
    top = os.path.realpath(suite.top)
    if not full.startswith(top.rstrip(os.sep) + os.sep):
        raise InputError(f"'{ref}' leaves the repository", path=_shown(suite, test_path))
    return full


def _read_base(suite: Suite, test_path: str, ref: str | None) -> Loaded | None:
    if ref is None:
        return None
    full = _inside(suite, test_path, ref)
    return read_yaml(full, os.path.relpath(full, suite.top).replace(os.sep, "/"))


def _read_customer(suite: Suite, test_path: str, ref: str | None) -> dict[str, Any] | None:
    loaded = _read_base(suite, test_path, ref)
    if loaded is None:
        return None
    doc, problems = document_from(loaded, frozenset({"Customer"}))
    if doc is None:
        raise InputError(problems[0].render())
    model = doc.model
    roles: dict[str, list[str]] = {}
    for person in model.spec.people:
        for role in person.roles:
            roles.setdefault(role, []).append(person.id)
    return {"name": model.metadata.name, "labels": dict(model.metadata.labels),
            "people": sorted(p.id for p in model.spec.people), "roles": roles}


def run_case(case: Case, base: Loaded | None, customer: dict[str, Any] | None, env: Env,
             policy_set: PolicySet, rel: str) -> CaseResult:
    try:
        subject = _subject(case, base, customer, rel)
    except InputError as e:
        return CaseResult(case.name, False, [f"the case's document is not valid: {e}"])
    got = [(v.rule, v.message, format_field_path(v.loc))
           for v in evaluate(subject, env, policy_set)]
    return _compare(case, got)


def _subject(case: Case, base: Loaded | None, customer: dict[str, Any] | None,
             rel: str) -> Subject:
    if case.document is not None:
        data: Any = copy.deepcopy(case.document)
    elif base is not None:
        data = copy.deepcopy(base.data)
    else:
        raise InputError("the case has no document and the file no base")
    for path, value in case.set.items():
        _set(data, parse_field_path(path), value)
    for path in case.unset:
        _unset(data, parse_field_path(path))
    doc, problems = document_from(Loaded(rel, data), frozenset({"Priority", "Customer"}))
    if doc is None:
        raise InputError("; ".join(f"{f.field}: {f.message}" for f in problems[:3]))
    name = doc.model.metadata.name
    key = f"{customer['name']}/{name}" if customer and doc.kind == "Priority" else name
    return Subject(key, doc.kind, plain(doc.model), customer)


def _parent(data: Any, loc: Loc) -> Any:
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            raise InputError(f"no field {format_field_path(loc)} in the base document") from None
    return data


def _set(data: Any, loc: Loc, value: Any) -> None:
    parent, last = _parent(data, loc), loc[-1]
    if isinstance(parent, list) and isinstance(last, int) and last == len(parent):
        parent.append(value)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        parent[last] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise InputError(f"cannot set {format_field_path(loc)} in the base document")


def _unset(data: Any, loc: Loc) -> None:
    parent = _parent(data, loc)
    try:
        del parent[loc[-1]]
    except (KeyError, IndexError, TypeError):
        raise InputError(f"no field {format_field_path(loc)} in the base document") from None


def _compare(case: Case, got: list[tuple[str, str, str]]) -> CaseResult:
    expected = [] if case.expect == "pass" else list(case.expect)
    missing = [e for e in expected if not _take(got, e)]
    details = [f"expected {e.rule}: {e.message}" + (f" (at {e.field})" if e.field else "")
               for e in missing]
    details += [f"unexpected {rule}: {message} (at {where or 'the document'})"
                for rule, message, where in got]
    return CaseResult(case.name, not details, details)


def _take(got: list[tuple[str, str, str]], expected: Expected) -> bool:
    for i, (rule, message, where) in enumerate(got):
        if rule == expected.rule and message == expected.message and (
                expected.field is None or expected.field == where):
            del got[i]
            return True
    return False


def builtin_suite() -> Suite:
    return Suite("builtin:", BUILTIN_DIR, BUILTIN_DIR, PolicySet((), True))


def repo_suite(root: str) -> tuple[Suite, list[Finding]]:
    from pipeline.documents.layout import discover
    from pipeline.policy.compiler import load_policy_set

    policies, problems = load_policy_set(root, discover(root))
    return Suite(TESTS_DIR + "/", root, os.path.join(root, TESTS_DIR), policies), problems


def run_tests(root: str) -> PolicyTestReport:
    """The built-in guardrail tests, then the repo's policy tests."""
    report = PolicyTestReport(run_suite(builtin_suite()))
    suite, problems = repo_suite(root)
    if problems:
        report.files.append(FileResult(POLICIES, problems=[f.render() for f in problems]))
    report.files.extend(run_suite(suite))
    return report


def render_report(report: PolicyTestReport) -> str:
    lines: list[str] = []
    for file in report.files:
        lines.append(file.path)
        lines.extend(f"  ERROR {problem}" for problem in file.problems)
        for case in file.cases:
            lines.append(f"  {'ok   ' if case.ok else 'FAIL '} {case.name}")
            lines.extend(f"        {detail}" for detail in case.details)
    verdict = "FAILED" if report.failed else "OK"
    lines.append(f"{verdict}: {report.passed} passed, {report.failed} failed")
    return "\n".join(lines) + "\n"
