"""Policies, guardrails and waivers through the real validate pipeline on the example."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipeline.validate.run import ValidateOptions, validate

WAIVER = "policies/waivers/northwind-claims-review-cadence.yaml"
CLAIMS = "customers/northwind-insurance/claims-intake/priority.yaml"
BEFORE_EXPIRY = datetime(2026, 11, 24, tzinfo=UTC)


def _run(root: Path, now: datetime = BEFORE_EXPIRY) -> list[str]:
    report = validate(ValidateOptions(root=str(root), use_cache=False, jobs=1, now=now))
    return [f.render() for f in report.findings]


def _line(path: Path, text: str) -> int:
    """The line a text starts on (the example is edited by others; do not hard-code it)."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def _review(root: Path) -> str:
    return (f"{CLAIMS}:{_line(root / CLAIMS, 'review:') + 1}:5: house/high-risk-review-cadence: "
            "spec.review: risk is high, so the operations review must come at least every 14d")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_example_passes_every_policy(example: Path) -> None:
    assert _run(example) == []


def test_an_expired_waiver_is_an_error_naming_the_date_and_waives_nothing(example: Path) -> None:
    assert _run(example, datetime(2027, 12, 1, tzinfo=UTC)) == [
        _review(example),
        f"{WAIVER}:15:12: house/high-risk-review-cadence: spec.expires: waiver expired on "
        "2027-11-30; renew it with a new approval or remove it",
    ]


def test_the_expiry_date_itself_is_still_valid(example: Path) -> None:
    assert _run(example, datetime(2027, 11, 30, 23, 59, tzinfo=UTC)) == []


def test_a_waiver_for_an_unknown_rule(example: Path) -> None:
    _edit(example / WAIVER, "rule: house/high-risk-review-cadence", "rule: house/review-cadenc")
    findings = _run(example)
    assert f"{WAIVER}:7:9: house/review-cadenc: spec.rule: waiver for unknown rule " \
           "'house/review-cadenc'; did you mean 'house/high-risk-review-cadence'?" in findings
    assert any("house/high-risk-review-cadence: spec.review" in f for f in findings)


def test_a_waiver_without_an_approver_is_ignored_and_reported(example: Path) -> None:
    _edit(example / WAIVER, "  approvedBy:\n    role: risk-officer\n    person: mei\n", "")
    assert _run(example) == [
        _review(example),
        f"{WAIVER}:7:3: house/high-risk-review-cadence: spec: waiver is ignored: it names no "
        "approver (approvedBy: role and person) (warning)",
    ]


def test_a_waiver_whose_approver_lacks_the_role_is_ignored(example: Path) -> None:
    _edit(example / WAIVER, "person: mei", "person: lukas")
    findings = _run(example)
    assert f"{WAIVER}:14:13: house/high-risk-review-cadence: spec.approvedBy.person: waiver is " \
           "ignored: 'lukas' does not hold role 'risk-officer' at customer " \
           "'northwind-insurance' (warning)" in findings
    assert len(findings) == 2


def test_a_waiver_by_a_role_that_cannot_approve_waivers_is_ignored(example: Path) -> None:
    _edit(example / WAIVER, "role: risk-officer", "role: engineer")
    assert any("spec.approvedBy.role: waiver is ignored: role 'engineer' cannot approve "
               "waivers (policy-owner or risk-officer can)" in f for f in _run(example))


def test_a_guardrail_finding_points_at_the_field(example: Path) -> None:
    _edit(example / CLAIMS, "        bakeTime: 48h\n", "        bakeTime: 6h\n")
    line = _line(example / CLAIMS, "bakeTime: 6h")
    assert _run(example) == [
        f"{CLAIMS}:{line}:19: guardrail/bake-time: spec.rollout.stages[1].bakeTime: risk is high, "
        "so stage 'canary' must bake at least 24h (ailoop.yaml spec.minBakeTimeHighRisk), "
        "not 6h"]


def test_a_broken_policy_is_a_finding_on_the_policy_file(example: Path) -> None:
    _edit(example / "policies/house-rules.yaml", "condition: size(spec.tags) > 0",
          "condition: size(spec.tags) >")
    findings = _run(example)
    assert len(findings) == 1
    assert findings[0].startswith("policies/house-rules.yaml:37:18: house/tags: "
                                  "spec.rules[3].condition: CEL syntax error in the condition")


def test_a_rule_that_errors_at_run_time_fails_every_document_it_matches(example: Path) -> None:
    _edit(example / "policies/house-rules.yaml", "condition: size(spec.tags) > 0",
          "condition: metadata.labels['team'] != ''")
    findings = _run(example)
    assert len(findings) == 3
    assert all("house/tags: spec.tags: rule could not be evaluated (no such key 'team'), so "
               "it counts as failed; fix the rule in policies/house-rules.yaml:37" in f
               for f in findings)


def test_a_minimum_bake_time_below_24h_is_a_finding_on_ailoop_yaml(example: Path) -> None:
    _edit(example / "ailoop.yaml", "minBakeTimeHighRisk: 24h", "minBakeTimeHighRisk: 12h")
    line = _line(example / "ailoop.yaml", "minBakeTimeHighRisk")
    assert (f"ailoop.yaml:{line}:24: guardrail/bake-time: spec.minBakeTimeHighRisk: must be "
            "at least 24h, not 12h: the minimum bake time for high and critical risk can be "
            "raised, never lowered") in _run(example)
