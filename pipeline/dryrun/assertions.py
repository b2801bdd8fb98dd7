"""Assertions over one case's output. Compiled once per run (regexes, CEL, the schema),
then applied as pure functions; every check says why it failed."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.model.priority import (
    Assertion,
    CelAssertion,
    ContainsAssertion,
    CostAssertion,
    EqualsAssertion,
    FieldEqualsAssertion,
    JsonSchemaAssertion,
    JudgeAssertion,
    LatencyAssertion,
    NumericToleranceAssertion,
    RegexAssertion,
)
from pipeline.policy.expr import (
    CelCompileError,
    CelRuntimeError,
    compile_expression,
    field_paths,
    run,
)
from pipeline.providers.base import CaseOutput

_MISSING = object()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str = ""
    skipped: bool = False
    # An uncalibrated judge's check: recorded, never counted against the case or a gate.
    advisory: bool = False
    cost: float = 0.0  # what a judge's call cost (the workflow's cost is the case's)
    # the judge could not be asked (unreachable, timeout, server error): never cached
    transient: bool = False

    @property
    def counts(self) -> bool:
        return not (self.skipped or self.advisory)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed}
        if self.message:
            out["message"] = self.message
        if self.skipped:
            out["skipped"] = True
        if self.advisory:
            out["advisory"] = True
        if self.cost:
            out["cost"] = round(self.cost, 8)
        if self.transient:
            out["transient"] = True
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> Check:
        return Check(str(data["name"]), bool(data["passed"]), str(data.get("message", "")),
                     bool(data.get("skipped", False)), bool(data.get("advisory", False)),
                     float(data.get("cost", 0.0)), bool(data.get("transient", False)))


CheckFn = Callable[[Case, CaseOutput], Check]


def assertion_name(a: Assertion) -> str:
    if a.name:
        return a.name
    return f"{a.type}:{a.field}" if a.field else a.type


def get_path(value: Any, dotted: str | None) -> Any:
    """Follow 'a.b.0.c' into JSON data; _MISSING when any step is absent."""
    if not dotted:
        return value
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def missing(value: Any) -> bool:
    """Whether get_path found nothing."""
    return value is _MISSING


def show(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                             ensure_ascii=False)
    text = json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output, sort_keys=True,
                                                             ensure_ascii=False)


def _where(field: str | None) -> str:
    return f"{field}: " if field else ""


def _compare_equal(name: str, field: str | None, actual: Any, wanted: Any) -> Check:
    if wanted is _MISSING or wanted is None:
        return Check(name, True, "no expected value for this case", skipped=True)
    if actual is _MISSING:
        return Check(name, False, f"{field} is missing from the output")
    if (actual == wanted and type(actual) is type(wanted)) or _same_number(actual, wanted):
        return Check(name, True)
    return Check(name, False, f"{_where(field)}expected {show(wanted)}, got {show(actual)}")


def _same_number(a: Any, b: Any) -> bool:
    numeric = (int, float)
    return (isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool)
            and not isinstance(b, bool) and a == b)


def _equals(a: EqualsAssertion) -> CheckFn:
    name, explicit = assertion_name(a), "value" in a.model_fields_set

    def check(case: Case, out: CaseOutput) -> Check:
        wanted = a.value if explicit else get_path(case.expected, a.field)
        return _compare_equal(name, a.field, get_path(out.output, a.field), wanted)
    return check


def _field_equals(a: FieldEqualsAssertion) -> CheckFn:
    name = assertion_name(a)

    def check(case: Case, out: CaseOutput) -> Check:
        return _compare_equal(name, a.field, get_path(out.output, a.field),
                              get_path(case.expected, a.field))
    return check


def _contains(a: ContainsAssertion) -> CheckFn:
    name = assertion_name(a)
    needle = a.value if a.case_sensitive else a.value.casefold()

    def check(case: Case, out: CaseOutput) -> Check:
        value = get_path(out.output, a.field)
        if value is _MISSING:
            return Check(name, False, f"{a.field} is missing from the output")
        text = as_text(value) if a.case_sensitive else as_text(value).casefold()
        if needle in text:
            return Check(name, True)
        return Check(name, False, f"{_where(a.field)}does not contain {show(a.value)}")
    return check


def _regex(a: RegexAssertion, index: int) -> CheckFn:
    name = assertion_name(a)
    try:
        pattern = re.compile(a.pattern)
    except re.error as e:
        raise _bad(index, "pattern", f"is not a valid regular expression ({e})") from None

    def check(case: Case, out: CaseOutput) -> Check:
        value = get_path(out.output, a.field)
        if value is _MISSING:
            return Check(name, False, f"{a.field} is missing from the output")
        if pattern.search(as_text(value)):
            return Check(name, True)
        return Check(name, False, f"{_where(a.field)}does not match /{a.pattern}/")
    return check


def _json_schema(a: JsonSchemaAssertion, schema: dict[str, Any] | None, index: int) -> CheckFn:
    name = assertion_name(a)
    if schema is None:
        raise _bad(index, "type", "json-schema needs spec.expectedOutput.schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise InputError(f"spec.expectedOutput.schema: not a valid JSON Schema ({e.message})"
                         ) from None
    validator = Draft202012Validator(schema)

    def check(case: Case, out: CaseOutput) -> Check:
        value = get_path(out.output, a.field)
        errors = sorted(validator.iter_errors(None if value is _MISSING else value),
                        key=lambda e: list(e.absolute_path))
        if not errors:
            return Check(name, True)
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "output"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Check(name, False, f"{where}: {_schema_message(first)}{more}")
    return check


def _schema_message(error: Any) -> str:
    # jsonschema's message quotes the offending value in full; keep it short.
    text = str(error.message)
    return text if len(text) <= 160 else text[:159] + "…"


def _numeric(a: NumericToleranceAssertion) -> CheckFn:
    name = assertion_name(a)

    def check(case: Case, out: CaseOutput) -> Check:
        wanted, actual = get_path(case.expected, a.field), get_path(out.output, a.field)
        if wanted is _MISSING or wanted is None:
            return Check(name, True, "no expected value for this case", skipped=True)
        number, target = _as_float(actual), _as_float(wanted)
        if number is None or target is None:
            return Check(name, False, f"{a.field}: expected a number, got {show(actual)}")
        allowed = a.tolerance * abs(target) if a.relative else a.tolerance
        if abs(number - target) <= allowed:
            return Check(name, True)
        return Check(name, False, f"{a.field}: {number:g} is not within {allowed:g} of "
                                  f"{target:g}")
    return check


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is _MISSING:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _latency(a: LatencyAssertion) -> CheckFn:
    name = assertion_name(a)

    def check(case: Case, out: CaseOutput) -> Check:
        if out.latency_ms <= a.max_ms:
            return Check(name, True)
        return Check(name, False, f"took {out.latency_ms:.0f} ms (limit {a.max_ms:g} ms)")
    return check


def _cost(a: CostAssertion) -> CheckFn:
    name = assertion_name(a)

    def check(case: Case, out: CaseOutput) -> Check:
        if out.cost <= a.max:
            return Check(name, True)
        return Check(name, False, f"cost {out.cost:.6f} (limit {a.max:g})")
    return check


def _cel(a: CelAssertion, index: int) -> CheckFn:
    name = assertion_name(a)
    try:
        program = compile_expression(a.expr)
    except CelCompileError as e:
        raise _bad(index, "expr", f"is not a valid CEL expression ({e})") from None

    read = tuple(dict.fromkeys(field_paths(a.expr, _CASE_ROOTS)))

    def check(case: Case, out: CaseOutput) -> Check:
        context = {"input": case.input, "output": out.output, "expected": case.expected}
        try:
            result = run(program, context)
        except CelRuntimeError as e:
            return Check(name, False, f"CEL error: {e}{_values(read, context)}")
        if result is True:
            return Check(name, True)
        if result is False:
            return Check(name, False, f"{a.expr} is false{_values(read, context)}")
        return Check(name, False, f"CEL returned {show(result)}, not true or false")
    return check


# The roots a dry-run expression reads; a failing one shows the value of each field it read.
_CASE_ROOTS = re.compile(r"(?<![\w.])(input|output|expected)\b")


def _values(paths: tuple[tuple[str, ...], ...], context: dict[str, Any]) -> str:
    shown = []
    for path in paths[:6]:
        value: Any = context
        for part in path:
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
            if value is _MISSING:
                break
        shown.append(f"{'.'.join(path)} = {'(missing)' if value is _MISSING else show(value)}")
    more = f", and {len(paths) - 6} more" if len(paths) > 6 else ""
    return f" (with {', '.join(shown)}{more})" if shown else ""


_MISSING = object()


def _bad(index: int, field: str, message: str) -> InputError:
    return InputError(f"spec.dryRun.assertions[{index}].{field}: {message}")


def compile_one(a: Assertion, index: int, schema: dict[str, Any] | None,
                judges: Mapping[int, CheckFn] | None = None) -> CheckFn:
    if isinstance(a, JudgeAssertion):
        # a judge needs a model connection and its calibration: the runner builds it
        if judges is None or index not in judges:
            raise _bad(index, "type", "a judge runs only in a dry run")
        return judges[index]
    if isinstance(a, EqualsAssertion):
        return _equals(a)
    if isinstance(a, FieldEqualsAssertion):
        return _field_equals(a)
    if isinstance(a, ContainsAssertion):
        return _contains(a)
    if isinstance(a, RegexAssertion):
        return _regex(a, index)
    if isinstance(a, JsonSchemaAssertion):
        return _json_schema(a, schema, index)
    if isinstance(a, NumericToleranceAssertion):
        return _numeric(a)
    if isinstance(a, LatencyAssertion):
        return _latency(a)
    if isinstance(a, CostAssertion):
        return _cost(a)
    return _cel(a, index)


def default_assertions(schema: dict[str, Any] | None) -> list[Assertion]:
    """With no assertions written: the output satisfies the schema and equals `expected`."""
    out: list[Assertion] = []
    if schema is not None:
        out.append(JsonSchemaAssertion(type="json-schema"))
    out.append(EqualsAssertion(type="equals"))
    return out


@dataclass(frozen=True)
class Assertions:
    checks: tuple[CheckFn, ...]
    names: tuple[str, ...]

    def evaluate(self, case: Case, out: CaseOutput) -> tuple[Check, ...]:
        return tuple(check(case, out) for check in self.checks)


def compile_assertions(assertions: list[Assertion], schema: dict[str, Any] | None,
                       judges: Mapping[int, CheckFn] | None = None) -> Assertions:
    """Compile once per run; InputError names the assertion that cannot be compiled.
    JUDGES: the check of each judge assertion, by its index."""
    chosen = assertions or default_assertions(schema)
    return Assertions(tuple(compile_one(a, i, schema, judges) for i, a in enumerate(chosen)),
                      tuple(assertion_name(a) for a in chosen))
