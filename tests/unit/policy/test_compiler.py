from __future__ import annotations

from tests.unit.policy.helpers import policy


def test_a_rule_with_a_syntax_error_is_a_finding_at_its_condition_line() -> None:
    rules, findings = policy(
        "    - id: house/broken\n"
        "      description: broken\n"
        "      condition: size(spec.tags) >\n"
        "      message: never shown\n")
    assert rules.rules == ()
    assert [f.render() for f in findings] == [
        "policies/p.yaml:9:18: house/broken: spec.rules[0].condition: CEL syntax error in the "
        "condition: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', "
        "'!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER} "
        "(expression line 1, column 18)"]


def test_a_rule_reading_a_missing_field_is_a_finding_with_a_hint() -> None:
    rules, findings = policy(
        "    - id: house/typo\n"
        "      description: typo\n"
        "      condition: spec.rolout.target != 'full'\n"
        "      message: x\n")
    assert rules.rules == ()
    assert [f.render() for f in findings] == [
        "policies/p.yaml:9:18: house/typo: spec.rules[0].condition: the condition reads "
        "spec.rolout.target, but Priority has no field 'rolout' at spec; did you mean "
        "'rollout'?"]


def test_fields_inside_strings_and_after_method_calls_are_not_checked() -> None:
    rules, findings = policy(
        "    - id: house/fine\n"
        "      description: fine\n"
        "      condition: >-\n"
        "        spec.rollout.stages.all(s, s.bakeTime >= duration('1h')) &&\n"
        "        spec.goal != 'spec.nothing.here' && metadata.labels.exists(k, k != '')\n"
        "      message: x\n")
    assert findings == []
    assert [r.id for r in rules.rules] == ["house/fine"]


def test_unknown_variables_reserved_ids_and_bad_message_templates() -> None:
    _, findings = policy(
        "    - id: guardrail/mine\n"
        "      description: x\n"
        "      condition: sepc.risk == 'low'\n"
        "      message: 'risk {{ spec.risk + }}'\n")
    assert [(f.field, f.message) for f in findings] == [
        ("spec.rules[0].id", "rule ids starting with 'guardrail/' are reserved for the "
                             "built-in guardrails"),
        ("spec.rules[0].condition", "the condition unknown variable 'sepc'; rules can use doc, "
                                    "metadata, spec, customer, project, repo, key, now"),
        ("spec.rules[0].message", "CEL syntax error in the message expression: Syntax error: "
                                  "mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', "
                                  "'!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, "
                                  "STRING, BYTES, IDENTIFIER} (expression line 1, column 12)"),
    ]


def test_duplicate_rule_ids_and_unsupported_kinds() -> None:
    _, findings = policy(
        "    - {id: house/a, description: x, condition: 'true', message: x}\n"
        "    - id: house/a\n"
        "      description: x\n"
        "      match: {kinds: [Incident]}\n"
        "      condition: 'true'\n"
        "      message: x\n")
    assert [f.message for f in findings] == [
        "duplicate rule id 'house/a' (also in policies/p.yaml)",
        "policies can match kinds Priority, Customer, not 'Incident'",
    ]
