"""The text report of a dry run, for the terminal and CI logs (built from redacted data)."""

from __future__ import annotations

from typing import Any

from pipeline.dryrun.diff import RunDiff

_MAX_IDS = 8


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_MAX_IDS])
    return shown + (f" (+{len(ids) - _MAX_IDS} more)" if len(ids) > _MAX_IDS else "")


def _gate_lines(title: str, gates: list[dict[str, Any]]) -> list[str]:
    lines = [f"{title}:"] if gates else []
    for g in gates:
        mark = "ok  " if g["passed"] else "FAIL"
        lines.append(f"  {mark} {g['name']}: {g['actual']} (required {g['required']})")
        if "repeat" in g:
            lines.append(_repeat_line(g["repeat"]))
    return lines


def _repeat_line(r: dict[str, Any]) -> str:
    """Under a gate: what its cases' runs say (the gate counts 'every run')."""
    ci = r["ci95"]
    return (f"         every run {r['passAllK'] * 100:.1f}%, any run {r['passAtK'] * 100:.1f}%, "
            f"mean {r['meanPassRate'] * 100:.1f}% (95% CI {ci['low'] * 100:.1f}% to "
            f"{ci['high'] * 100:.1f}% over {r['runs']} runs)")


def _flaky_lines(evidence: dict[str, Any]) -> list[str]:
    flaky = [c for c in evidence.get("cases") or () if c.get("flaky")]
    if not flaky:
        return []
    shown = ", ".join(f"{c['id']} ({c['runs']['passed']} of {c['runs']['total']} runs passed)"
                      for c in flaky[:_MAX_IDS])
    more = f" (+{len(flaky) - _MAX_IDS} more)" if len(flaky) > _MAX_IDS else ""
    return [f"flaky: {shown}{more}"]


def _diff_lines(diff: RunDiff | None) -> list[str]:
    if diff is None:
        return ["first dry run of this priority (nothing to compare with)"]
    lines = [diff.headline()]
    for label, ids in (("newly failing", diff.newly_failing), ("fixed", diff.fixed),
                       ("still failing", diff.still_failing), ("added", diff.added),
                       ("removed", diff.removed)):
        if ids:
            lines.append(f"  {label}: {_ids(ids)}")
    return lines


def versus_lines(evidence: dict[str, Any], serving_reused: int | None = None) -> list[str]:
    """The comparison with the serving version on the same cases (versusServing)."""
    v = evidence.get("versusServing")
    if not isinstance(v, dict):
        return []
    where = f"serving v{v['version']} ({v['evidenceId']})"
    if not v.get("compared"):
        return [f"not compared with {where}: {v.get('reason', '')}"]
    reused = f", serving runs reused from cache {serving_reused}" \
        if serving_reused is not None else ""
    lines = [f"v{_candidate(evidence)} versus {where} on {v['cases']} cases: "
             f"{len(v['improved'])} improved, {len(v['regressed'])} regressed, "
             f"{v['unchanged']} unchanged ({v['unchangedPass']} pass, {v['unchangedFail']} "
             f"fail); exact McNemar p = {v['pValue']:.3g}{reused}"]
    for label, ids in (("improved", v["improved"]), ("regressed", v["regressed"])):
        if ids:
            lines.append(f"  {label}: {_ids(ids)}")
    for judge in v.get("judges") or ():
        lines += pairwise_lines(judge)
    return lines


def pairwise_lines(judge: dict[str, Any]) -> list[str]:
    """A judge's pairwise win rate of the candidate against serving (report only)."""
    rate = judge["winRate"]
    shown = (f"win rate {rate * 100:.1f}% (95% CI {judge['interval']['low'] * 100:.1f}-"
             f"{judge['interval']['high'] * 100:.1f}%)" if rate is not None
             else "no win rate (no win or loss)")
    advisory = f", {judge['advisory']}" if judge.get("advisory") else ""
    lines = [f"  pairwise judge {judge['name']}: {judge['wins']} wins, {judge['losses']} "
             f"losses, {judge['ties']} ties, {judge['noVerdict']} without a verdict; {shown}"
             f"{advisory}; cost {judge['cost']:g}"]
    for label, key in (("won", "won"), ("lost", "lost")):
        if judge.get(key):
            lines.append(f"    {label}: {_ids(judge[key])}")
    if judge.get("noVerdictReason"):
        lines.append(f"    no verdict: {judge['noVerdictReason']}")
    return lines


def _candidate(evidence: dict[str, Any]) -> str:
    provider = evidence.get("provider")
    version = provider.get("version") if isinstance(provider, dict) else None
    return str(version or "?")


def text_report(evidence: dict[str, Any], path: str, changed: bool, reused: int,
                diff: RunDiff | None, serving_reused: int | None = None) -> str:
    s = evidence["summary"]
    verdict = "PASSED" if evidence["passed"] else "FAILED"
    state = "written" if changed else "unchanged"
    lines = [
        f"dry run {evidence['priority']}: {verdict}",
        f"evidence {evidence['id']} ({state}): {path}",
        f"cases: {s['cases']}, passed {s['passed']}, failed {s['failed']} "
        f"(errors {s['errors']}), pass rate {s['passRate'] * 100:.1f}%, "
        f"reused from cache {reused}",
    ]
    lines += _judge_lines(evidence)
    lines += _gate_lines("thresholds", evidence["thresholds"])
    lines += _gate_lines("success criteria (dry run)", evidence["successCriteria"])
    lines += _flaky_lines(evidence)
    if evidence["failureCategories"]:
        lines.append("failures by category:")
        for c in evidence["failureCategories"]:
            lines.append(f"  {c['category']}: {c['count']} ({_ids(c['cases'])})")
    if evidence["edgeCases"]:
        lines.append("edge cases found:")
        for e in evidence["edgeCases"][:_MAX_IDS]:
            lines.append(f"  {e['id']}: {e['reason']}")
        if len(evidence["edgeCases"]) > _MAX_IDS:
            lines.append(f"  … and {len(evidence['edgeCases']) - _MAX_IDS} more")
    regression = [c for c in evidence.get("cases") or ()
                  if "regression" in (c.get("tags") or [])]
    if regression:
        lines.append("regression cases: " + ", ".join(
            f"{c['id']} {'passed' if c['passed'] else 'FAILED'}" for c in regression))
    lines += _action_lines(evidence)
    lines += versus_lines(evidence, serving_reused)
    lines += _diff_lines(diff)
    return "\n".join(lines)


def _action_lines(evidence: dict[str, Any]) -> list[str]:
    actions = evidence.get("actions") or {}
    if not actions.get("proposed"):
        return []
    lines = [f"proposed actions (guard, record-only; nothing ran): {actions['proposed']}, "
             f"would wait for a person in {actions['wouldWait']} case(s), would run in "
             f"{actions['wouldRun']}, refused in {actions['refused']}"]
    for row in actions["byAction"]:
        parts = [f"{label} {_ids(row[key])}" for key, label in (
            ("wouldWait", "waits:"), ("wouldRun", "runs:"), ("refused", "refused:")) if row[key]]
        lines.append(f"  {row['name']} ({row['class'] or 'not declared'}): {'; '.join(parts)}")
    return lines


def self_grading(model: str) -> str:
    """What every report says of a judge that is the workflow's own model: agreement with
    people on the calibration set does not measure its bias toward its own outputs."""
    return (f"grades outputs of its own model ({model}, the workflow's, at the same "
            "endpoint): a model tends to favour its own outputs")


def judge_line(judge: dict[str, Any]) -> str:
    """One judge: whether it gates, and on what agreement with people."""
    c = judge["calibration"]
    own = f"; {self_grading(judge['model'])}" if judge.get("selfGrading") else ""
    if judge.get("advisory"):
        return f"{judge['name']} ({judge['model']}): {judge['advisory']}{own}"
    return (f"{judge['name']} ({judge['model']}): calibrated, kappa {c['kappa']:.2f} "
            f"(required >= {c['minKappa']:g}), agreement {c['agreement'] * 100:.1f}% "
            f"over {c['cases']} labelled cases{own}")


def _judge_lines(evidence: dict[str, Any]) -> list[str]:
    judges = evidence.get("judges") or []
    if not judges:
        return []
    s = evidence["summary"]
    return ["judges:", *(f"  {judge_line(j)}" for j in judges),
            f"  judge cost {s['judgeCost']:g}, total cost {s['totalCost']:g}"]
