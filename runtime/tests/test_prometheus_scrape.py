"""A real Prometheus scrapes the runtime's /metrics, and ailoop's monitoring gate judges the
candidate on exactly those figures (the query the README gives for the error-rate gate).
A third runtime serves a stage with a segment: its request series carry segment="in"/"out",
and the gate's built-in queries at such a stage count the split inside the segment only
(out-of-segment traffic, all of it serving, is no false SRM). One Prometheus, one wait."""

from __future__ import annotations

import os
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
from ailoop_runtime import (
    FlagSource,
    Guard,
    Installed,
    Metrics,
    Runtime,
    workflow_digest,
)

from pipeline.model.priority import MonitoringGate
from pipeline.model.status import StatusBody
from pipeline.monitoring.prometheus import PrometheusSource
from pipeline.monitoring.promql import PrometheusClient
from pipeline.reconcile import flags

ERROR_RATE = ('sum(rate(ailoop_errors_total{priority="{{priority}}",variant="{{variant}}"}'
              '[15s])) / sum(rate(ailoop_requests_total{priority="{{priority}}",'
              'variant="{{variant}}"}[15s]))')


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SEGMENT = {"<": [0, {"var": "amount"}, 1000]}  # small claims


def _runtime(tmp: Path, name: str, metrics: Metrics, fails: bool,
             segment: dict[str, Any] | None = None) -> Runtime:
    folder = tmp / name
    folder.mkdir()
    (folder / "workflow.py").write_text(f"FAILS = {fails}\n")

    def run(request: dict[str, Any]) -> str:
        if fails and request["n"] % 2:
            raise RuntimeError("the candidate broke")
        return "ok"
    digest = workflow_digest(str(folder))
    now = datetime.now(UTC)
    body = StatusBody.model_validate({
        "serving": {"version": "1", "evidenceId": "ev-a", "workflowDigest": digest,
                    "since": now},
        "candidate": {"version": "2", "evidenceId": "ev-b", "workflowDigest": digest,
                      "since": now, "stage": "early", "percent": 50,
                      **({"segment": segment} if segment else {})}})
    path = tmp / f"{name}.flagd.json"
    path.write_text(flags.render(flags.customer_flags([(name, body)])))
    installed = Installed(run, str(folder))
    return Runtime(FlagSource(str(path)), f"acme/{name}", {"1": installed, "2": installed},
                   Guard({}, {}), metrics)


def test_prometheus_scrapes_the_runtime_and_the_gate_reads_it(tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        if os.environ.get("CI"):
            pytest.fail("the prometheus binary is not installed; .ci/run installs it")
        pytest.skip("the prometheus binary is not installed (apt-get install -y prometheus)")
    metrics = Metrics()
    exporter_port, prom_port = _port(), _port()
    server, _thread = metrics.serve(exporter_port)
    healthy = _runtime(tmp_path, "healthy", metrics, fails=False)
    broken = _runtime(tmp_path, "broken", metrics, fails=True)
    claims = _runtime(tmp_path, "claims", metrics, fails=False, segment=SEGMENT)
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
            for rt in (healthy, broken):
                try:
                    rt.handle({"n": n}, f"user-{n}")
                except RuntimeError:
                    pass
            # Half the claims are small (inside the segment), half are not.
            claims.handle({"n": n}, f"user-{n}", context={"amount": 500 if n % 2 else 5000})
            time.sleep(0.01)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        time.sleep(20)  # scrapes every second; rate() over 15s needs a few of them
        gate = MonitoringGate.model_validate({
            "name": "error rate", "metric": "error_rate", "query": ERROR_RATE,
            "comparison": "<=", "threshold": 0.02, "window": "10s", "minSamples": 3})
        with httpx.Client() as http:
            source = PrometheusSource(PrometheusClient(f"http://127.0.0.1:{prom_port}", http,
                                                       timeout_seconds=5),
                                      step=timedelta(seconds=1),
                                      max_staleness=timedelta(minutes=1))
            now = datetime.now(UTC)
            (good,) = source.readings("acme/healthy", "early", [gate], now)
            (bad,) = source.readings("acme/broken", "early", [gate], now)
            # The same gate with no PromQL at all: the runtime's own series are read.
            builtin = PrometheusSource(PrometheusClient(f"http://127.0.0.1:{prom_port}", http,
                                                        timeout_seconds=5),
                                       step=timedelta(seconds=5),
                                       max_staleness=timedelta(minutes=1))
            plain = gate.model_copy(update={"query": None, "window": timedelta(seconds=15),
                                            "min_samples": 20})
            (good_plain,) = builtin.readings("acme/healthy", "early", [plain], now)
            (bad_plain,) = builtin.readings("acme/broken", "early", [plain], now)
            split = MonitoringGate.model_validate({
                "name": "error rate", "metric": "error_rate", "comparison": "<=",
                "threshold": 0.02, "window": "15s", "minSamples": 20,
                "compare": {"maxDegradation": 0.1}})
            (inside,) = builtin.readings("acme/claims", "early", [split], now, "candidate",
                                         0.5, segmented=True)
            (everything,) = builtin.readings("acme/claims", "early", [split], now,
                                             "candidate", 0.5)
            out = http.get(f"http://127.0.0.1:{exporter_port}/metrics").text
    finally:
        stop.set()
        worker.join()
        proc.terminate()
        proc.wait(timeout=20)
        server.shutdown()
        healthy.close()
        broken.close()
        claims.close()
    assert good.verdict == "pass", good.reason
    assert bad.verdict == "fail", bad.reason
    assert good_plain.verdict == "pass", good_plain.reason
    assert bad_plain.verdict == "fail", bad_plain.reason
    assert 'segment="in"' in out and 'segment="out"' in out
    assert 'ailoop_requests_total{priority="acme/claims",segment="out",variant="candidate"}' \
        not in out  # outside the segment only the serving version serves
    assert inside.verdict == "pass", inside.reason
    assert everything.verdict == "fail" and "sample ratio mismatch" in everything.reason
