"""Findings: one problem at one place. Plain data, cheap to pickle into the cache."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]


class Finding(NamedTuple):
    """Ordered by place, then by what is said there (a tuple's order)."""

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
        text = printable(": ".join(parts))
        return f"{text} (warning)" if self.severity == "warning" else text


# Control characters from file names or YAML keys would break the one-line-per-finding
# format (and could drive a terminal); they are shown escaped.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))} | {
    0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def printable(text: str) -> str:
    return text.translate(_CONTROL)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(set(findings))


def format_field_path(loc: tuple[str | int, ...]) -> str:
    """('spec', 'stages', 2, 'percent') -> 'spec.stages[2].percent'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is most likely a misspelling of, if any is close enough."""
    import difflib  # only a document with a mistake gets here

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" after a message about `word`, or nothing."""
    close = closest(word, choices)
    return f"; did you mean '{close}'?" if close else ""
