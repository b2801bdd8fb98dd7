"""MonitoringSource over Prometheus: each gate's `query` is PromQL.

Conventions (the README section "Monitoring, ROI and reviews" has the long form):
- The query runs as a range query over the gate's window ending at `now`, one point per
  `step` (ailoop.yaml spec.monitoring.prometheus.step, default 1m). Each point is one
  observation; the gate's value is the mean of the points, weighted by `samplesQuery`
  when the gate has one (the number of requests behind each point), else each point
  counts as one sample.
- Placeholders filled in before the query is sent: {{window}} (the gate's window, e.g.
  1h), {{step}}, {{priority}} ("customer/priority"), {{customer}}, {{name}} (the
  priority's name), {{stage}}, {{metric}}, {{variant}} ("candidate" or "serving",
  the flag's variants: a gate with `compare` is queried once per variant) and {{segment}}
  (a label regex: "in" at a stage with a segment, where only the requests inside it are
  compared and counted; ".*" otherwise), for ailoop-runtime's `segment` label.
- Without `query` the gate reads the series named after its metric:
  METRIC{priority="{{priority}}",variant="{{variant}}"}.
- The query must give one series; none holds ("returned no series"), several hold too
  (aggregate them, e.g. with sum()). Unreachable, timing out or malformed answers raise
  ExternalError; a query Prometheus rejects as invalid raises InputError naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pipeline.documents.layout import priority_dir
from pipeline.errors import InputError
from pipeline.model.base import format_duration
from pipeline.model.priority import Monitoring, MonitoringGate
from pipeline.model.project import MonitoringSettings, PrometheusMonitoring
from pipeline.monitoring.base import CANDIDATE, SERVING, GateReading, Variant, gate_name
from pipeline.monitoring.gates import Sample, evaluate_gate
from pipeline.monitoring.promql import (
    PrometheusClient,
    PrometheusError,
    Series,
    promql_duration,
    render,
)
from pipeline.monitoring.runtime_queries import RUNTIME_QUERIES

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx

DEFAULT_QUERY = '{{metric}}{priority="{{priority}}",variant="{{variant}}"}'
# A series selector with label matchers (what freshness is read from): name{...}
SELECTOR = re.compile(r'[A-Za-z_:][A-Za-z0-9_:]*\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}')
MIN_STEP = timedelta(seconds=1)


class NoSeries(Exception):
    """The query answered with no usable single series; the reason says why."""


class PrometheusSource:
    """MonitoringSource reading each gate from Prometheus' HTTP API."""

    def __init__(self, client: PrometheusClient, *, step: timedelta,
                 max_staleness: timedelta) -> None:
        self.client = client
        self.step = max(step, MIN_STEP)
        self.max_staleness = max_staleness

    def readings(self, key: str, stage: str | None, gates: list[MonitoringGate],
                 now: datetime, variant: Variant = CANDIDATE,
                 share: float | None = None, *, segmented: bool = False
                 ) -> list[GateReading]:
        return [self.reading(key, stage or "", index, gate, now, variant, share,
                             segmented=segmented)
                for index, gate in enumerate(gates)]

    def reading(self, key: str, stage: str, index: int, gate: MonitoringGate,
                now: datetime, variant: Variant = CANDIDATE,
                share: float | None = None, *, segmented: bool = False) -> GateReading:
        if variant == SERVING and gate.compare is not None:  # nothing to compare with
            gate = gate.model_copy(update={"compare": None})
        try:
            new = self.observe(key, stage, index, gate, variant, now, segmented)
            current = (self.observe(key, stage, index, gate, SERVING, now, segmented)
                       if gate.compare is not None else None)
        except NoSeries as e:
            return GateReading(gate_name(gate), gate.metric, "inconclusive", None, 0, None,
                               str(e))
        return evaluate_gate(gate, new, now=now, max_staleness=self.max_staleness,
                             current=current, share=share)

    def observe(self, key: str, stage: str, index: int, gate: MonitoringGate, variant: str,
                now: datetime, segmented: bool = False) -> list[Sample]:
        values = placeholders(key, stage, gate, variant, self.step, segmented)
        start = now - gate.window
        # No query of its own: the runtime's series for its metrics, else METRIC{...}.
        builtin = RUNTIME_QUERIES.get(gate.metric) if gate.query is None else None
        query = gate.query or (builtin[0] if builtin else DEFAULT_QUERY)
        samples_query = gate.samples_query or (builtin[1] if builtin else None)
        points = self._one(key, index, "query", query, values, start, now,
                           f"{gate.metric} ({variant})")
        rendered = render(query, values)
        selectors = SELECTOR.findall(rendered)
        if samples_query is None and len(selectors) == 1 and rendered.strip() == selectors[0]:
            # A plain series: count its real samples, never the look-back repeats (a window
            # a millisecond short of the step, so a sample on a step's edge counts once
            # whether the Prometheus version's ranges include their start or not).
            edge = max(int(self.step.total_seconds() * 1000) - 1, 1)
            samples_query = f"count_over_time({selectors[0]}[{edge}ms])"
        if samples_query is None:
            samples = [Sample(p.time, p.value, 1) for p in points.points]
        else:
            counts = self._one(key, index, "samplesQuery", samples_query, values, start, now,
                               f"{gate.metric} samples ({variant})")
            weights = {p.time: p.value for p in counts.points}
            samples = [Sample(p.time, p.value, _count(weights.get(p.time, 0.0)))
                       for p in points.points]
        last = self._last_sample(selectors, start, now)
        # Points after the newest real sample exist only by Prometheus' 5m look-back: the
        # freshness is that of the data, not of the query.
        return samples if last is None else [x for x in samples if x.time <= last]

    def _last_sample(self, selectors: list[str], start: datetime, end: datetime
                     ) -> datetime | None:
        """The time of the newest real sample of the stalest series the query reads
        (timestamp() of a series selector is its sample's own time, look-back or not)."""
        newest: list[datetime] = []
        for selector in dict.fromkeys(selectors):
            try:
                found = self.client.query_range(f"max(timestamp({selector}))", start, end,
                                                self.step)
            except PrometheusError as e:  # fail closed: look-back points prove nothing
                raise NoSeries(f"Prometheus could not say when {selector} was last sampled "
                               f"({e}): its freshness cannot be judged") from None
            if not found or not found[0].points:
                continue
            stamp = max(p.value for p in found[0].points)
            try:
                newest.append(datetime.fromtimestamp(stamp, tz=end.tzinfo))
            except (ValueError, OverflowError, OSError):  # NaN, infinite, out of range
                raise NoSeries(f"Prometheus gave no usable sample time for {selector} "
                               f"({stamp}): its freshness cannot be judged") from None
        return min(newest) if newest else None

    def _one(self, key: str, index: int, field: str, template: str,
             values: Mapping[str, str], start: datetime, end: datetime, what: str) -> Series:
        where = f"spec.monitoring.gates[{index}].{field}"
        path = f"{priority_dir(key)}/priority.yaml"
        try:
            promql = render(template, values)
        except ValueError as e:
            raise InputError(f"{where}: {e}", path=path) from None
        try:
            found = self.client.query_range(promql, start, end, self.step)
        except PrometheusError as e:
            if e.error_type == "bad_data":
                raise InputError(f"{where}: Prometheus rejected the query: {e}",
                                 path=path) from None
            raise
        window = format_duration(end - start)
        if not found:
            raise NoSeries(f"Prometheus query for {what} returned no series in the last "
                           f"{window}")
        if len(found) > 1:
            raise NoSeries(f"Prometheus query for {what} returned {len(found)} series; it must "
                           "return one (aggregate with sum() or avg())")
        return found[0]


def _count(value: float) -> int:
    # A count that is not a finite non-negative number carries no usable traffic.
    return max(0, round(value)) if value == value and abs(value) != float("inf") else 0


def placeholders(key: str, stage: str, gate: MonitoringGate, variant: str,
                 step: timedelta, segmented: bool = False) -> dict[str, str]:
    customer, _, name = key.partition("/")
    return {"window": promql_duration(gate.window), "step": promql_duration(step),
            "priority": key, "customer": customer, "name": name, "stage": stage,
            "metric": gate.metric, "variant": variant,
            "segment": "in" if segmented else ".*"}


def effective_settings(project: MonitoringSettings,
                       priority: Monitoring | None) -> PrometheusMonitoring | None:
    """The Prometheus settings for one priority: its override, else the project's."""
    if priority is not None and priority.prometheus is not None:
        return priority.prometheus
    return project.prometheus


def prometheus_source(settings: PrometheusMonitoring, client: httpx.Client, *,
                      max_staleness: timedelta) -> PrometheusSource:
    """Build the source from ailoop.yaml settings (the caller owns the httpx client)."""
    api = PrometheusClient(settings.url, client, timeout_seconds=settings.timeout_seconds)
    return PrometheusSource(api, step=settings.step, max_staleness=max_staleness)
