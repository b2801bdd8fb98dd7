from __future__ import annotations

import json
from pathlib import Path

from pipeline.documents.evidence import (
    Fingerprint,
    current_evidence,
    evidence_id_of,
    fingerprint,
    read_evidence_with_problems,
    workflow_files,
)
from pipeline.documents.load import load_document

KEY = "northwind-insurance/claims-intake"


def _fp(example: Path) -> Fingerprint:
    doc, _ = load_document(str(example), f"customers/{KEY}/priority.yaml")
    return fingerprint(str(example), KEY, doc.model)  # type: ignore[union-attr]


def test_rollout_changes_keep_the_id_workflow_changes_do_not(example: Path) -> None:
    before = _fp(example)
    assert before.evidence_id == evidence_id_of(before.spec, before.dataset, before.workflow)
    assert before.evidence_id.startswith("ev-") and len(before.evidence_id) == 19
    priority = example / "customers" / KEY / "priority.yaml"
    priority.write_text(priority.read_text().replace("target: canary", "target: early"))
    assert _fp(example) == before
    (example / "customers" / KEY / "helper.py").write_text("X = 1\n")
    assert _fp(example).workflow != before.workflow
    assert _fp(example).spec == before.spec


def test_workflow_files_skip_evidence_events_and_caches(tmp_path: Path) -> None:
    for rel in ("a.py", "sub/b.py", "evidence/x.py", "events/y.py", "__pycache__/c.py",
                "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert workflow_files(str(tmp_path)) == ["a.py", "sub/b.py"]


def _write(folder: Path, name: str, data: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))


def test_invalid_evidence_is_skipped_with_a_reason(example: Path) -> None:
    fp = _fp(example)
    folder = example / "customers" / KEY / "evidence"
    good = {"apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
            "priority": KEY, "created": "2026-11-20T10:00:00Z", "passed": True,
            "fingerprint": fp.as_dict(), "summary": {"cases": 3, "failed": 0, "passRate": 1}}
    _write(folder, f"{fp.evidence_id}.json", good)
    forged = {**good, "fingerprint": {**fp.as_dict(), "dataset": "0" * 64}}
    _write(folder, "ev-aaaaaaaaaaaaaaaa.json", forged)
    (folder / "ev-bbbbbbbbbbbbbbbb.json").write_text("{not json")
    _write(folder, "ev-cccccccccccccccc.json", {**good, "priority": "other/p"})
    found, problems = read_evidence_with_problems(str(example), KEY)
    assert [s.evidence_id for s in found] == [fp.evidence_id]
    assert found[0].cases == 3 and found[0].passed
    assert [p.split(": ", 1)[1] for p in problems] == [
        "id does not match its fingerprint or its file name",
        "evidence is not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))",
        "id does not match its fingerprint or its file name",
    ]
    assert current_evidence(str(example), KEY, fp) == found[0]
    other = Fingerprint(fp.spec, fp.dataset, "1" * 64)
    assert current_evidence(str(example), KEY, other) is None


def test_every_field_a_reader_needs_is_checked_against_the_model(example: Path) -> None:
    fp = _fp(example)
    folder = example / "customers" / KEY / "evidence"
    good = {"apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
            "priority": KEY, "created": "2026-11-20T10:00:00Z", "passed": True,
            "fingerprint": fp.as_dict(), "summary": {"cases": 3, "failed": 0, "passRate": 1}}
    rel = f"customers/{KEY}/evidence/{fp.evidence_id}.json"
    for broken, message in [
        ({**good, "passed": "true"}, "passed: Input should be a valid boolean"),
        ({**good, "summary": {"cases": 3, "failed": 0}}, "summary.passRate: is required"),
        ({**good, "summary": {**good["summary"], "passRate": 2}},  # type: ignore[dict-item]
         "summary.passRate: Input should be less than or equal to 1"),
        ({**good, "created": "2026-11-20T10:00:00"}, "created: Input should have timezone info"),
        ({**good, "cases": [{"id": "c1"}]}, "cases.0.passed: is required"),
        ({**good, "kind": "Status"},
         "not evidence (apiVersion must be ailoop.dev/v1, kind Evidence)"),
    ]:
        _write(folder, f"{fp.evidence_id}.json", broken)
        found, problems = read_evidence_with_problems(str(example), KEY)
        assert (found, problems) == ([], [f"{rel}: {message}"])


def test_repeat_fields_are_optional_and_checked(example: Path) -> None:
    fp = _fp(example)
    folder = example / "customers" / KEY / "evidence"
    stats = {"cases": 2, "runs": 6, "passedRuns": 5, "meanPassRate": 0.833333,
             "passAtK": 1.0, "passAllK": 0.5, "ci95": {"low": 0.436, "high": 0.97},
             "flaky": ["c1"]}
    good = {"apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
            "priority": KEY, "created": "2026-11-20T10:00:00Z", "passed": False,
            "fingerprint": fp.as_dict(),
            "summary": {"cases": 2, "failed": 1, "passRate": 0.5, "repeat": stats},
            "thresholds": [{"name": "pass rate", "required": ">= 100.0%", "actual": "50.0%",
                            "passed": False, "repeat": stats}],
            "cases": [{"id": "c1", "passed": False, "runs": {"total": 3, "passed": 2},
                       "flaky": True}, {"id": "c2", "passed": True}]}
    _write(folder, f"{fp.evidence_id}.json", good)
    found, problems = read_evidence_with_problems(str(example), KEY)
    assert problems == [] and [s.evidence_id for s in found] == [fp.evidence_id]
    broken = {**good, "summary": {**good["summary"],  # type: ignore[dict-item]
                                  "repeat": {**stats, "ci95": {"low": -0.1, "high": 1}}}}
    _write(folder, f"{fp.evidence_id}.json", broken)
    _, problems = read_evidence_with_problems(str(example), KEY)
    assert problems == [f"customers/{KEY}/evidence/{fp.evidence_id}.json: "
                        "summary.repeat.ci95.low: Input should be greater than or equal to 0"]
