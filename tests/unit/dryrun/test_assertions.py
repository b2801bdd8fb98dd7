from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from pipeline.documents.dataset import Case
from pipeline.dryrun.assertions import compile_assertions
from pipeline.errors import InputError
from pipeline.model.priority import Assertion
from pipeline.providers.base import CaseOutput

SCHEMA = {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["a", "b"]}}}
ADAPTER: TypeAdapter[Assertion] = TypeAdapter(Assertion)


def check(spec: dict[str, Any], output: Any, expected: Any = None, **out: Any) -> tuple[bool, str]:
    compiled = compile_assertions([ADAPTER.validate_python(spec)], SCHEMA)
    case = Case(id="1", input={"text": "hello", "n": 3}, expected=expected)
    (result,) = compiled.evaluate(case, CaseOutput(output=output, **out))
    return result.passed, result.message


@pytest.mark.parametrize(("spec", "output", "expected", "result"), [
    ({"type": "equals"}, {"k": 1}, {"k": 1}, (True, "")),
    ({"type": "equals"}, "yes", "no", (False, 'expected "no", got "yes"')),
    ({"type": "equals", "value": 2, "field": "n"}, {"n": 2.0}, None, (True, "")),
    ({"type": "equals"}, "x", None, (True, "no expected value for this case")),
    ({"type": "contains", "value": "REFUND"}, "your refund", None, (True, "")),
    ({"type": "contains", "value": "REFUND", "caseSensitive": True}, "refund", None,
     (False, 'does not contain "REFUND"')),
    ({"type": "regex", "pattern": "^p[123]$", "field": "p"}, {"p": "p4"}, None,
     (False, "p: does not match /^p[123]$/")),
    ({"type": "json-schema"}, {"kind": "c"}, None, (False, "kind: 'c' is not one of ['a', 'b']")),
    ({"type": "json-schema"}, {}, None, (False, "output: 'kind' is a required property")),
    ({"type": "json-schema"}, {"kind": "a"}, None, (True, "")),
    ({"type": "field-equals", "field": "a.b"}, {"a": {"b": 1}}, {"a": {"b": 2}},
     (False, "a.b: expected 2, got 1")),
    ({"type": "field-equals", "field": "x"}, {}, {"x": 1}, (False, "x is missing from the output")),
    ({"type": "numeric-tolerance", "field": "v", "tolerance": 0.1}, {"v": 1.05}, {"v": 1},
     (True, "")),
    ({"type": "numeric-tolerance", "field": "v", "tolerance": 0.1, "relative": True},
     {"v": 130}, {"v": 100}, (False, "v: 130 is not within 10 of 100")),
    ({"type": "numeric-tolerance", "field": "v", "tolerance": 1}, {"v": "n/a"}, {"v": 1},
     (False, 'v: expected a number, got "n/a"')),
    ({"type": "cel", "expr": "output.k == expected.k && input.n > 2"}, {"k": 1}, {"k": 1},
     (True, "")),
    ({"type": "cel", "expr": "output.k == 2"}, {"k": 1}, None,
     (False, "output.k == 2 is false (with output.k = 1)")),
    ({"type": "cel", "expr": "output.team == expected.team || input.n < 2"},
     {"team": "billing"}, {"team": "support"},
     (False, 'output.team == expected.team || input.n < 2 is false (with output.team = '
             '"billing", expected.team = "support", input.n = 3)')),
    ({"type": "cel", "expr": "output.k"}, {"k": 1}, None,
     (False, "CEL returned 1, not true or false")),
])
def test_assertions(spec: dict[str, Any], output: Any, expected: Any,
                    result: tuple[bool, str]) -> None:
    assert check(spec, output, expected) == result


def test_latency_and_cost() -> None:
    assert check({"type": "latency", "maxMs": 100}, "x", latency_ms=150.4) == (
        False, "took 150 ms (limit 100 ms)")
    assert check({"type": "cost", "max": 0.01}, "x", cost=0.02) == (
        False, "cost 0.020000 (limit 0.01)")


def test_cel_runtime_error_fails_the_check_not_the_run() -> None:
    passed, message = check({"type": "cel", "expr": "output.k > 1"}, "text", None)
    assert not passed and message.startswith("CEL error: ")


def test_compile_errors_name_the_assertion() -> None:
    with pytest.raises(InputError) as err:
        compile_assertions([ADAPTER.validate_python({"type": "cel", "expr": "a +"})], None)
    assert str(err.value).startswith("spec.dryRun.assertions[0].expr: is not a valid CEL "
                                     "expression (")
    with pytest.raises(InputError) as err:
        compile_assertions([ADAPTER.validate_python({"type": "regex", "pattern": "("})], None)
    assert str(err.value).startswith("spec.dryRun.assertions[0].pattern: is not a valid "
                                     "regular expression")
    with pytest.raises(InputError) as err:
        compile_assertions([ADAPTER.validate_python({"type": "json-schema"})], None)
    assert str(err.value) == ("spec.dryRun.assertions[0].type: json-schema needs "
                              "spec.expectedOutput.schema")


def test_defaults_are_schema_and_equals() -> None:
    assert compile_assertions([], SCHEMA).names == ("json-schema", "equals")
    assert compile_assertions([], None).names == ("equals",)
