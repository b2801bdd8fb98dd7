"""`ailoop policy test|explain` and policy findings through `ailoop validate`, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import run_cli

HOUSE_TESTS = "policies/tests/house-rules.yaml"


def test_policy_test_passes_on_the_example(example: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "-C", str(example), "policy", "test")
    assert result.code == 0, result.out
    assert "  ok    bake-time - high risk stage baking less than 24h\n" in result.out
    assert "policies/tests/house-rules.yaml\n" in result.out
    assert result.out.endswith(" passed, 0 failed\n")


def test_policy_test_fails_with_exit_1_on_a_broken_expectation(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = example / HOUSE_TESTS
    path.write_text(path.read_text().replace("is not MAJOR.MINOR.PATCH", "is wrong"))
    result = run_cli(capsys, "-C", str(example), "policy", "test")
    assert result.code == 1
    assert ("  FAIL  workflow versions are MAJOR.MINOR.PATCH\n"
            "        expected house/semantic-workflow-version: workflow version '1.0' is wrong\n"
            "        unexpected house/semantic-workflow-version: workflow version '1.0' is not "
            "MAJOR.MINOR.PATCH (at spec.workflow.version)\n") in result.out
    assert result.out.endswith(" passed, 1 failed\n")


def test_policy_test_reports_a_malformed_test_file_without_a_traceback(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (example / "policies/tests/bad.yaml").write_text("policy: house-rules.yaml\ncases: []\n")
    result = run_cli(capsys, "-C", str(example), "policy", "test")
    assert result.code == 1
    assert "  ERROR policies/tests/bad.yaml:2:8: cases: must have at least 1 item, not 0\n" \
        in result.out


def test_explain_a_guardrail(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "-C", str(example), "policy", "explain", "guardrail/bake-time")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == ("guardrail/bake-time (built-in guardrail, severity error; a repo can "
                        "only waive it)")
    assert lines[1].startswith("  checks: High or critical risk needs a minimum bake time")
    assert lines[2].startswith("  source: pipeline/policy/guardrails.py:")
    assert lines[3:] == [
        "  example that fails it (builtin:guardrails.yaml: bake-time - high risk stage baking "
        "less than 24h):",
        "    set spec.rollout.stages[0].bakeTime: 12h",
        "  finding: guardrail/bake-time: spec.rollout.stages[0].bakeTime: risk is high, so "
        "stage 'shadow' must bake at least 24h (ailoop.yaml spec.minBakeTimeHighRisk), not 12h",
    ]


def test_explain_a_repo_rule_and_an_unknown_rule(example: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "-C", str(example), "policy", "explain", "house/tags")
    assert result.code == 0
    assert "  source: policies/house-rules.yaml:37\n" in result.out
    assert "  passes when: size(spec.tags) > 0\n" in result.out
    unknown = run_cli(capsys, "-C", str(example), "policy", "explain", "guardrail/bake")
    assert unknown.code == 2
    assert unknown.err == ("error: unknown rule 'guardrail/bake'; did you mean "
                           "'guardrail/bake-time'? (built-in guardrails and rules in "
                           "policies/*.yaml)\n")


def test_validate_reports_policy_findings_in_every_format(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("-C", str(example), "validate", "--no-cache", "--now", "2027-12-01")
    text = run_cli(capsys, *args)
    assert text.code == 1
    assert ("policies/waivers/northwind-claims-review-cadence.yaml:15:12: "
            "house/high-risk-review-cadence: spec.expires: waiver expired on 2027-11-30; renew "
            "it with a new approval or remove it\n") in text.out
    github = run_cli(capsys, *args, "--format", "github")
    assert ("::error file=policies/waivers/northwind-claims-review-cadence.yaml,line=15,col=12,"
            "title=house/high-risk-review-cadence::spec.expires: waiver expired on 2027-11-30; "
            "renew it with a new approval or remove it\n") in github.out
    json_out = run_cli(capsys, *args, "--format", "json")
    assert '"rule": "house/high-risk-review-cadence"' in json_out.out
    clean = run_cli(capsys, "-C", str(example), "validate", "--no-cache", "--now", "2026-11-24")
    assert clean.code == 0, clean.out
