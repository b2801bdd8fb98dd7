"""`ailoop dry-run`: evaluate workflows on their datasets, write evidence."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from datetime import datetime

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now, select_priorities, shard_option
from pipeline.documents.evidence import evidence_model
from pipeline.dryrun.junit import junit_xml
from pipeline.dryrun.record import write_atomic
from pipeline.dryrun.report import text_report
from pipeline.dryrun.runner import DryRunReport, DryRunSettings, run_dry_run
from pipeline.dryrun.summary_md import summary_markdown
from pipeline.errors import EXIT_OK, AiloopError, ExternalError, InputError
from pipeline.redact import detectors_only


def _redacted(error: AiloopError) -> AiloopError:
    """Messages about the dataset may quote it: detectors still apply."""
    text = detectors_only().text(str(error))
    return ExternalError(text) if isinstance(error, ExternalError) else InputError(text)


@click.command("dry-run")
@click.argument("keys", metavar="[CUSTOMER/PRIORITY]...", nargs=-1)
@click.option("--changed-since", "changed_since", metavar="REF",
              help="Also every priority with files changed since this git ref (PR checks).")
@click.option("--all", "every", is_flag=True, help="Every priority in the repository.")
@click.option("--missing", is_flag=True,
              help="Only those of the selected priorities whose inputs have no evidence a "
                   "trusted bot commit wrote, or whose trusted evidence's noRegressionOn "
                   "gates compared with another serving version than the one serving now "
                   "(the reconcile workflow's dry-run job).")
@shard_option
@click.option("--junit", "junit", type=click.Path(dir_okay=False),
              help="Also write the results as JUnit XML to this file.")
@click.option("--markdown", "markdown", type=click.Path(dir_okay=False),
              help="Also write a Markdown summary (for a pull-request comment) to this file.")
@click.option("--no-cache", is_flag=True, help="Run every case again, ignore cached results.")
@click.option("--trusted", is_flag=True,
              help="A run whose evidence may gate a rollout: refuses to run workflow code "
                   "without the sandbox and runs every case (no cached result is read).")
@click.option("--concurrency", type=click.IntRange(1, 256),
              help="Cases run at the same time (default: spec.dryRun.concurrency).")
@click.option("--since", metavar="EVIDENCE",
              help="Compare with this evidence id instead of the previous run's.")
@now_option
@click.pass_context
def dry_run_command(ctx: click.Context, keys: tuple[str, ...], changed_since: str | None,
                    every: bool, missing: bool, shard: str | None, junit: str | None,
                    markdown: str | None, no_cache: bool, trusted: bool, concurrency: int | None,
                    since: str | None, now: str | None) -> int:
    """Evaluate priorities' workflows on their datasets and write evidence.

    Runs every case of spec.dryRun.dataset through the workflow provider, checks the
    assertions and thresholds, and writes customers/C/P/evidence/<id>.json plus an in-toto
    statement next to it. The run is compared with the previous evidence (newly failing,
    fixed, still failing); failure categories are stored as lessons. Personal data is
    redacted from everything written or printed. Python workflows run in a bubblewrap
    sandbox that sees only their code and spec.workflow.inputs, read-only.

    When a version is serving (status.yaml, as the bot last wrote it), it runs on the same
    cases too, its code taken from the commit that recorded its trusted evidence: each case
    is reported improved, regressed or unchanged, with an exact McNemar p-value, and
    spec.dryRun.thresholds.noRegressionOn: [critical, TAG...] fails the run on a regression
    (or when the comparison cannot be made). Each judge assertion also compares the
    two versions' outputs side by side, asked in both orders, for a pairwise win rate
    (reported, never gated on).

    The reconcile workflow's dry-run job runs `ailoop dry-run --all --missing --trusted`:
    only the priorities no trusted run vouches for yet, in a job without a write token or
    the bot key; the next job commits what it wrote (`ailoop evidence commit`).

    Exit codes: 0 thresholds met; 1 not met; 2 bad input; 3 the provider was unreachable
    for every case (nothing written). With several priorities, the worst code wins.
    """
    root = repo_root(ctx)
    if not (keys or changed_since or every):
        also = " (--missing only narrows a selection)" if missing else ""
        raise InputError("name a priority (CUSTOMER/PRIORITY), or use --changed-since or "
                         f"--all{also}")
    selected = select_priorities(root, keys, changed_since=changed_since, every=every,
                                 shard=shard)
    if missing:
        from pipeline.reconcile.trusted_run import without_trusted_evidence

        selected = without_trusted_evidence(root, selected)
    if not selected:
        click.echo("No priority to dry-run.")
        return EXIT_OK
    moment = parse_now(now)
    reports, worst = [], EXIT_OK
    for key in selected:
        try:
            report = _run_one(root, key, moment, concurrency, not no_cache, since, trusted)
        except AiloopError as e:
            if len(selected) == 1:
                raise _redacted(e) from None
            click.echo(f"{key}: {_redacted(e)}", err=True)
            worst = max(worst, e.exit_code)
            continue
        reports.append(report)
        worst = max(worst, report.exit_code)
    _write_reports(reports, junit, markdown)
    return worst


def _run_one(root: str, key: str, now: datetime, concurrency: int | None, use_cache: bool,
             since: str | None, trusted: bool) -> DryRunReport:
    settings = DryRunSettings(root=root, key=key, now=now, env=dict(os.environ),
                              concurrency=concurrency, use_cache=use_cache, since=since,
                              progress=sys.stderr, trusted=trusted)
    report = run_dry_run(settings)
    click.echo(text_report(report.evidence, report.written.path, report.written.changed,
                           report.reused, report.diff,
                           report.versus.reused if report.versus else None))
    for warning in report.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    _capture_lessons(root, key, report, now)
    return report


def _capture_lessons(root: str, key: str, report: DryRunReport, now: datetime) -> None:
    from pipeline.documents.load import load_document
    from pipeline.lessons.memory import LessonStore, from_failure_categories

    categories = {str(c["category"]): int(c["count"])
                  for c in report.evidence.get("failureCategories") or []}
    if report.evidence.get("passed") or not categories:
        return
    doc, _ = load_document(root, f"customers/{key}/priority.yaml")
    if doc is None:
        return
    spec = doc.model.spec
    lessons = from_failure_categories(key, str(report.evidence["id"]), categories,
                                      tags=spec.tags, systems=[s.name for s in spec.systems],
                                      date=now.date())
    try:
        LessonStore(root).add(key.split("/", 1)[0], lessons)
    except InputError:
        pass  # lessons are a by-product: a priority with no customer file is validate's job


def _write_reports(reports: list[DryRunReport], junit: str | None,
                   markdown: str | None) -> None:
    if junit and reports:
        write_atomic(os.path.abspath(junit), _merged_junit(reports))
    if markdown and reports:
        text = "\n".join(summary_markdown(evidence_model(r.evidence), r.written.path)
                         for r in reports)
        write_atomic(os.path.abspath(markdown), text.encode())


def _merged_junit(reports: list[DryRunReport]) -> bytes:
    suites = ET.Element("testsuites", {"name": "ailoop dry-run"})
    for report in reports:
        suites.extend(ET.fromstring(junit_xml(report.evidence)).iter("testsuite"))
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data
