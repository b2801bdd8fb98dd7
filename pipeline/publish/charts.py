"""Small, dependency-free SVG charts for updates and the dashboard (no scripts, no fetches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

_W, _H, _PAD = 560, 180, 36
_INK, _GRID, _GOOD, _BAD, _ACCENT = "#1f2937", "#e5e7eb", "#15803d", "#b91c1c", "#2563eb"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    threshold: float
    higher_is_better: bool
    unit: str = ""

    @property
    def ok(self) -> bool | None:
        if self.value is None or self.value != self.value:
            return None
        return self.value >= self.threshold if self.higher_is_better else \
            self.value <= self.threshold


def rollout_chart(points: Sequence[tuple[datetime, float]], now: datetime, title: str,
                  empty: str = "No rollout yet") -> str:
    """Step chart of the share of traffic over time, from the status history. The texts
    come in already in the reader's language."""
    if not points:
        return _empty(title, empty)
    start = points[0][0]
    end = max(now, points[-1][0])
    span = max((end - start).total_seconds(), 1.0)

    def x(t: datetime) -> float:
        return _PAD + (t - start).total_seconds() / span * (_W - 2 * _PAD)

    def y(p: float) -> float:
        return _H - _PAD - p / 100 * (_H - 2 * _PAD)

    path = f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"
    for (t, p), (_, prev) in zip(points[1:], points, strict=False):
        path += f" L{x(t):.1f},{y(prev):.1f} L{x(t):.1f},{y(p):.1f}"
    path += f" L{x(end):.1f},{y(points[-1][1]):.1f}"
    grid = "".join(
        f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="{_GRID}"/>'
        f'<text x="{_PAD - 6}" y="{y(p) + 4:.1f}" text-anchor="end" font-size="10">{p}%</text>'
        for p in (0, 25, 50, 75, 100))
    dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y(p):.1f}" r="3" fill="{_ACCENT}"/>'
                   for t, p in points)
    labels = (f'<text x="{_PAD}" y="{_H - 10}" font-size="10">{start:%Y-%m-%d}</text>'
              f'<text x="{_W - _PAD}" y="{_H - 10}" font-size="10" text-anchor="end">'
              f'{end:%Y-%m-%d}</text>')
    body = (f'{grid}<path d="{path}" fill="none" stroke="{_ACCENT}" stroke-width="2"/>'
            f"{dots}{labels}")
    return _frame(title, body, _H)


def bars_chart(bars: Sequence[Bar], title: str, empty: str = "No metrics yet",
               no_data: str = "no data") -> str:
    """Each metric as a bar with its threshold marked; green when it meets it."""
    if not bars:
        return _empty(title, empty)
    row = 30
    height = _PAD + row * len(bars) + 10
    left, width = 170, _W - 170 - 70
    scale = max([1.0, *(b.threshold for b in bars), *(b.value or 0 for b in bars)])
    rows = []
    for i, bar in enumerate(bars):
        top = _PAD + i * row
        colour = {True: _GOOD, False: _BAD, None: "#9ca3af"}[bar.ok]
        length = 0 if bar.value is None else max(bar.value, 0) / scale * width
        mark = left + bar.threshold / scale * width
        shown = no_data if bar.value is None else f"{_fmt(bar.value)}{bar.unit}"
        rows.append(
            f'<text x="{left - 8}" y="{top + 15}" text-anchor="end" font-size="11">'
            f"{escape(bar.label)}</text>"
            f'<rect x="{left}" y="{top + 4}" width="{length:.1f}" height="14" fill="{colour}"/>'
            f'<line x1="{mark:.1f}" x2="{mark:.1f}" y1="{top}" y2="{top + 22}" stroke="{_INK}" '
            f'stroke-dasharray="3,2"/>'
            f'<text x="{left + width + 8}" y="{top + 15}" font-size="11">{escape(shown)}</text>')
    return _frame(title, "".join(rows), height)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}"


def _frame(title: str, body: str, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {_W} {height}" '
            f'width="{_W}" height="{height}" font-family="sans-serif" fill="{_INK}">'
            f"<title>{escape(title)}</title>"
            f'<text x="{_PAD}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>'
            f"{body}</svg>")


def _empty(title: str, message: str) -> str:
    return _frame(title, f'<text x="{_PAD}" y="50" font-size="12">{escape(message)}</text>', 70)
