"""The reconciler gated by a real Prometheus: a healthy canary advances, a degraded one rolls
back, and with Prometheus stopped nothing is promoted and the run exits 3."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.integration.prometheus_fixture import (
    NOW,
    RunningPrometheus,
    openmetrics,
    start_prometheus,
)
from tests.support import committed_by_bot, run_cli
from tests.unit.reconciler.builders import approve_all, iso, make_tree, write_evidence

GATES = """\
    gates:
      - name: error rate
        metric: error_rate
        query: 'ailoop_error_rate{priority="{{priority}}-at-5pct",variant="{{variant}}"}'
        samplesQuery: 'ailoop_requests{priority="{{priority}}-at-5pct",variant="{{variant}}"}'
        comparison: "<="
        threshold: 0.05
        window: 1h
        minSamples: 200
        compare:
          maxDegradation: 0.1
          confidence: 0.95
"""

STATUS = """\
apiVersion: ailoop.dev/v1
kind: Status
metadata:
  name: {name}
status:
  phase: progressing
  candidate:
    version: 1.0.0
    evidenceId: {ev}
    stage: canary
    percent: 5
    since: {since}
    entered: {since}
"""


def tree(root: Path, url: str) -> Path:
    make_tree(root, ("healthy", "degraded"))
    project = root / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        "    provider: file\n    file:\n      path: monitoring/readings.jsonl\n",
        f"    provider: prometheus\n    prometheus:\n      url: {url}\n"))
    for name in ("healthy", "degraded"):
        spec = root / "customers" / "acme" / name / "priority.yaml"
        text = spec.read_text()
        start = text.index("    gates:\n")
        end = text.index("  review:") if "  review:" in text else len(text)
        spec.write_text(text[:start] + GATES + text[end:])
        ev = write_evidence(root, f"acme/{name}")
        approve_all(root, f"acme/{name}", ev)
        (root / "customers" / "acme" / name / "status.yaml").write_text(
            STATUS.format(name=name, since=iso(NOW - timedelta(hours=3)), ev=ev))
    return committed_by_bot(root)


def status(root: Path, name: str) -> str:
    return (root / "customers" / "acme" / name / "status.yaml").read_text()


def test_healthy_advances_and_degraded_rolls_back(prometheus: RunningPrometheus,
                                                 tmp_path: Path, capsys: object) -> None:
    root = tree(tmp_path / "repo", prometheus.url)
    result = run_cli(capsys, "-C", str(root), "reconcile", "--now", iso(NOW))
    assert result.code == 0, result.err
    assert "promote acme/healthy to early (25%)" in result.out
    assert "roll back acme/degraded to shadow (0%)" in result.out
    assert "stage: early" in status(root, "healthy")
    assert "stage: shadow" in status(root, "degraded")


def test_prometheus_down_holds_everything_and_exits_3(tmp_path: Path, capsys: object) -> None:
    running = start_prometheus(tmp_path / "prom", openmetrics())  # skips without the binary
    root = tree(tmp_path / "repo", running.url)
    running.stop()
    before = status(root, "healthy")
    result = run_cli(capsys, "-C", str(root), "reconcile", "--now", iso(NOW))
    assert result.code == 3
    assert "promote" not in result.out
    assert "error: acme/healthy: holds at canary 5%: monitoring unavailable" in result.err
    assert status(root, "healthy").split("history:")[0].count("stage: canary") == 1
    assert before == status(root, "healthy")  # held: nothing written
