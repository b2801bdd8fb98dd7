"""A real Prometheus scrapes a runtime serving a stage with a segment: the request series
carry segment="in"/"out", and the gate's built-in queries at such a stage count the split
inside the segment only (out-of-segment traffic, all of it serving, is no false SRM)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from ailoop_runtime import FlagSource, Guard, Installed, Metrics, Runtime, workflow_digest

from pipeline.model.priority import MonitoringGate
from pipeline.model.status import StatusBody
from pipeline.monitoring.prometheus import PrometheusSource
from pipeline.monitoring.promql import PrometheusClient
from pipeline.reconcile import flags


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runtime(tmp: Path, metrics: Metrics) -> Runtime:
    folder = tmp / "claims"
    folder.mkdir()
    (folder / "workflow.py").write_text("OK = True\n")

    def run(request: dict[str, Any]) -> str:
        return "ok"
    digest = workflow_digest(str(folder))
    now = datetime.now(UTC)
    body = StatusBody.model_validate({
        "serving": {"version": "1", "evidenceId": "ev-a", "workflowDigest": digest,
                    "since": now},
        "candidate": {"version": "2", "evidenceId": "ev-b", "workflowDigest": digest,
                      "since": now, "stage": "early", "percent": 50,
                      "segment": {"<": [0, {"var": "amount"}, 1000]}}})
    path = tmp / "flags.flagd.json"
    path.write_text(flags.render(flags.customer_flags([("claims", body)])))
    installed = Installed(run, str(folder))
    return Runtime(FlagSource(str(path)), "acme/claims", {"1": installed, "2": installed},
                   Guard({}, {}), metrics)


def test_the_srm_gate_counts_inside_the_segment_from_prometheus(tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("the prometheus binary is not installed (apt-get install -y prometheus)")
    metrics = Metrics()
    exporter_port, prom_port = _port(), _port()
    server, _thread = metrics.serve(exporter_port)
    rt = _runtime(tmp_path, metrics)
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: runtime\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n")
    proc = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()

    def traffic() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            # Half the claims are small (inside the segment), half are not.
            rt.handle({"n": n}, f"user-{n}", context={"amount": 500 if n % 2 else 5000})
            time.sleep(0.005)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        time.sleep(20)
        gate = MonitoringGate.model_validate({
            "name": "error rate", "metric": "error_rate", "comparison": "<=",
            "threshold": 0.02, "window": "15s", "minSamples": 20,
            "compare": {"maxDegradation": 0.1}})
        with httpx.Client() as http:
            source = PrometheusSource(PrometheusClient(f"http://127.0.0.1:{prom_port}", http,
                                                       timeout_seconds=5),
                                      step=timedelta(seconds=5),
                                      max_staleness=timedelta(minutes=1))
            now = datetime.now(UTC)
            (inside,) = source.readings("acme/claims", "early", [gate], now, "candidate", 0.5,
                                        segmented=True)
            (everything,) = source.readings("acme/claims", "early", [gate], now, "candidate",
                                            0.5)
            out = http.get(f"http://127.0.0.1:{exporter_port}/metrics").text
    finally:
        stop.set()
        worker.join()
        proc.terminate()
        proc.wait(timeout=20)
        server.shutdown()
        rt.close()
    assert 'segment="in"' in out and 'segment="out"' in out
    assert 'ailoop_requests_total{priority="acme/claims",segment="out",variant="candidate"}' \
        not in out  # outside the segment only the serving version serves
    assert inside.verdict == "pass", inside.reason
    assert everything.verdict == "fail" and "sample ratio mismatch" in everything.reason
