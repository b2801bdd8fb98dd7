"""`ailoop dry-run CUSTOMER/PRIORITY`: evaluate the workflow on its dataset, write evidence."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import click

from pipeline.cli.main import repo_root
from pipeline.dryrun.junit import junit_xml
from pipeline.dryrun.record import write_atomic
from pipeline.dryrun.redact import detectors_only
from pipeline.dryrun.report import text_report
from pipeline.dryrun.runner import DryRunSettings, run_dry_run
from pipeline.dryrun.summary_md import summary_markdown
from pipeline.errors import AiloopError, ExternalError, InputError


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: '{value}' is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _redacted(error: AiloopError) -> AiloopError:
    """Messages about the dataset may quote it: detectors still apply."""
    text = detectors_only().text(str(error))
    return ExternalError(text) if isinstance(error, ExternalError) else InputError(text)


@click.command("dry-run")
@click.argument("key", metavar="CUSTOMER/PRIORITY")
@click.option("--junit", "junit", type=click.Path(dir_okay=False),
              help="Also write the result as JUnit XML to this file.")
@click.option("--markdown", "markdown", type=click.Path(dir_okay=False),
              help="Also write a Markdown summary (for a pull-request comment) to this file.")
@click.option("--no-cache", is_flag=True, help="Run every case again, ignore cached results.")
@click.option("--concurrency", type=click.IntRange(1, 256),
              help="Cases run at the same time (default: spec.dryRun.concurrency).")
@click.option("--since", metavar="EVIDENCE",
              help="Compare with this evidence id instead of the previous run's.")
@click.option("--now", "now", hidden=True, help="Pin the clock (ISO 8601), for tests.")
@click.pass_context
def dry_run_command(ctx: click.Context, key: str, junit: str | None, markdown: str | None,
                    no_cache: bool, concurrency: int | None, since: str | None,
                    now: str | None) -> int:
    """Evaluate the priority's workflow on its dataset and write evidence.

    Runs every case of spec.dryRun.dataset through the workflow provider, checks the
    assertions and thresholds, and writes customers/C/P/evidence/<id>.json plus an in-toto
    statement next to it. The run is compared with the previous evidence (newly failing,
    fixed, still failing). Personal data is redacted from everything written or printed.

    Exit codes: 0 thresholds met; 1 not met; 2 bad input; 3 the provider was unreachable
    for every case (nothing written).
    """
    settings = DryRunSettings(root=repo_root(ctx), key=key.strip("/"), now=_parse_now(now),
                              env=dict(os.environ), concurrency=concurrency,
                              use_cache=not no_cache, since=since, progress=sys.stderr)
    try:
        report = run_dry_run(settings)
    except AiloopError as e:
        raise _redacted(e) from None
    evidence, path = report.evidence, report.written.path
    if junit:
        write_atomic(os.path.abspath(junit), junit_xml(evidence))
    if markdown:
        write_atomic(os.path.abspath(markdown), summary_markdown(evidence, path).encode())
    click.echo(text_report(evidence, path, report.written.changed, report.reused, report.diff))
    return report.exit_code
