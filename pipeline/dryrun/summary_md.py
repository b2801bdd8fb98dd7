"""A Markdown summary of (already redacted) evidence, for pull-request comments."""

from __future__ import annotations

from typing import Any

_MAX_ROWS = 20


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _gates(title: str, gates: list[dict[str, Any]]) -> list[str]:
    if not gates:
        return []
    lines = [f"**{title}**", "", "| | check | required | actual |", "|---|---|---|---|"]
    for g in gates:
        mark = "✅" if g["passed"] else "❌"
        lines.append(f"| {mark} | {_cell(g['name'])} | {_cell(g['required'])} | "
                     f"{_cell(g['actual'])} |")
    return [*lines, ""]


def _categories(evidence: dict[str, Any]) -> list[str]:
    cats = evidence["failureCategories"]
    if not cats:
        return []
    lines = ["**Failures by category**", "", "| category | cases | examples |", "|---|---|---|"]
    for c in cats[:_MAX_ROWS]:
        examples = ", ".join(f"`{_cell(i)}`" for i in c["cases"][:5])
        if len(c["cases"]) > 5:
            examples += f" and {len(c['cases']) - 5} more"
        lines.append(f"| {_cell(c['category'])} | {c['count']} | {examples} |")
    if len(cats) > _MAX_ROWS:
        lines.append(f"| … and {len(cats) - _MAX_ROWS} more categories | | |")
    return [*lines, ""]


_VERDICT_LABELS = (("wouldWait", "would wait for a person"), ("wouldRun", "would run"),
                   ("refused", "refused (not declared)"))


def actions_lines(evidence: dict[str, Any]) -> list[str]:
    """The proposed actions and what production's guard would have done (record-only)."""
    actions = evidence.get("actions") or {}
    if not actions.get("proposed"):
        return []
    lines = ["**Proposed actions** (through the guard, record-only: nothing ran)", "",
             "| action | class | would wait for a person | would run | refused |",
             "|---|---|---|---|---|"]
    for row in actions["byAction"][:_MAX_ROWS]:
        cells = [_case_list(row[key]) for key, _ in _VERDICT_LABELS]
        lines.append(f"| `{_cell(row['name'])}` | {_cell(row['class'] or '—')} | "
                     + " | ".join(cells) + " |")
    if len(actions["byAction"]) > _MAX_ROWS:
        lines.append(f"| … and {len(actions['byAction']) - _MAX_ROWS} more actions | | | | |")
    return [*lines, ""]


def regression_lines(evidence: dict[str, Any]) -> list[str]:
    """Regression cases decide an incident's fix cycle: each is named with its result."""
    cases = [c for c in evidence.get("cases") or () if "regression" in (c.get("tags") or [])]
    if not cases:
        return []
    lines = ["**Regression cases** (an incident's fix needs each to pass)", ""]
    lines += [f"- {'✅' if c['passed'] else '❌'} `{_cell(c['id'])}`" for c in cases[:_MAX_ROWS]]
    if len(cases) > _MAX_ROWS:
        lines.append(f"- … and {len(cases) - _MAX_ROWS} more")
    return [*lines, ""]


def _case_list(ids: list[str]) -> str:
    if not ids:
        return "—"
    shown = ", ".join(f"`{_cell(i)}`" for i in ids[:3])
    return f"{len(ids)} ({shown}{' …' if len(ids) > 3 else ''})"


def _comparison(evidence: dict[str, Any]) -> list[str]:
    comp = evidence.get("comparison")
    if not comp:
        return ["First dry run of this priority.", ""]
    lines = [f"**Compared with `{comp['previous']}`**", ""]
    for label, key in (("newly failing", "newlyFailing"), ("fixed", "fixed"),
                       ("still failing", "stillFailing")):
        ids = comp[key]
        shown = ", ".join(f"`{_cell(i)}`" for i in ids[:10]) + (" …" if len(ids) > 10 else "")
        lines.append(f"- {label}: {len(ids)}" + (f" ({shown})" if ids else ""))
    return [*lines, ""]


def summary_markdown(evidence: dict[str, Any], path: str) -> str:
    s = evidence["summary"]
    verdict = "✅ passed" if evidence["passed"] else "❌ failed"
    lines = [
        f"### Dry run `{evidence['priority']}`: {verdict}", "",
        f"{s['passed']}/{s['cases']} cases passed ({s['passRate'] * 100:.1f}%), "
        f"{s['errors']} errors; latency p95 {s['latencyMs']['p95']:.0f} ms. "
        f"Evidence `{evidence['id']}` ({path}).", "",
    ]
    lines += _gates("Thresholds", evidence["thresholds"])
    lines += _gates("Success criteria (dry run)", evidence["successCriteria"])
    lines += _categories(evidence)
    lines += regression_lines(evidence)
    lines += actions_lines(evidence)
    lines += _comparison(evidence)
    return "\n".join(lines)
