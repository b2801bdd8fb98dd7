"""The JSONL provider judges through the shared gate rules (NaN holds; compare works)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.model.priority import MonitoringGate
from pipeline.monitoring.file import JsonlMonitoring

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GATE = MonitoringGate.model_validate({
    "metric": "error_rate", "comparison": "<=", "threshold": 0.05, "window": "1h",
    "minSamples": 200, "compare": {"maxDegradation": 0.1}})


def write(path: Path, new: float | str, current: float) -> JsonlMonitoring:
    lines = []
    for minute in range(0, 60, 5):
        when = (NOW - timedelta(minutes=minute)).isoformat()
        for variant, value in (("new", new), ("current", current)):
            lines.append(json.dumps({"priority": "acme/triage", "metric": "error_rate",
                                     "time": when, "value": value, "samples": 500,
                                     "variant": variant}))
    path.write_text("\n".join(lines) + "\n")
    return JsonlMonitoring(str(path), timedelta(minutes=15))


def test_nan_holds_instead_of_failing(tmp_path: Path) -> None:
    source = write(tmp_path / "r.jsonl", float("nan"), 0.01)
    (reading,) = source.readings("acme/triage", "canary", [GATE], NOW)
    assert reading.verdict == "inconclusive"
    assert reading.reason.startswith("error_rate is nan at ")


def test_canary_comparison_from_the_file(tmp_path: Path) -> None:
    source = write(tmp_path / "r.jsonl", 0.03, 0.01)
    (reading,) = source.readings("acme/triage", "canary", [GATE], NOW)
    assert reading.verdict == "fail"
    assert reading.reason.startswith("error_rate 0.03 <= 0.05 over 1h (6000 samples); new 0.03 "
                                     "vs current 0.01 (two-proportion): 200.0% worse")
    healthy = write(tmp_path / "h.jsonl", 0.01, 0.01)
    assert healthy.readings("acme/triage", "canary", [GATE], NOW)[0].verdict == "pass"


def _with_bad_lines(path: Path, good: int, bad: int) -> JsonlMonitoring:
    lines = [json.dumps({"priority": "acme/triage", "metric": "error_rate",
                         "time": (NOW - timedelta(minutes=i % 50)).isoformat(),
                         "value": 0.01, "samples": 50, "variant": "candidate"})
             for i in range(good)]
    lines[3:3] = ['{"priority": "acme/triage", "metric": "error_rate", "val'] * bad
    path.write_text("\n".join(lines) + "\n")
    return JsonlMonitoring(str(path), timedelta(minutes=15))


def test_a_few_unreadable_lines_are_counted_in_every_reading(tmp_path: Path) -> None:
    gate = GATE.model_copy(update={"compare": None})
    (reading,) = _with_bad_lines(tmp_path / "r.jsonl", 400, 2).readings(
        "acme/triage", "canary", [gate], NOW)
    assert reading.verdict == "pass"
    assert reading.reason.endswith("(2 unreadable line(s) of r.jsonl skipped, first: line 4)")


def test_too_many_unreadable_lines_make_every_gate_inconclusive(tmp_path: Path) -> None:
    gate = GATE.model_copy(update={"compare": None})
    (reading,) = _with_bad_lines(tmp_path / "r.jsonl", 400, 5).readings(
        "acme/triage", "canary", [gate], NOW)
    assert reading.verdict == "inconclusive"
    assert reading.reason == ("r.jsonl: 5 of 405 lines are unreadable (first: line 4), more "
                              "than 1%: its readings are not trusted")
