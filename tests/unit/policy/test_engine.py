from __future__ import annotations

from pipeline.policy.engine import evaluate
from pipeline.policy.rules import Violation
from tests.unit.policy.helpers import base_subject, env, policy


def _run(rules_yaml: str) -> list[Violation]:
    rules, findings = policy(rules_yaml)
    assert findings == []
    return evaluate(base_subject(), env(), rules)


def test_a_false_condition_fails_with_its_interpolated_message_at_its_field() -> None:
    got = _run("    - id: house/stages\n"
               "      description: x\n"
               "      condition: size(spec.rollout.stages) > 3\n"
               "      field: spec.rollout.stages\n"
               "      severity: warning\n"
               "      message: 'only {{ size(spec.rollout.stages) }} stages for "
               "{{ key }}; bake {{ spec.rollout.stages[0].bakeTime }}'\n")
    assert got == [Violation("house/stages", ("spec", "rollout", "stages"),
                             "only 3 stages for acme/refunds; bake 1d", "warning")]


def test_a_true_condition_passes_and_customer_and_now_are_available() -> None:
    assert _run("    - id: house/ok\n"
                "      description: x\n"
                "      condition: >-\n"
                "        spec.owner in customer.roles['customer-owner'] &&\n"
                "        now > timestamp('2026-01-01T00:00:00Z') && metadata.name == 'refunds'\n"
                "      message: x\n") == []


def test_division_by_zero_counts_as_failed_with_a_clear_message() -> None:
    got = _run("    - id: house/div\n"
               "      description: x\n"
               "      condition: 1 / (size(spec.tags) - size(spec.tags)) == 1\n"
               "      message: never\n")
    assert got == [Violation("house/div", (), "rule could not be evaluated (division by zero), "
                             "so it counts as failed; fix the rule in policies/p.yaml:9")]


def test_a_missing_key_at_run_time_counts_as_failed() -> None:
    got = _run("    - id: house/labels\n"
               "      description: x\n"
               "      condition: metadata.labels['team'] == 'claims'\n"
               "      message: never\n")
    assert got == [Violation("house/labels", (), "rule could not be evaluated (no such key "
                             "'team'), so it counts as failed; fix the rule in "
                             "policies/p.yaml:9")]


def test_a_condition_that_is_not_boolean_counts_as_failed() -> None:
    got = _run("    - {id: house/n, description: x, condition: size(spec.tags), message: x}\n")
    assert got == [Violation("house/n", (), "condition returned int instead of true or false, "
                             "so it counts as failed; fix the rule in policies/p.yaml:7")]


def test_match_by_risk_customer_and_labels() -> None:
    rule = ("    - id: house/{name}\n"
            "      description: x\n"
            "      match: {match}\n"
            "      condition: 'false'\n"
            "      message: matched\n")
    matching = ["{risk: [high]}", "{customers: [acme]}", "{labels: {}}"]
    missing = ["{risk: [low]}", "{customers: [other]}", "{labels: {team: x}}",
               "{kinds: [Customer]}"]
    assert len(_run("".join(rule.format(name=i, match=m) for i, m in enumerate(matching)))) == 3
    assert _run("".join(rule.format(name=i, match=m) for i, m in enumerate(missing))) == []


def test_a_failing_message_expression_does_not_hide_the_failure() -> None:
    got = _run("    - id: house/msg\n"
               "      description: x\n"
               "      condition: 'false'\n"
               "      message: 'team {{ metadata.labels.team }}'\n")
    assert got == [Violation("house/msg", (), "team <no such key 'team'>")]


def test_shared_contexts_judge_each_document_as_a_fresh_context_would() -> None:
    """Documents of one customer share its converted CEL value; what one document sets
    must never leak into the next, whichever rules match each."""
    import copy

    from pipeline.policy.expr import SharedContexts

    rules, findings = policy(
        "    - id: house/high\n      description: x\n      match:\n        risk: [high]\n"
        "      condition: spec.owner in customer.roles['customer-owner']\n"
        "      message: 'owner {{ spec.owner }} of {{ customer.name }}'\n"
        "    - id: house/tags\n      description: x\n"
        "      condition: size(spec.tags) > 0 && metadata.name != 'quiet'\n"
        "      message: 'no tags on {{ metadata.name }}'\n")
    assert findings == []
    subjects = []
    for name, risk, owner, tags in [("a", "high", "zed", []), ("quiet", "low", "olivia", []),
                                    ("b", "high", "olivia", ["x"]), ("c", "low", "zed", [])]:
        subject = copy.deepcopy(base_subject())
        subject.data["metadata"]["name"] = name
        subject.data["spec"].update(risk=risk, owner=owner, tags=tags)
        subjects.append(subject)
    shared = SharedContexts()
    for subject in subjects:
        assert evaluate(subject, env(), rules, shared) == evaluate(subject, env(), rules)
    assert [v.rule for s in subjects for v in evaluate(s, env(), rules, shared)] == [
        "house/high", "house/tags", "house/tags", "house/tags"]
