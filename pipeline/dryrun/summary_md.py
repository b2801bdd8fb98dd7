"""A Markdown summary of (already redacted) evidence, for pull-request comments. It reads
the evidence model: a detail the file lacks is left out, never a crash."""

from __future__ import annotations

from typing import Any

from pipeline.dryrun.report import self_grading
from pipeline.model.evidence import Evidence, GateResult

_MAX_ROWS = 20


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _gates(title: str, gates: list[GateResult]) -> list[str]:
    if not gates:
        return []
    lines = [f"**{title}**", "", "| | check | required | actual |", "|---|---|---|---|"]
    for g in gates:
        mark = "✅" if g.passed else "❌"
        lines.append(f"| {mark} | {_cell(g.name)} | {_cell(g.required)} | {_cell(g.actual)} |")
    return [*lines, ""]


def _categories(evidence: Evidence) -> list[str]:
    cats = evidence.failure_categories
    if not cats:
        return []
    lines = ["**Failures by category**", "", "| category | cases | examples |", "|---|---|---|"]
    for c in cats[:_MAX_ROWS]:
        examples = ", ".join(f"`{_cell(i)}`" for i in c.cases[:5])
        if len(c.cases) > 5:
            examples += f" and {len(c.cases) - 5} more"
        lines.append(f"| {_cell(c.category)} | {c.count} | {examples} |")
    if len(cats) > _MAX_ROWS:
        lines.append(f"| … and {len(cats) - _MAX_ROWS} more categories | | |")
    return [*lines, ""]


def actions_lines(evidence: Evidence) -> list[str]:
    """The proposed actions and what production's guard would have done (record-only)."""
    actions = evidence.actions
    if actions is None or not actions.proposed:
        return []
    lines = ["**Proposed actions** (through the guard, record-only: nothing ran)", "",
             "| action | class | would wait for a person | would run | refused |",
             "|---|---|---|---|---|"]
    for row in actions.by_action[:_MAX_ROWS]:
        cells = [_case_list(ids) for ids in (row.would_wait, row.would_run, row.refused)]
        lines.append(f"| `{_cell(row.name)}` | {_cell(row.action_class or '—')} | "
                     + " | ".join(cells) + " |")
    if len(actions.by_action) > _MAX_ROWS:
        lines.append(f"| … and {len(actions.by_action) - _MAX_ROWS} more actions | | | | |")
    return [*lines, ""]


def regression_lines(evidence: Evidence) -> list[str]:
    """Regression cases decide an incident's fix cycle: each is named with its result."""
    cases = [c for c in evidence.cases if "regression" in c.tags]
    if not cases:
        return []
    lines = ["**Regression cases** (an incident's fix needs each to pass)", ""]
    lines += [f"- {'✅' if c.passed else '❌'} `{_cell(c.id)}`" for c in cases[:_MAX_ROWS]]
    if len(cases) > _MAX_ROWS:
        lines.append(f"- … and {len(cases) - _MAX_ROWS} more")
    return [*lines, ""]


def repeat_lines(evidence: Evidence) -> list[str]:
    """Repeated runs: what the runs say and which cases are flaky (a case passes only when
    every run passes, so a flaky case is a failing one)."""
    r = evidence.summary.repeat
    if r is None:
        return []
    runs = {c.id: c.runs for c in evidence.cases}
    lines = ["**Repeated runs** (a case passes only when every run passes)", "",
             f"- {r.runs} runs of {r.cases} cases: every run {r.pass_all_k * 100:.1f}%, "
             f"any run {r.pass_at_k * 100:.1f}%, mean {r.mean_pass_rate * 100:.1f}% "
             f"(95% CI {r.ci95.low * 100:.1f}% to {r.ci95.high * 100:.1f}%)"]
    for case_id in r.flaky[:_MAX_ROWS]:
        count = runs.get(case_id)
        detail = f" ({count.passed} of {count.total} runs passed)" if count else ""
        lines.append(f"- flaky: `{_cell(case_id)}`{detail}")
    if len(r.flaky) > _MAX_ROWS:
        lines.append(f"- … and {len(r.flaky) - _MAX_ROWS} more flaky cases")
    return [*lines, ""]


def judge_lines(evidence: Evidence) -> list[str]:
    """Each judge: whether it gates, and its agreement with people (Cohen's kappa)."""
    if not evidence.judges:
        return []
    lines = ["**Judges** (a judge gates only when it agrees with people on its calibration "
             "set)", ""]
    for j in evidence.judges[:_MAX_ROWS]:
        c = j.calibration
        own = f"; ⚠️ {_cell(self_grading(j.model))}" if j.self_grading else ""
        if j.advisory:
            lines.append(f"- ⚠️ `{_cell(j.name)}` ({_cell(j.model)}): {_cell(j.advisory)}{own}")
            continue
        agreement = f", agreement {c.agreement * 100:.1f}%" if c.agreement is not None else ""
        kappa = f"{c.kappa:.2f}" if c.kappa is not None else "undefined"
        lines.append(f"- ✅ `{_cell(j.name)}` ({_cell(j.model)}): calibrated, kappa {kappa} "
                     f"(required ≥ {c.min_kappa:g}){agreement} over {c.cases} labelled "
                     f"cases{own}")
    s = evidence.summary
    if s.judge_cost is not None and s.total_cost is not None:
        lines.append(f"- judge cost {s.judge_cost:g}, total cost {s.total_cost:g}")
    return [*lines, ""]


def _case_list(ids: list[str]) -> str:
    if not ids:
        return "—"
    shown = ", ".join(f"`{_cell(i)}`" for i in ids[:3])
    return f"{len(ids)} ({shown}{f' and {len(ids) - 3} more' if len(ids) > 3 else ''})"


def _comparison(evidence: Evidence) -> list[str]:
    comp = evidence.comparison
    if comp is None:
        return ["First dry run of this priority.", ""]
    lines = [f"**Compared with `{comp.previous}`**", ""]
    for label, ids in (("newly failing", comp.newly_failing), ("fixed", comp.fixed),
                       ("still failing", comp.still_failing), ("added", comp.added),
                       ("removed", comp.removed)):
        if not ids and label in ("added", "removed"):
            continue  # most runs neither add nor remove cases: no empty lines for them
        shown = ", ".join(f"`{_cell(i)}`" for i in ids[:10])
        shown += f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        lines.append(f"- {label}: {len(ids)}" + (f" ({shown})" if ids else ""))
    return [*lines, ""]


def versus_lines(evidence: Evidence) -> list[str]:
    """The candidate against the serving version on the same cases."""
    v = evidence.versus_serving
    if v is None:
        return []
    where = f"serving v{_cell(v.version)} (`{_cell(v.evidence_id)}`)"
    if not v.compared:
        return [f"**Not compared with {where}**: {_cell(v.reason)}", ""]
    lines = [f"**Versus {where}** on the same {v.cases} cases", "",
             f"- improved: {_case_list(v.improved)}", f"- regressed: {_case_list(v.regressed)}",
             f"- unchanged: {v.unchanged} ({v.unchanged_pass} pass, {v.unchanged_fail} fail)",
             f"- exact McNemar test on the changed cases: p = {v.p_value:.3g}"]
    for j in v.judges[:_MAX_ROWS]:
        rate = (f"win rate {j.win_rate * 100:.1f}% (95% CI {j.interval.low * 100:.1f}-"
                f"{j.interval.high * 100:.1f}%)" if j.win_rate is not None and j.interval
                else "no win rate (no win or loss)")
        mark = f" ⚠️ {_cell(j.advisory)}" if j.advisory else ""
        lines.append(f"- pairwise judge `{_cell(j.name)}` (both orders must agree): "
                     f"{j.wins} wins, {j.losses} losses, {j.ties} ties, {j.no_verdict} "
                     f"without a verdict; {rate}{mark}")
    return [*lines, ""]


def summary_markdown(evidence: Evidence, path: str, label: str = "") -> str:
    """LABEL follows the verdict: " (from the PR, not yet verified)"."""
    s = evidence.summary
    verdict = "✅ passed" if evidence.passed else "❌ failed"
    latency = f"; latency p95 {s.latency_ms.p95:.0f} ms" if s.latency_ms is not None else ""
    lines = [
        f"### Dry run `{evidence.priority}`: {verdict}{label}", "",
        f"{s.passed_cases}/{s.cases} cases passed ({s.pass_rate * 100:.1f}%), "
        f"{s.errors} errors{latency}. Evidence `{evidence.id}` ({path}).", "",
    ]
    lines += judge_lines(evidence)
    lines += _gates("Thresholds", evidence.thresholds)
    lines += _gates("Success criteria (dry run)", evidence.success_criteria)
    lines += repeat_lines(evidence)
    lines += _categories(evidence)
    lines += regression_lines(evidence)
    lines += actions_lines(evidence)
    lines += versus_lines(evidence)
    lines += _comparison(evidence)
    return "\n".join(lines)
