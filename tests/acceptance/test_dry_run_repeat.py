"""`repeat: N`: every case runs N times through the real python provider; a case whose
runs disagree is flaky and, when critical, fails the run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.documents.evidence import fingerprint, load_evidence
from pipeline.documents.load import load_priority
from pipeline.trust.evidence_chain import statement_problem
from tests.acceptance.test_dry_run_cli import NOW, case, dry_run, write_priority

# One worker (concurrency 1) answers the runs in order, so a counter in the module makes
# the flaky case fail exactly its second run of every three: deterministic, no clock.
FLAKY_WF = '''
flaky_calls = 0

def run(inp):
    global flaky_calls
    if inp.get("flaky"):
        flaky_calls += 1
    if inp.get("flaky") and flaky_calls % 3 == 2:
        return {"label": "wrong"}
    return {"label": "a"}
'''


def repeat_priority(root: Path, cases: list[dict[str, object]], repeat: int | None) -> str:
    key = write_priority(root, "repeats", cases, wf=FLAKY_WF)
    path = root / "customers" / key / "priority.yaml"
    text = path.read_text().replace("  dryRun:\n", "  dryRun:\n    concurrency: 1\n")
    if repeat is not None:
        text = text.replace("  dryRun:\n", f"  dryRun:\n    repeat: {repeat}\n")
    path.write_text(text)
    return key


def flaky_cases() -> list[dict[str, object]]:
    return [case("crit-flaky", flaky=True), case("steady"), case("once")]


def evidence_of(root: Path, key: str, out: str) -> dict[str, object]:
    ev_id = next(w for w in out.split() if w.startswith("ev-"))
    data: dict[str, object] = json.loads(
        (root / f"customers/{key}/evidence/{ev_id}.json").read_text())
    return data


def test_a_flaky_critical_case_fails_the_run(example: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    key = repeat_priority(example, flaky_cases(), repeat=3)
    summary = example / "summary.md"
    junit = example / "junit.xml"
    result = dry_run(capsys, example, key, "--now", NOW, "--no-cache",
                     "--markdown", str(summary), "--junit", str(junit))
    assert result.code == 1, result.out + result.err
    evidence = evidence_of(example, key, result.out)
    cases = {c["id"]: c for c in evidence["cases"]}  # type: ignore[attr-defined]
    assert cases["crit-flaky"]["runs"] == {"total": 3, "passed": 2}
    assert cases["crit-flaky"]["flaky"] is True and not cases["crit-flaky"]["passed"]
    assert cases["steady"]["runs"] == {"total": 3, "passed": 3} and "flaky" not in cases["steady"]
    gates = {g["name"]: g for g in evidence["thresholds"]}  # type: ignore[attr-defined]
    assert gates["critical cases"]["passed"] is False
    assert gates["critical cases"]["actual"] == "1 failing: crit-flaky (flaky, 2 of 3 runs)"
    assert gates["pass rate"]["repeat"] == {
        "cases": 3, "runs": 9, "passedRuns": 8, "meanPassRate": 0.888889, "passAtK": 1.0,
        "passAllK": 0.666667, "ci95": {"low": 0.565, "high": 0.980109},
        "flaky": ["crit-flaky"]}
    assert evidence["summary"]["repeat"]["flaky"] == ["crit-flaky"]  # type: ignore[index]
    assert "flaky: crit-flaky (2 of 3 runs passed)" in result.out
    assert f"dry-run {key}: 9/9 runs (1 failed)" in result.err  # runs, not cases
    assert ("         every run 66.7%, any run 100.0%, mean 88.9% "
            "(95% CI 56.5% to 98.0% over 9 runs)") in result.out
    statement = json.loads((example / f"customers/{key}/evidence/"
                            f"{evidence['id']}.intoto.json").read_text())
    assert statement["predicate"]["failedTests"] == ["crit-flaky"]
    assert statement["predicate"]["passedTests"] == ["steady", "once"]
    rel = f"customers/{key}/evidence/{evidence['id']}.json"
    model = load_evidence(str(example), rel)
    assert statement_problem(statement, model, rel) == ""  # one entry per case, not per run
    assert [c.id for c in model.cases if c.flaky] == ["crit-flaky"]
    markdown = summary.read_text()
    assert ("- 9 runs of 3 cases: every run 66.7%, any run 100.0%, mean 88.9% "
            "(95% CI 56.5% to 98.0%)") in markdown
    assert "- flaky: `crit-flaky` (2 of 3 runs passed)" in markdown
    failure = ET.parse(junit).find(".//testcase[@name='crit-flaky']/failure")
    assert failure is not None
    assert failure.get("message") == (
        'flaky (2 of 3 runs passed): field-equals:label: label: expected "a", got "wrong"')


def test_a_case_may_ask_for_its_own_repeat(example: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cases = flaky_cases()
    cases[0]["repeat"] = 3
    key = repeat_priority(example, cases, repeat=None)
    result = dry_run(capsys, example, key, "--now", NOW, "--no-cache")
    evidence = evidence_of(example, key, result.out)
    runs = {c["id"]: c.get("runs") for c in evidence["cases"]}  # type: ignore[attr-defined]
    assert runs == {"crit-flaky": {"total": 3, "passed": 2}, "steady": None, "once": None}
    assert result.code == 1


def test_repeat_one_keeps_the_evidence_id(example: Path) -> None:
    key = repeat_priority(example, flaky_cases(), repeat=None)
    before = fingerprint(str(example), key, load_priority(str(example), key)).evidence_id
    path = example / "customers" / key / "priority.yaml"
    path.write_text(path.read_text().replace("  dryRun:\n", "  dryRun:\n    repeat: 1\n"))
    assert fingerprint(str(example), key, load_priority(str(example), key)).evidence_id == before
    path.write_text(path.read_text().replace("repeat: 1", "repeat: 3"))
    assert fingerprint(str(example), key, load_priority(str(example), key)).evidence_id != before


def test_each_repetition_is_cached_apart(example: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    key = repeat_priority(example, flaky_cases(), repeat=3)
    first = dry_run(capsys, example, key, "--now", NOW)
    again = dry_run(capsys, example, key, "--now", NOW)
    # every run comes back as it ran: the flaky run stays flaky, not three copies of one
    assert "reused from cache 9" in again.out
    assert evidence_of(example, key, again.out)["cases"] == \
        evidence_of(example, key, first.out)["cases"]
