from __future__ import annotations

from pipeline.dryrun.assertions import Check
from pipeline.dryrun.diff import diff_runs
from pipeline.dryrun.repeat import combine
from pipeline.dryrun.results import CaseResult
from pipeline.dryrun.thresholds import class_metrics, criteria_gates, threshold_gates
from pipeline.model.priority import SuccessCriterion, Thresholds


def result(id: str, passed: bool, tags: tuple[str, ...] = (), critical: bool = False,
           fault: str = "") -> CaseResult:
    checks = (Check("field-equals:kind", passed),)
    return CaseResult(id=id, tags=tags, critical=critical, passed=passed, output=None,
                      fault=fault, checks=() if fault else checks)


RESULTS = [result("a", True, ("de",)), result("b", False, ("de",), critical=True),
           result("c", True), result("d", False, fault="timeout")]


def test_threshold_gates() -> None:
    gates = threshold_gates(RESULTS, Thresholds(pass_rate=0.5, per_tag={"de": 0.6, "fr": 0.5}))
    assert [(g.name, g.actual, g.passed) for g in gates] == [
        ("pass rate", "50.0%", True),
        ("pass rate [de]", "50.0% of 2", False),
        ("pass rate [fr]", "no cases", False),
        ("critical cases", "1 failing: b", False),
    ]


def test_no_thresholds_means_everything_must_pass() -> None:
    assert not threshold_gates(RESULTS, None)[0].passed
    assert threshold_gates(RESULTS[:1], None)[0].passed


def test_success_criteria_measured_in_dry_run() -> None:
    criteria = [
        SuccessCriterion(metric="kind_accuracy", comparison=">=", threshold=0.5,
                         measured_in="dry-run"),
        SuccessCriterion(metric="error_rate", comparison="<=", threshold=0.1,
                         measured_in="dry-run"),
        SuccessCriterion(metric="nps", comparison=">=", threshold=1, measured_in="dry-run"),
        SuccessCriterion(metric="x", comparison=">=", threshold=1, measured_in="production"),
    ]
    gates = criteria_gates(RESULTS, criteria, ["field-equals:kind"])
    assert [(g.name, g.actual, g.passed) for g in gates] == [
        ("kind_accuracy", "0.5", True),
        ("error_rate", "0.25", False),
        ("nps", "not measured in a dry run", False),
    ]


def test_recall_and_precision_per_label() -> None:
    pairs = [({"p": "p1"}, {"p": "p1"}), ({"p": "p1"}, {"p": "p2"}), ({"p": "p2"}, {"p": "p1"})]
    metrics = class_metrics(pairs)
    assert metrics["p1_recall"] == 0.5
    assert metrics["p1_precision"] == 0.5
    assert metrics["p2_recall"] == 0.0


def test_diff_runs() -> None:
    before = {"a": True, "b": False, "c": False, "gone": True}
    after = {"a": False, "b": True, "c": False, "new": False}
    diff = diff_runs("ev-1", before, after)
    # a case new in this run is added, never "newly failing" (it never passed before)
    assert (diff.newly_failing, diff.fixed, diff.still_failing) == (["a"], ["b"], ["c"])
    assert (diff.added, diff.removed) == (["new"], ["gone"])
    assert diff.headline() == ("compared with ev-1: 1 newly failing, 1 fixed, 1 still "
                               "failing, 1 added, 1 removed")


def test_gates_count_every_run_and_a_flaky_critical_case_fails() -> None:
    flaky = combine([result("a", True, ("de",), critical=True),
                     result("a", False, ("de",), critical=True)])
    steady = combine([result("b", True, ("de",))] * 2)
    gates = {g.name: g for g in threshold_gates([flaky, steady], Thresholds(
        pass_rate=0.5, per_tag={"de": 0.5}))}
    assert gates["pass rate"].passed and gates["pass rate"].value == 0.5
    assert gates["pass rate [de]"].repeat is not None
    assert gates["pass rate [de]"].repeat.pass_at_k == 1.0
    assert gates["pass rate [de]"].repeat.flaky == ("a",)
    assert not gates["critical cases"].passed
    assert gates["critical cases"].actual == "1 failing: a (flaky, 1 of 2 runs)"
    measured = {g.name: g.value for g in criteria_gates(
        [flaky, steady], [SuccessCriterion(metric="flaky_cases", comparison="<=", threshold=0,
                                           measured_in="dry-run")], [])}
    assert measured == {"flaky_cases": 1.0}


def test_one_run_per_case_adds_no_repeat_statistics() -> None:
    assert all(g.repeat is None for g in threshold_gates(RESULTS, None))
