from __future__ import annotations

from datetime import timedelta

from pipeline.policy.guardrails import GUARDRAILS, project_bake_time
from pipeline.policy.testing import PolicyTestReport, builtin_suite, render_report, run_suite
from tests.unit.policy.helpers import base_subject, env


def test_the_builtin_guardrail_tests_pass() -> None:
    files = run_suite(builtin_suite())
    failed = [c for f in files for c in f.cases if not c.ok]
    assert not failed, render_report(PolicyTestReport(files))
    assert all(not f.problems for f in files)


def test_every_guardrail_has_a_failing_case_with_its_exact_message() -> None:
    from pipeline.policy.testing import _read_tests, test_files

    suite = builtin_suite()
    expected = set()
    for path in test_files(suite.folder):
        tests = _read_tests(path, path)
        for case in tests.cases if tests else []:
            if case.expect != "pass":
                expected.update(e.rule for e in case.expect)
    assert expected == {g.id for g in GUARDRAILS}


def test_the_base_priority_passes_every_guardrail() -> None:
    from pipeline.policy.engine import run_guardrails

    assert run_guardrails(base_subject(), env()) == []


def test_the_project_minimum_bake_time_can_only_be_raised() -> None:
    assert project_bake_time(timedelta(hours=48)) is None
    assert project_bake_time(timedelta(hours=12)) == (
        "must be at least 24h, not 12h: the minimum bake time for high and critical risk can "
        "be raised, never lowered")
