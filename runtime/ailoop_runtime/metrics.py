"""The metrics ailoop's monitoring gates read, labelled by priority and variant (and, for
requests, by whether they were inside the stage's segment).

Prometheus (`/metrics`, scraped; gate queries in the README) and the OpenTelemetry GenAI
semantic conventions where they exist (`gen_ai.client.token.usage`,
`gen_ai.client.operation.duration`; a no-op until the service configures an OTel SDK).
`readings()` turns the last interval into observation lines in the format of ailoop's file
monitoring provider, so a service without Prometheus (and `ailoop demo`) gates on the same
figures.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import metrics as otel
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

LABELS = ("priority", "variant")
# Requests also say whether they were inside the stage's segment ("in", "out"; "" when the
# stage has none): the split a stage sets is a share of its segment, and the SRM gate
# counts only the requests inside it.
REQUEST_LABELS = (*LABELS, "segment")


@dataclass
class _Interval:
    requests: int = 0
    errors: int = 0
    cost: float = 0.0
    durations: list[float] = field(default_factory=list)
    shadow: int = 0
    agreed: int = 0
    confirmed: int = 0
    overridden: int = 0


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("ailoop_requests", "Requests served.", REQUEST_LABELS,
                                registry=r)
        self.errors = Counter("ailoop_errors", "Requests whose workflow failed.",
                              REQUEST_LABELS, registry=r)
        self.duration = Histogram("ailoop_request_duration_seconds", "Workflow time.",
                                  REQUEST_LABELS, registry=r)
        self.actions = Counter("ailoop_actions", "Actions by outcome (proposed, executed, "
                               "queued, confirmed, rejected, refused, recorded).",
                               (*LABELS, "action", "outcome"), registry=r)
        self.overrides = Counter("ailoop_human_overrides", "Actions a person changed "
                                 "before confirming.", LABELS, registry=r)
        self.cost = Counter("ailoop_cost", "Model cost.", REQUEST_LABELS, registry=r)
        self.tokens = Counter("ailoop_tokens", "Model tokens.", (*LABELS, "type"), registry=r)
        self.shadow = Counter("ailoop_shadow", "Shadow runs by agreement with the serving "
                              "version (agree, disagree, error).", ("priority", "agreement"),
                              registry=r)
        self.refused = Counter("ailoop_refused_variants", "Requests whose variant's code "
                               "did not match the digest the flag names.",
                               (*LABELS, "version"), registry=r)
        meter = otel.get_meter("ailoop-runtime")
        self._otel_tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens per operation.")
        self._otel_duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Operation duration.")
        self._lock = threading.Lock()
        # (priority, variant, segment): segment "in", "out" or "" (the stage has none)
        self._interval: dict[tuple[str, str, str], _Interval] = defaultdict(_Interval)
        self._known: set[tuple[str, str, str]] = set()  # those that ever served

    def request(self, priority: str, variant: str, seconds: float, *, error: bool = False,
                cost: float = 0.0, tokens: dict[str, int] | None = None,
                segment: bool | None = None) -> None:
        """SEGMENT: whether the request was inside the stage's segment (None: none)."""
        labels = (priority, variant)
        side = "" if segment is None else "in" if segment else "out"
        counted = (*labels, side)
        self.requests.labels(*counted).inc()
        self.duration.labels(*counted).observe(seconds)
        # Created at 0 with the first request, so an error-rate query has both series.
        self.errors.labels(*counted).inc(1 if error else 0)
        if cost:
            self.cost.labels(*counted).inc(cost)
        attrs = {"gen_ai.operation.name": "chat", "ailoop.priority": priority,
                 "ailoop.variant": variant}
        for kind, count in (tokens or {}).items():
            self.tokens.labels(*labels, kind).inc(count)
            self._otel_tokens.record(count, {**attrs, "gen_ai.token.type": kind})
        self._otel_duration.record(seconds, attrs)
        with self._lock:
            interval = self._interval[counted]
            interval.requests += 1
            interval.errors += int(error)
            interval.cost += cost
            interval.durations.append(seconds)
            self._known.add(counted)

    def action(self, priority: str, variant: str, action: str, outcome: str,
               override: bool = False) -> None:
        self.actions.labels(priority, variant, action, outcome).inc()
        if override:
            self.overrides.labels(priority, variant).inc()
        if outcome == "confirmed":
            with self._lock:
                interval = self._interval[(priority, variant, "")]
                interval.confirmed += 1
                interval.overridden += int(override)

    def shadow_run(self, priority: str, agreement: str) -> None:
        self.shadow.labels(priority, agreement).inc()
        with self._lock:
            interval = self._interval[(priority, "candidate", "")]
            interval.shadow += 1
            interval.agreed += int(agreement == "agree")

    def refused_variant(self, priority: str, variant: str, version: str) -> None:
        self.refused.labels(priority, variant, version).inc()

    def serve(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Expose /metrics over HTTP for Prometheus to scrape."""
        return start_http_server(port, addr=addr, registry=self.registry)

    def readings(self, now: datetime, stage: str | None = None, *,
                 priority: str | None = None) -> list[dict[str, Any]]:
        """The interval since the last call as observations for ailoop's file monitoring
        provider (error_rate, success_rate, latency_p95_ms, cost_per_run, agreement_rate,
        human_override_rate), per priority, variant and segment side ("segment": "in" or
        "out" at a stage with a segment; only PRIORITY's when given); the
        interval starts again. A variant that served before but not in this interval gets
        lines with 0 samples: they count nothing, but show the exporter is alive, as a
        scraped counter that did not move does (the gates' staleness rule)."""
        with self._lock:
            mine = {k for k in (*self._interval, *self._known)
                    if priority is None or k[0] == priority}
            taken = {k: self._interval.pop(k, _Interval()) for k in mine}
        when = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines: list[dict[str, Any]] = []
        for (name, variant, segment), i in sorted(taken.items()):
            base = {"priority": name, "time": when, "variant": variant}
            if stage:
                base["stage"] = stage
            if segment:
                base["segment"] = segment
            lines += [{**base, "metric": metric, "value": round(value, 6), "samples": samples}
                      for metric, value, samples in _observed(i)]
        return lines


def _observed(i: _Interval) -> list[tuple[str, float, int]]:
    out: list[tuple[str, float, int]] = []
    if i.requests:
        p95 = sorted(i.durations)[max(0, int(len(i.durations) * 0.95) - 1)]
        out += [("error_rate", i.errors / i.requests, i.requests),
                ("success_rate", 1 - i.errors / i.requests, i.requests),
                ("latency_p95_ms", p95 * 1000, i.requests),
                ("cost_per_run", i.cost / i.requests, i.requests)]
    else:
        out += [(m, 0.0, 0) for m in ("error_rate", "success_rate", "latency_p95_ms",
                                      "cost_per_run")]
    if i.shadow:
        out.append(("agreement_rate", i.agreed / i.shadow, i.shadow))
    if i.confirmed:
        out.append(("human_override_rate", i.overridden / i.confirmed, i.confirmed))
    return out
