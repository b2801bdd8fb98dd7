"""One Markdown comment per pull request, updated in place (found by a hidden marker), and
the same text as the GitHub step summary: the plan, validation findings, dry-run results
with their diff against the previous run, and the approvals still needed."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.approvals.github import GitHubApi
from pipeline.documents.findings import Finding
from pipeline.documents.layout import priority_of
from pipeline.model.evidence import UNVERIFIED
from pipeline.reconcile.plan import Plan
from pipeline.trust.written import Untrusted

MARKER = "<!-- ailoop:pr-comment -->"
MAX_FINDINGS = 50
MAX_BODY = 60_000  # GitHub refuses comments over 65,536 characters


@dataclass(frozen=True)
class CommentParts:
    findings: tuple[Finding, ...]
    files_checked: int
    plan: Plan
    dry_runs: tuple[str, ...]  # Markdown summaries, one per touched priority
    approvals: str  # Markdown, or "" when not evaluated here
    # Per touched priority with a traces file in this checkout: its candidate's shadow runs.
    shadow: tuple[str, ...] = ()


def touched_keys(changed: list[str]) -> list[str]:
    return sorted({k for path in changed if (k := priority_of(path))})


def restrict(plan: Plan, keys: list[str]) -> Plan:
    if not keys:
        return plan
    return replace(plan, priorities=tuple(p for p in plan.priorities if p.key in keys))


def _findings_md(findings: tuple[Finding, ...], files: int) -> list[str]:
    if not findings:
        return [f"All {files} changed files are valid."]
    lines = [f"{len(findings)} finding(s) in the changed files:", ""]
    for f in findings[:MAX_FINDINGS]:
        rule = f"`{f.rule}` " if f.rule else ""
        lines.append(f"- `{f.path}:{f.line}:{f.col}` {rule}{_escape(f.field)}: "
                     f"{_escape(f.message)}")
    if len(findings) > MAX_FINDINGS:
        lines.append(f"- … and {len(findings) - MAX_FINDINGS} more (see the annotations)")
    return lines


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def compose(parts: CommentParts, now: datetime) -> str:
    from pipeline.reconcile.report import render_plan_md

    lines = [MARKER, "## ailoop", "", "### Validation", ""]
    lines += _findings_md(parts.findings, parts.files_checked)
    lines += ["", "### Plan", "", render_plan_md(parts.plan).rstrip(), "", "### Dry runs", ""]
    lines += list(parts.dry_runs) or ["No priority changed in this pull request."]
    if parts.shadow:
        lines += ["", "### Shadow runs", "", *parts.shadow]
    lines += ["", "### Approvals", ""]
    lines.append(parts.approvals.strip() or "Evaluated by `ailoop gate` in CI.")
    lines += ["", f"<sub>Updated {now:%Y-%m-%d %H:%M} UTC by ailoop.</sub>"]
    body = "\n".join(lines) + "\n"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n… (truncated; the step summary has everything)\n"
    return body


def upsert(api: GitHubApi, number: int, body: str) -> str:
    """Edit our earlier comment (a bot's, with the marker) or create one."""
    mine = [c for c in api.issue_comments(number) if c.bot and MARKER in c.body]
    if not mine:
        api.create_comment(number, body)
        return "created"
    if mine[-1].body == body:
        return "unchanged"
    api.update_comment(mine[-1].id, body)
    return "updated"


def dry_run_summaries(root: str, keys: list[str]) -> tuple[str, ...]:
    """The newest dry run of each priority. Evidence a trusted bot commit did not write is
    labelled and never shown as counting; what the bot last wrote there is shown too."""
    from pipeline.documents.evidence import read_evidence_with_problems
    from pipeline.trust.written import untrusted_files

    newest: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for key in keys:
        found, problems = read_evidence_with_problems(root, key)
        out[key] = [f"`{key}`: evidence skipped: `{_escape(p)}`." for p in problems]
        if found:
            newest[key] = found[-1].path
        elif not problems:
            out[key].append(f"`{key}`: no dry run yet.")
    verdicts = untrusted_files(root, list(newest.values()), contents=True)
    for key, rel in newest.items():
        out[key] += _summaries(root, rel, verdicts.get(rel))
    return tuple(line for key in keys for line in out[key])


def _summaries(root: str, rel: str, untrusted: Untrusted | None) -> list[str]:
    from pipeline.documents.evidence import load_evidence, parse_evidence
    from pipeline.dryrun.summary_md import summary_markdown

    shown: list[str] = []
    try:
        if untrusted is not None and untrusted.last_trusted is not None:
            shown.append(summary_markdown(parse_evidence(untrusted.last_trusted), rel,
                                          " (from a trusted run)"))
        label = f" ({UNVERIFIED})" if untrusted is not None else ""
        shown.append(summary_markdown(load_evidence(root, rel), rel, label))
    except ValueError as e:
        shown.append(f"`{rel}`: evidence unreadable ({_escape(str(e))}).")
    return shown


def shadow_md(root: str, keys: list[str]) -> tuple[str, ...]:
    """What the candidates' shadow runs say, where the traces file ailoop.yaml names is in
    this checkout (production data: usually only where the reconciler runs)."""
    from pipeline.errors import InputError
    from pipeline.i18n import Audience
    from pipeline.publish.publisher import shadow_of
    from pipeline.publish.snapshot import take_snapshot
    from pipeline.publish.update import shadow_lines

    out: list[str] = []
    for key in keys:
        try:
            lines = shadow_lines(shadow_of(root, take_snapshot(root, key)), Audience())
        except InputError:  # a priority the PR broke: validation says why
            continue
        out += [f"- **{key}**: {lines[0]}", *(f"  - {line}" for line in lines[1:])] \
            if lines else []
    return tuple(out)


def append_summary(text: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
