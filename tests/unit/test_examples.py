"""The bundled example repository: valid, realistic, and at the loop points the demo needs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline.documents.dataset import Case, read_dataset
from pipeline.documents.evidence import current_evidence, fingerprint
from pipeline.documents.layout import discover, expected_kinds
from pipeline.documents.load import load_document
from pipeline.documents.schemas import file_name
from pipeline.model.base import compare
from tests.support import ROOT, run_cli

PRIORITIES = ("northwind-insurance/claims-intake", "helio-saas/ticket-triage",
              "helio-saas/refund-requests")
HEADER = "# yaml-language-server: $schema="

Outcome = tuple[Case, str]  # the case and why it failed ("" when it passed)


def _spec(root: Path, key: str) -> Any:
    doc, findings = load_document(str(root), f"customers/{key}/priority.yaml")
    assert doc is not None, findings
    return doc.model.spec


def _priority(root: Path, key: str) -> Any:
    doc, findings = load_document(str(root), f"customers/{key}/priority.yaml")
    assert doc is not None, findings
    return doc.model


def _cases(root: Path, key: str) -> list[Case]:
    dataset = _spec(root, key).dry_run.dataset
    return read_dataset(str(root / "customers" / key / dataset), dataset)


def _load_workflow(folder: Path, file: str, function: str,
                   monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], Any]:
    # Contract 1: cwd is the priority folder and that folder is on sys.path.
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in the example
    name = f"example_{folder.parent.name}_{folder.name}_{Path(file).stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, folder / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function_object: Callable[[dict[str, Any]], Any] = getattr(module, function)
    return function_object


def _run(root: Path, key: str, monkeypatch: pytest.MonkeyPatch,
         file: str | None = None) -> list[Outcome]:
    """Run the workflow on every case; a case passes when its output satisfies the output
    schema and equals every expected field (what the field-equals assertions check)."""
    spec = _spec(root, key)
    entry_file, function = spec.workflow.entrypoint.split(":")
    workflow = _load_workflow(root / "customers" / key, file or entry_file, function,
                              monkeypatch)
    outcomes: list[Outcome] = []
    for case in _cases(root, key):
        try:
            output = workflow(dict(case.input))
            jsonschema.validate(output, spec.expected_output.schema_)
        except Exception as e:  # a crashing case fails; the test process goes on
            outcomes.append((case, type(e).__name__))
            continue
        wrong = [k for k, v in case.expected.items() if output.get(k) != v]
        outcomes.append((case, ", ".join(wrong)))
    return outcomes


def _rate(outcomes: list[Outcome], tag: str | None = None) -> float:
    chosen = [why for case, why in outcomes if tag is None or tag in case.tags]
    return sum(1 for why in chosen if not why) / len(chosen)


def _critical_failures(outcomes: list[Outcome]) -> list[str]:
    return [case.id for case, why in outcomes if case.critical and why]


def test_example_repository_validates_clean(example: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(example), "validate")
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("All ") and result.out.endswith(" files valid.\n")


def test_every_yaml_file_names_its_schema() -> None:
    documents = discover(str(ROOT))
    assert len(documents) >= 15
    for rel in documents:
        doc, findings = load_document(str(ROOT), rel)
        assert doc is not None, findings
        first = (ROOT / rel).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(HEADER), rel
        schema = first.removeprefix(HEADER)
        assert ((ROOT / rel).parent / schema).resolve() == ROOT / "schemas" / file_name(doc.kind)


def test_the_example_has_every_kind_of_document() -> None:
    kinds = {next(iter(expected_kinds(rel) or {"?"})) for rel in discover(str(ROOT))}
    assert {"Project", "Customer", "Priority", "Lessons", "Policy"} <= kinds
    events = {load_document(str(ROOT), rel)[0].kind  # type: ignore[union-attr]
              for rel in discover(str(ROOT)) if "/events/" in rel}
    assert events == {"Feedback", "Incident", "ReviewRequest"}


@pytest.mark.parametrize("key", PRIORITIES)
def test_datasets_are_large_and_cover_edge_cases(key: str) -> None:
    cases = _cases(ROOT, key)
    assert len(cases) >= 40
    tags = [t for case in cases for t in case.tags]
    assert tags.count("edge-case") >= 10
    assert {"de", "es", "fr"} <= set(tags)
    assert 3 <= sum(case.critical for case in cases) <= len(cases) // 4
    assert all(case.expected for case in cases)
    text = json.dumps([case.input for case in cases], ensure_ascii=False)
    for personal in ("DE89370400440532013000", "4111 1111 1111 1111"):
        assert personal in text  # the redaction detectors get something to find


def test_the_datasets_use_both_formats() -> None:
    formats = {_spec(ROOT, key).dry_run.dataset.rsplit(".", 1)[1] for key in PRIORITIES}
    assert formats == {"jsonl", "csv"}


@pytest.mark.parametrize("key", PRIORITIES)
def test_each_workflow_runs_and_fails_some_cases_for_real(
        key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = _run(ROOT, key, monkeypatch)
    failed = [why for _, why in outcomes if why]
    assert 0 < len(failed) < len(outcomes) / 2
    assert any(why not in ("TypeError", "KeyError") for why in failed)  # wrong answers too


def test_claims_intake_v1_passes_overall_but_fails_german_and_critical_cases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = _spec(ROOT, "northwind-insurance/claims-intake").dry_run.thresholds
    outcomes = _run(ROOT, "northwind-insurance/claims-intake", monkeypatch)
    assert _rate(outcomes) >= thresholds.pass_rate
    assert _rate(outcomes, "de") < thresholds.per_tag["de"]
    assert _rate(outcomes, "edge-case") >= thresholds.per_tag["edge-case"]
    assert _critical_failures(outcomes) == ["fnol-039", "fnol-040"]


def test_claims_intake_fix_passes_every_threshold(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # What the demo does: copy the fix over the entrypoint and rerun.
    folder = tmp_path / "customers" / "northwind-insurance" / "claims-intake"
    shutil.copytree(ROOT / "customers/northwind-insurance/claims-intake", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(folder / "fixes/workflow_v2.py", folder / "workflow.py")
    spec = _spec(ROOT, "northwind-insurance/claims-intake")
    outcomes = _run(tmp_path, "northwind-insurance/claims-intake", monkeypatch)
    assert _rate(outcomes) >= spec.dry_run.thresholds.pass_rate
    for tag, minimum in spec.dry_run.thresholds.per_tag.items():
        assert _rate(outcomes, tag) >= minimum, tag
    assert _critical_failures(outcomes) == []


def test_released_ticket_triage_passes_its_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = _spec(ROOT, "helio-saas/ticket-triage").dry_run.thresholds
    outcomes = _run(ROOT, "helio-saas/ticket-triage", monkeypatch)
    assert _rate(outcomes) >= thresholds.pass_rate
    assert _rate(outcomes, "edge-case") >= thresholds.per_tag["edge-case"]
    assert _critical_failures(outcomes) == []


def test_refund_drafts_leak_the_card_number_that_the_incident_reports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = _run(ROOT, "helio-saas/refund-requests", monkeypatch)
    assert _rate(outcomes) < 0.95  # blocked at shadow for good reasons
    spec = _spec(ROOT, "helio-saas/refund-requests")
    entry_file, function = spec.workflow.entrypoint.split(":")
    workflow = _load_workflow(ROOT / "customers/helio-saas/refund-requests", entry_file,
                              function, monkeypatch)
    card_case = next(c for c in _cases(ROOT, "helio-saas/refund-requests")
                     if "4111 1111 1111 1111" in c.input["message"])
    assert card_case.critical
    assert "4111 1111 1111 1111" in workflow(dict(card_case.input))["reply_draft"]


def test_the_example_holds_nothing_the_reconciler_writes() -> None:
    """status.yaml, flags, updates and monitoring incidents are written by the reconciler
    only, in signed bot commits: the example starts without them and the demo makes them."""
    written = [p.relative_to(ROOT).as_posix() for pattern in
               ("customers/*/*/status.yaml", "customers/*/flags.flagd.json",
                "customers/*/updates/*", "customers/*/*/events/ailoop-monitoring-*")
               for p in ROOT.glob(pattern)]
    assert written == []


def test_the_priorities_stand_at_different_points_of_the_loop() -> None:
    """claims-intake arrives by pull request in the demo; ticket-triage has passing evidence
    for its current inputs; refund-requests has an open incident."""
    assert not (ROOT / "customers/northwind-insurance/claims-intake/evidence").exists()
    fp = fingerprint(str(ROOT), "helio-saas/ticket-triage",
                     _priority(ROOT, "helio-saas/ticket-triage"))
    evidence = current_evidence(str(ROOT), "helio-saas/ticket-triage", fp)
    assert evidence is not None and evidence.passed
    incident, _ = load_document(str(ROOT),
                                "customers/helio-saas/refund-requests/events/INC-2026-0042.yaml")
    assert incident is not None and incident.model.spec.resolved is False


def test_monitoring_readings_cover_the_gates_of_live_priorities() -> None:
    lines = (ROOT / "monitoring/readings.jsonl").read_text().splitlines()
    readings = [json.loads(line) for line in lines]
    assert all(set(r) == {"priority", "metric", "time", "value", "samples", "variant"}
               for r in readings)
    assert {r["variant"] for r in readings} == {"new", "current"}
    for key in ("helio-saas/ticket-triage", "helio-saas/refund-requests"):
        gates = _spec(ROOT, key).monitoring.gates
        metrics = {r["metric"] for r in readings if r["priority"] == key}
        assert {g.metric for g in gates} == metrics
        for gate in gates:
            value, samples = _window(readings, key, gate.metric, gate.window)
            assert samples >= gate.min_samples, gate.metric
            assert compare(value, gate.comparison, gate.threshold), (gate.metric, value)


def _window(readings: list[dict[str, Any]], key: str, metric: str,
            window: timedelta) -> tuple[float, int]:
    """Sample-weighted value of the 'new' variant over the window ending at the last reading."""
    end = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    chosen = [r for r in readings if r["priority"] == key and r["metric"] == metric
              and r["variant"] == "new"
              and end - window < datetime.fromisoformat(r["time"]) <= end]
    samples = sum(r["samples"] for r in chosen)
    return sum(r["value"] * r["samples"] for r in chosen) / samples, samples
