"""Candidate versus serving as pure functions: the per-case split, the exact McNemar test,
the noRegressionOn gates (fail closed) and how the PR comment shows the comparison."""

from __future__ import annotations

import math

import pytest

from pipeline.documents.evidence import parse_evidence
from pipeline.dryrun.results import CaseResult
from pipeline.dryrun.summary_md import summary_markdown, versus_lines
from pipeline.dryrun.versus import ServingRef, Versus, compare, mcnemar_exact, no_regression_gates

SERVING = ServingRef("1.1.1", "ev-1111111111111111", "a" * 64)


def result(id: str, passed: bool, tags: tuple[str, ...] = (), critical: bool = False
           ) -> CaseResult:
    return CaseResult(id=id, tags=tags, critical=critical, passed=passed, output=None)


def reference_p(b: int, c: int) -> float:
    """The two-sided binomial test of b successes in b + c at 1/2, summed term by term."""
    n = b + c
    if n == 0:
        return 1.0
    probs = [math.comb(n, k) / 2 ** n for k in range(n + 1)]
    observed = probs[b]
    return min(1.0, sum(p for p in probs if p <= observed * (1 + 1e-9)))


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (5, 0), (10, 2), (2, 10), (3, 3), (30, 12)])
def test_mcnemar_is_the_two_sided_binomial_test_of_the_changed_cases(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(reference_p(b, c))


def test_mcnemar_known_values_and_thousands_of_cases() -> None:
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(0, 0) == 1.0
    assert 0.0 <= mcnemar_exact(3000, 2000) < 1e-40  # no overflow with thousands of cases


def test_each_case_is_improved_regressed_or_unchanged() -> None:
    before = [result("a", True, critical=True), result("b", False), result("c", True),
              result("d", False), result("e", True, ("billing",))]
    after = [result("a", False, critical=True), result("b", True), result("c", True),
             result("d", False), result("e", False, ("billing",))]
    v = compare(SERVING, after, before, ["critical", "billing"])
    assert (v.improved, v.regressed, v.unchanged_pass, v.unchanged_fail) == (
        ["b"], ["a", "e"], 1, 1)
    assert v.regressed_tags == {"critical": ["a"], "billing": ["e"]}
    assert v.to_json() == {
        "version": "1.1.1", "evidenceId": SERVING.evidence_id, "workflowDigest": "a" * 64,
        "compared": True, "cases": 5, "improved": ["b"], "regressed": ["a", "e"],
        "unchanged": 2, "unchangedPass": 1, "unchangedFail": 1, "pValue": 1.0}


def test_the_gates_name_the_regressed_cases_and_fail_closed() -> None:
    before = [result("a", True, critical=True), result("b", True, critical=True)]
    after = [result("a", False, critical=True), result("b", False, critical=True)]
    [gate] = no_regression_gates(["critical"], compare(SERVING, after, before, ["critical"]),
                                 "1.2.0")
    assert not gate.passed and gate.actual == ("cases a, b passed on serving v1.1.1 and fail "
                                               "on v1.2.0")
    [closed] = no_regression_gates(["critical"], Versus(SERVING, "digest mismatch"), "1.2.0")
    assert not closed.passed and closed.actual == "not compared: digest mismatch"
    [typo] = no_regression_gates(["billling"], compare(SERVING, after, before, ["billling"]),
                                 "1.2.0")
    assert not typo.passed and typo.actual == "no cases tagged billling"
    [nothing] = no_regression_gates(["critical"], None, "1.2.0")
    assert nothing.passed and nothing.actual == "nothing serving to compare with"
    assert no_regression_gates([], None, "1.2.0") == []


def test_the_pr_comment_shows_the_comparison() -> None:
    v = compare(SERVING, [result("x", True), result("y", False)],
                [result("x", False), result("y", True)], [])
    evidence = parse_evidence(_evidence(v.to_json()).encode())
    lines = "\n".join(versus_lines(evidence))
    assert f"**Versus serving v1.1.1 (`{SERVING.evidence_id}`)** on the same 2 cases" in lines
    assert "- improved: 1 (`x`)" in lines and "- regressed: 1 (`y`)" in lines
    assert lines in summary_markdown(evidence, "e.json")  # the PR comment's dry-run summary
    closed = parse_evidence(_evidence(Versus(SERVING, "its code | moved").to_json()).encode())
    assert versus_lines(closed)[0] == (f"**Not compared with serving v1.1.1 "
                                       f"(`{SERVING.evidence_id}`)**: its code \\| moved")


def _evidence(versus: dict[str, object]) -> str:
    import json

    return json.dumps({
        "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": "ev-2222222222222222",
        "priority": "acme/triage", "created": "2026-11-20T10:00:00Z", "passed": False,
        "fingerprint": {"spec": "1" * 64, "dataset": "2" * 64, "workflow": "3" * 64},
        "summary": {"cases": 2, "passed": 1, "failed": 1, "passRate": 0.5},
        "versusServing": versus})


def test_no_regression_on_is_in_the_spec_digest_only_when_set() -> None:
    """Evidence of specs that do not set it keeps its id (the example's committed evidence
    was written before the setting existed); setting it is a new spec."""
    import json

    from pipeline.documents.evidence import spec_digest
    from pipeline.documents.load import load_priority
    from tests.support import ROOT

    key = "helio-saas/ticket-triage"
    priority = load_priority(str(ROOT), key)
    [path] = (ROOT / "customers" / key / "evidence").glob("ev-*[0-9a-f].json")
    assert spec_digest(priority) == json.loads(path.read_text())["fingerprint"]["spec"]
    dump = priority.spec.model_dump(by_alias=True, mode="json")
    dump["dryRun"].setdefault("thresholds", {"passRate": 1.0})["noRegressionOn"] = ["critical"]
    after = priority.model_copy(update={"spec": type(priority.spec).model_validate(dump)})
    assert spec_digest(after) != spec_digest(priority)
