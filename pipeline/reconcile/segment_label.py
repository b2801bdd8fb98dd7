"""A stage's segment (its flagd targeting rule, JSONLogic) as one short line for people:
`0 < amount < 1000 and (group in ["internal", "staff"] or region == "eu")`.

The rule is author-written, so the line is made safe to show wherever it goes: cut to a
bounded length (and depth), control and format characters (line breaks, terminal escapes,
right-to-left overrides) shown escaped, never passed through. HTML pages escape it as any
cell (html.escape); Markdown goes through `markdown()`. It only describes a rule that
`ailoop validate` already checked with flagd's validator: the flag is written from the
rule itself, never from this text.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

LIMIT = 80  # characters of a segment in a table cell or a plan line
_DEPTH = 12  # nesting shown before "…" (a rule can nest deeper than anyone reads)
_COMPARE = frozenset({"<", "<=", ">", ">=", "==", "!=", "===", "!=="})
_JOINS = {"and": " and ", "or": " or "}
_CUT = "…"


def describe(rule: Mapping[str, Any] | None, limit: int = LIMIT) -> str:
    """The rule as one line of at most LIMIT characters; "" without a rule."""
    if rule is None:
        return ""
    text = _safe(_expr(rule, 0, limit + 1))
    return text if len(text) <= limit else text[: limit - 1] + _CUT


def markdown(text: str) -> str:
    """TEXT (a describe() line) for a Markdown table cell or PR comment: markup characters
    escaped, HTML's < > & as entities (GitHub's Markdown renders HTML)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"\\{c}" if c in "\\`*_[]()#!|~" else c for c in text)


def _expr(node: Any, depth: int, budget: int) -> str:
    """NODE as text; BUDGET bounds the work on a huge rule (the result is cut anyway)."""
    if depth > _DEPTH or budget <= 0:
        return _CUT
    if isinstance(node, Mapping):
        if len(node) != 1:
            return _literal(node)
        op, args = next(iter(node.items()))
        return _operation(str(op), args, depth, budget)
    if isinstance(node, list):
        return _items(node, depth, budget)
    return _literal(node)


def _operation(op: str, args: Any, depth: int, budget: int) -> str:
    if op == "var":
        name = args[0] if isinstance(args, list) and args else args
        return str(name) if isinstance(name, (str, int)) else _literal(name)
    items = args if isinstance(args, list) else [args]
    parts: list[str] = []
    used = 0
    for item in items:  # stop early: the line is cut at the budget
        if used > budget:
            parts.append(_CUT)
            break
        part = _operand(op, item, depth + 1, budget - used)
        parts.append(part)
        used += len(part) + 3
    if op in _JOINS and parts:
        return _JOINS[op].join(parts)
    if op in _COMPARE and len(parts) in (2, 3):
        return f" {op} ".join(parts)
    if op == "in" and len(parts) == 2:
        return f"{parts[0]} in {parts[1]}"
    if op == "!" and len(parts) == 1:
        return f"not ({parts[0]})"
    return f"{op}({', '.join(parts)})"


def _operand(op: str, item: Any, depth: int, budget: int) -> str:
    text = _expr(item, depth, budget)
    inner = next(iter(item), None) if isinstance(item, Mapping) and len(item) == 1 else None
    # and/or inside another operator (or the other one of the two) keep their grouping
    if inner in _JOINS and inner != op:
        return f"({text})"
    return text


def _items(values: list[Any], depth: int, budget: int) -> str:
    parts: list[str] = []
    used = 0
    for value in values:
        if used > budget:
            parts.append(_CUT)
            break
        part = _expr(value, depth + 1, budget - used)
        parts.append(part)
        used += len(part) + 2
    return f"[{', '.join(parts)}]"


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _safe(text: str) -> str:
    """Control and format characters (Cc, Cf, and line or paragraph separators) escaped as
    a backslash, u and four hex digits: seen, never acted on by a terminal or a renderer."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
                   else c for c in text)
