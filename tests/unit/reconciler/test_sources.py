"""The first providers: JSONL monitoring readings and approval files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipeline.approvals.files import FileApprovals
from pipeline.model.priority import MonitoringGate
from pipeline.monitoring.file import JsonlMonitoring
from tests.unit.reconciler.builders import KEY, T0, approve, make_tree, reading

GATE = MonitoringGate.model_validate({"name": "error rate", "metric": "error_rate",
                                      "comparison": "<=", "threshold": 0.02, "window": "1h",
                                      "minSamples": 100})


def judge(tmp_path: Path, lines: list[str], now_minutes: int = 0) -> tuple[str, str]:
    path = tmp_path / "readings.jsonl"
    path.write_text("".join(lines))  # unreadable lines: tests/unit/monitoring
    source = JsonlMonitoring(str(path), timedelta(minutes=15))
    (r,) = source.readings(KEY, "canary", [GATE], T0 + timedelta(minutes=now_minutes))
    return r.verdict, r.reason


def test_monitoring_verdicts(tmp_path: Path) -> None:
    assert judge(tmp_path, [reading(KEY, T0, 0.01, 60), reading(KEY, T0, 0.01, 60)]) == \
        ("pass", "error_rate 0.01 <= 0.02 over 1h (120 samples)")
    assert judge(tmp_path, [reading(KEY, T0, 0.05, 200)]) == \
        ("fail", "error_rate 0.05 > 0.02 over 1h (200 samples)")
    assert judge(tmp_path, [reading(KEY, T0, 0.01, 50)]) == \
        ("inconclusive", "error_rate has 50 of 100 samples in the last 1h")
    assert judge(tmp_path, [reading(KEY, T0, 0.01, 500)], 30) == \
        ("inconclusive", "error_rate readings are stale (newest 2026-11-20T09:00:00Z, "
                         "older than 15m)")
    assert judge(tmp_path, [reading("other/p", T0, 0.01, 500)]) == \
        ("inconclusive", "no error_rate readings in the last 1h")


def test_file_approvals_check_people_and_roles(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    ev = "ev-0123456789abcdef"
    approve(root, KEY, "canary", ev)
    approve(root, KEY, "full", ev, roles=("risk-officer",))
    (root / "customers/acme/triage/approvals/bad.yaml").write_text("kind: [\n")
    wrong = root / "customers/acme/triage/approvals/wrong.yaml"
    wrong.write_text((root / "customers/acme/triage/approvals/canary-rick-" f"{ev}.yaml")
                     .read_text().replace("role: risk-officer", "role: customer-owner"))
    found = FileApprovals(str(root)).approvals(KEY)
    valid = sorted((a.stage, a.role, a.person) for a in found if a.valid)
    assert valid == [("canary", "customer-reviewer", "rita"), ("canary", "risk-officer", "rick"),
                     ("full", "risk-officer", "rick")]
    reasons = sorted(a.reason.split(":")[0] for a in found if not a.valid)
    assert reasons == ["'rick' does not hold the role customer-owner in customer.yaml",
                       "customers/acme/triage/approvals/bad.yaml"]
