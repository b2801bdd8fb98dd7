"""A real Prometheus on 127.0.0.1, loaded with metric history by promtool backfilling.

Everything is started here, never as a system service: a free port, a temporary config and
data folder; the process is stopped at teardown. The history is generated relative to a
fixed evaluation time NOW (the tests pass it as `time=`/`end=`), so results never depend on
the wall clock.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support import missing

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HISTORY_MINUTES = 120
INSTALL = "apt-get install -y prometheus"


@dataclass(frozen=True)
class Canary:
    """Per-minute aggregates of one priority's two variants."""

    priority: str
    error_new: float
    error_current: float
    requests: int
    latency_new: float
    latency_current: float
    ends_minutes_before_now: int = 0
    nan_last_minutes: int = 0
    candidate_requests: int = 0  # requests of the candidate per minute (0: `requests`)


CANARIES = (
    Canary("acme/healthy", 0.010, 0.011, 200, 0.80, 0.80),
    Canary("acme/degraded", 0.030, 0.010, 200, 1.50, 0.80),
    Canary("acme/sparse", 0.010, 0.010, 2, 0.80, 0.80),
    Canary("acme/stale", 0.010, 0.010, 200, 0.80, 0.80, ends_minutes_before_now=40),
    Canary("acme/nan", 0.010, 0.010, 200, 0.80, 0.80, nan_last_minutes=3),
    # Series that stop 4, 16 and 19 minutes before NOW: fresh, and stale by the 15m limit
    # although Prometheus' 5m look-back still shows the last two within it.
    Canary("acme/ends4", 0.010, 0.010, 200, 0.80, 0.80, ends_minutes_before_now=4),
    Canary("acme/ends16", 0.010, 0.010, 200, 0.80, 0.80, ends_minutes_before_now=16),
    Canary("acme/ends19", 0.010, 0.010, 200, 0.80, 0.80, ends_minutes_before_now=19),
    # A canary at 5% as the flag splits it: about 11 of every 211 requests.
    Canary("acme/healthy-at-5pct", 0.010, 0.011, 200, 0.80, 0.80, candidate_requests=11),
    Canary("acme/degraded-at-5pct", 0.040, 0.010, 200, 1.50, 0.80, candidate_requests=11),
)


def _value(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(v)


def _family(name: str, rows: list[tuple[str, float, int]]) -> list[str]:
    return [f"# TYPE {name} gauge", *(f"{name}{{{labels}}} {_value(v)} {t}"
                                      for labels, v, t in rows)]


def _minutes(canary: Canary) -> range:
    return range(-HISTORY_MINUTES, 1 - canary.ends_minutes_before_now)


def openmetrics(canaries: tuple[Canary, ...] = CANARIES) -> str:
    now = int(NOW.timestamp())
    errors: list[tuple[str, float, int]] = []
    requests: list[tuple[str, float, int]] = []
    latency: list[tuple[str, float, int]] = []
    for c in canaries:
        for variant, error, lat in (("candidate", c.error_new, c.latency_new),
                                    ("serving", c.error_current, c.latency_current)):
            labels = f'priority="{c.priority}",variant="{variant}"'
            for i in _minutes(c):
                broken = variant == "candidate" and i > -c.nan_last_minutes
                errors.append((labels, math.nan if broken else error, now + 60 * i))
                count = c.candidate_requests if variant == "candidate" and \
                    c.candidate_requests else c.requests
                requests.append((labels, count, now + 60 * i))
                # Deterministic jitter so Mann-Whitney sees spread (and a few ties).
                wobble = 0.05 * math.sin(i * (1.3 if variant == "candidate" else 0.7))
                latency.append((labels, round(lat + wobble, 3), now + 60 * i))
    lines = [*_family("ailoop_error_rate", errors), *_family("ailoop_requests", requests),
             *_family("ailoop_latency_p95_seconds", latency), "# EOF"]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningPrometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        missing(f"the prometheus and promtool binaries are not installed ({INSTALL})")
    return prometheus, promtool


def start_prometheus(workdir: Path, history: str) -> RunningPrometheus:
    prometheus, promtool = binaries()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    source = workdir / "history.om"
    source.write_text(history)
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source),
                    str(data)], check=True, capture_output=True, timeout=120)
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
            stdout=out, stderr=subprocess.STDOUT)
    running = RunningPrometheus(f"http://127.0.0.1:{port}", process, log)
    _wait_ready(running)
    return running


def _wait_ready(running: RunningPrometheus) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            break
        try:
            if httpx.get(f"{running.url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    running.stop()
    raise RuntimeError(f"Prometheus did not become ready; see {running.log}")


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    running = start_prometheus(tmp_path_factory.mktemp("prometheus"), openmetrics())
    try:
        yield running
    finally:
        running.stop()
