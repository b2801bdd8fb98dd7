"""PromQL for the metrics ailoop-runtime exports, so the common gates need no hand-written
query: a gate on one of these metrics, with the prometheus provider and no `query` of its
own, reads the runtime's series (each point: one step; its samples: the requests in it)."""

from __future__ import annotations

_SELECT = 'priority="{{priority}}",variant="{{variant}}"'
# Request series carry `segment` ("in"/"out" of a stage's segment, "" without one): at a
# stage with a segment {{segment}} is "in", so the split is counted inside it only.
_REQUEST = _SELECT + ',segment=~"{{segment}}"'


def _increase(series: str, select: str = _REQUEST) -> str:
    return "sum(increase(" + series + "{" + select + "}[{{step}}]))"


_REQUESTS = _increase("ailoop_requests_total")
_ERRORS = _increase("ailoop_errors_total")
_SHADOW = _increase("ailoop_shadow_total", 'priority="{{priority}}"')
_CONFIRMED = _increase("ailoop_actions_total", _SELECT + ',outcome="confirmed"')

# metric -> (query, samples query)
RUNTIME_QUERIES: dict[str, tuple[str, str]] = {
    "error_rate": (f"{_ERRORS} / {_REQUESTS}", _REQUESTS),
    "success_rate": (f"1 - {_ERRORS} / {_REQUESTS}", _REQUESTS),
    "latency_p95_ms": ("1000 * histogram_quantile(0.95, sum by (le) (increase("
                       "ailoop_request_duration_seconds_bucket{" + _REQUEST + "}[{{step}}])))",
                       _REQUESTS),
    "cost_per_run": (f"{_increase('ailoop_cost_total')} / {_REQUESTS}", _REQUESTS),
    "agreement_rate": (_increase("ailoop_shadow_total", 'priority="{{priority}}",agreement='
                                 '"agree"') + f" / {_SHADOW}", _SHADOW),
    "human_override_rate": (f"{_increase('ailoop_human_overrides_total', _SELECT)} / "
                            f"{_CONFIRMED}",
                            _CONFIRMED),
}
