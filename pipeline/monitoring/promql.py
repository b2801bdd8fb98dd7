"""A small client for the Prometheus HTTP API (/api/v1/query and /api/v1/query_range).

The httpx client comes in from the caller (tests pin it; the CLI owns its lifetime).
Every failure of the server, the network or the response format raises ExternalError
with a short reason: the caller holds and exits 3. Response bodies are never echoed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipeline.errors import ExternalError
from pipeline.model.base import format_duration

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx

# Prometheus refuses range queries with more than 11,000 points per series.
MAX_POINTS_PER_QUERY = 10_000
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class PrometheusError(ExternalError):
    """Prometheus answered, but with an error (`error_type` as Prometheus names it)."""

    def __init__(self, message: str, error_type: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class Point:
    time: datetime
    value: float


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    points: tuple[Point, ...]


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace `{{name}}` placeholders; an unknown name is a ValueError naming it."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(f"{{{{{k}}}}}" for k in sorted(values))
            raise ValueError(f"unknown placeholder '{{{{{name}}}}}' (known: {known})")
        return values[name]
    return _PLACEHOLDER.sub(replace, template)


def promql_duration(value: timedelta) -> str:
    """A Prometheus duration such as 1d12h or 90s (never empty)."""
    return format_duration(max(value, timedelta(seconds=1)))


class PrometheusClient:
    def __init__(self, base_url: str, client: httpx.Client, *, timeout_seconds: float) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = httpx.Timeout(timeout_seconds)

    def query(self, promql: str, at: datetime) -> list[Series]:
        """Instant query evaluated at `at`."""
        data = self._post("query", {"query": promql, "time": _unix(at)})
        return _parse_result(data, self.base_url)

    def query_range(self, promql: str, start: datetime, end: datetime,
                    step: timedelta) -> list[Series]:
        """Range query; long ranges are split so no request passes Prometheus' point limit."""
        merged: dict[tuple[tuple[str, str], ...], list[Point]] = {}
        for chunk_start, chunk_end in _chunks(start, end, step):
            data = self._post("query_range", {
                "query": promql, "start": _unix(chunk_start), "end": _unix(chunk_end),
                "step": f"{step.total_seconds():g}"})
            for series in _parse_result(data, self.base_url):
                merged.setdefault(tuple(sorted(series.labels.items())), []).extend(series.points)
        return [Series(dict(key), tuple(sorted(points, key=lambda p: p.time)))
                for key, points in merged.items()]

    def _post(self, endpoint: str, form: dict[str, str]) -> Any:
        import httpx

        url = f"{self.base_url}/api/v1/{endpoint}"
        try:
            response = self.client.post(url, data=form, timeout=self.timeout)
        except httpx.TimeoutException:
            raise ExternalError(f"Prometheus at {self.base_url} did not answer within "
                                f"{self.timeout.read:g}s") from None
        except httpx.HTTPError as e:
            raise ExternalError(f"Prometheus at {self.base_url} is unreachable: "
                                f"{type(e).__name__}") from None
        return _body(response, self.base_url)


def _chunks(start: datetime, end: datetime,
            step: timedelta) -> list[tuple[datetime, datetime]]:
    if step.total_seconds() <= 0:
        raise ValueError("the step must be positive")
    span = step * (MAX_POINTS_PER_QUERY - 1)
    out: list[tuple[datetime, datetime]] = []
    cursor = start
    while True:
        chunk_end = min(end, cursor + span)
        out.append((cursor, chunk_end))
        if chunk_end >= end:
            return out
        cursor = chunk_end + step


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _body(response: httpx.Response, base_url: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        raise ExternalError(f"Prometheus at {base_url} sent a malformed response "
                            f"(HTTP {response.status_code}, not a Prometheus API answer)")
    if body["status"] == "error":
        error_type = str(body.get("errorType", ""))
        error = str(body.get("error", ""))[:300]
        raise PrometheusError(f"Prometheus at {base_url} refused the query "
                              f"({error_type or response.status_code}): {error}", error_type)
    return body.get("data")


def _parse_result(data: Any, base_url: str) -> list[Series]:
    try:
        return _series(data)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        raise ExternalError(f"Prometheus at {base_url} sent a malformed response "
                            "(unexpected result shape)") from None


def _series(data: Any) -> list[Series]:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return [Series({}, (_point(result),))]
    if kind == "vector":
        return [Series(_labels(item["metric"]), (_point(item["value"]),)) for item in result]
    if kind == "matrix":
        return [Series(_labels(item["metric"]), tuple(_point(v) for v in item["values"]))
                for item in result]
    raise ValueError(f"unsupported result type {kind!r}")


def _labels(metric: Any) -> dict[str, str]:
    if not isinstance(metric, dict):
        raise TypeError("labels must be an object")
    return {str(k): str(v) for k, v in metric.items()}


def _point(pair: Any) -> Point:
    stamp, text = pair
    if not isinstance(text, str):
        raise TypeError("sample values are strings in the Prometheus API")
    moment = float(stamp)
    if not math.isfinite(moment):
        raise ValueError("bad timestamp")
    return Point(datetime.fromtimestamp(moment, UTC), float(text))
