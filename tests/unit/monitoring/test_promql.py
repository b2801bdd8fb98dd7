"""The Prometheus client against a local HTTP server that answers badly on purpose."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pipeline.errors import ExternalError
from pipeline.model.priority import MonitoringGate
from pipeline.monitoring.prometheus import PrometheusSource
from pipeline.monitoring.promql import (
    Point,
    PrometheusClient,
    PrometheusError,
    Series,
    promql_duration,
    render,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ANSWERS: dict[str, tuple[int, bytes]] = {
    "html": (200, b"<html>proxy login</html>"),
    "shape": (200, json.dumps({"status": "success", "data": {
        "resultType": "matrix", "result": [{"metric": {}, "values": "x"}]}}).encode()),
    "number": (200, json.dumps({"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {}, "value": [1, 0.5]}]}}).encode()),
    "type": (200, json.dumps({"status": "success", "data": {
        "resultType": "streams", "result": []}}).encode()),
    "error": (422, json.dumps({"status": "error", "errorType": "execution",
                               "error": "query timed out"}).encode()),
    "ok": (200, json.dumps({"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {"a": "b"},
                                            "value": [1748779200, "NaN"]}]}}).encode()),
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = httpx.QueryParams(self.rfile.read(length).decode())
        status, body = ANSWERS[form["query"]]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client(server: str) -> Iterator[PrometheusClient]:
    with httpx.Client() as http:
        yield PrometheusClient(server, http, timeout_seconds=5)


@pytest.mark.parametrize(("query", "message"), [
    ("html", "sent a malformed response (HTTP 200, not a Prometheus API answer)"),
    ("shape", "sent a malformed response (unexpected result shape)"),
    ("number", "sent a malformed response (unexpected result shape)"),
    ("type", "sent a malformed response (unexpected result shape)"),
    ("error", "refused the query (execution): query timed out"),
])
def test_bad_answers_raise_external_errors(client: PrometheusClient, server: str, query: str,
                                           message: str) -> None:
    with pytest.raises(ExternalError) as err:
        client.query_range(query, NOW - timedelta(hours=1), NOW, timedelta(minutes=1))
    assert str(err.value) == f"Prometheus at {server} {message}"


def test_error_type_is_kept(client: PrometheusClient) -> None:
    with pytest.raises(PrometheusError) as err:
        client.query("error", NOW)
    assert err.value.error_type == "execution"


def test_nan_values_are_read(client: PrometheusClient) -> None:
    (series,) = client.query("ok", NOW)
    assert series.labels == {"a": "b"}
    assert series.points[0].value != series.points[0].value
    assert series.points[0].time == NOW


def test_unreachable_server() -> None:
    with httpx.Client() as http:
        client = PrometheusClient("http://127.0.0.1:9", http, timeout_seconds=2)
        with pytest.raises(ExternalError, match=r"^Prometheus at http://127.0.0.1:9 is "
                                                r"unreachable: ConnectError$"):
            client.query("up", NOW)


def test_render_placeholders() -> None:
    assert render('x{p="{{priority}}"}[{{ window }}]', {"priority": "a/b", "window": "1h"}) \
        == 'x{p="a/b"}[1h]'
    with pytest.raises(ValueError, match=r"unknown placeholder '\{\{stag\}\}' \(known: "
                                         r"\{\{priority\}\}\)"):
        render("{{stag}}", {"priority": "a/b"})


def test_promql_durations() -> None:
    assert promql_duration(timedelta(days=1, hours=12)) == "1d12h"
    assert promql_duration(timedelta(0)) == "1s"


class _NoTimestamps(PrometheusClient):
    """Answers the data query; refuses the freshness query (as a failing server would)."""

    def query_range(self, promql: str, start: datetime, end: datetime,
                    step: timedelta) -> list[Series]:
        if promql.startswith("max(timestamp("):
            raise PrometheusError("query timed out", "timeout")
        points = tuple(Point(end - timedelta(minutes=i), 0.01) for i in range(60))
        return [Series({}, points)]


def test_a_freshness_query_that_fails_holds_the_gate() -> None:
    """Fail closed: without the real sample time, look-back points could pass a dead series."""
    gate = MonitoringGate.model_validate({"metric": "queue_depth", "comparison": "<=",
                                          "threshold": 0.05, "window": "1h", "minSamples": 1})
    with httpx.Client() as http:
        source = PrometheusSource(_NoTimestamps("http://127.0.0.1:9", http, timeout_seconds=1),
                                  step=timedelta(minutes=1), max_staleness=timedelta(minutes=15))
        (reading,) = source.readings("acme/triage", "canary", [gate],
                                     datetime(2026, 12, 1, tzinfo=UTC))
    assert reading.verdict == "inconclusive"
    assert reading.reason.startswith("Prometheus could not say when queue_depth{")
