"""Findings: one problem at one place. Plain data, cheap to pickle into the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    col: int
    field: str
    message: str
    rule: str = ""
    severity: Severity = "error"

    def render(self) -> str:
        parts = [f"{self.path}:{self.line}:{self.col}"]
        if self.rule:
            parts.append(self.rule)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        text = ": ".join(parts)
        return f"{text} (warning)" if self.severity == "warning" else text


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(set(findings))


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_field_path(loc: tuple[str | int, ...]) -> str:
    """('spec', 'stages', 2, 'percent') -> 'spec.stages[2].percent'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
