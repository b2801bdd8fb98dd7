"""`ailoop review`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now
from pipeline.errors import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, InputError

if TYPE_CHECKING:
    from pipeline.review.run import Review

_KEY = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


@click.command("review")
@click.argument("target", required=False, metavar="CUSTOMER/PRIORITY")
@click.option("--due", is_flag=True,
              help="Review every priority whose review is due (the scheduled CI job).")
@now_option
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True, help="text for people, md for PRs and issues, json for tools.")
@click.option("--no-record", is_flag=True,
              help="Only show the review; do not write status.yaml or commit.")
@click.option("--push", is_flag=True, help="Push the review commit to origin.")
@click.pass_context
def review_command(ctx: click.Context, target: str | None, due: bool, now: str | None,
                   fmt: str, no_record: bool, push: bool) -> int:
    """Run the scheduled operations review of CUSTOMER/PRIORITY.

    Shows the health of every monitoring gate, incidents and feedback since the last review,
    cost, ROI against the hypothesis and dry-run drift (spec.review.driftCheck), then records
    the outcome in status.yaml and commits it: healthy-review with the next check date from
    spec.review.cadence, or blocked with the priority's owner and the issues found.

    Exit 0 when healthy, 1 when the review found issues, 2 on bad input, 3 when monitoring
    (or git) failed; then nothing is recorded.
    """
    from pipeline.review.report import RENDERERS

    if bool(target) == due:
        click.echo("error: give CUSTOMER/PRIORITY or --due (one of them)", err=True)
        return EXIT_INPUT
    root, moment = repo_root(ctx), parse_now(now)
    keys = [target] if target else due_keys(root, moment)
    code = EXIT_OK
    for key in keys:
        review = run_review(root, key, moment, record=not no_record, push=push)
        click.echo(RENDERERS[fmt](review), nl=False)
        code = max(code, EXIT_OK if review.healthy else EXIT_FINDINGS)
    if due and not keys:
        click.echo("No reviews are due.", err=True)
    if push and keys and not no_record:
        from pipeline.cli.notify import send_pending

        send_pending(root, moment)  # a failed send never changes the review's outcome
    return code


def due_keys(root: str, now: datetime) -> list[str]:
    from pipeline.documents.layout import priority_keys
    from pipeline.documents.load import load_status
    from pipeline.review.run import load_events, review_is_due

    return [k for k in priority_keys(root)
            if review_is_due(load_status(root, k), load_events(root, k), now)]


def run_review(root: str, key: str, now: datetime, *, record: bool,
               push: bool = False) -> Review:
    import httpx

    from pipeline.documents.load import load_priority
    from pipeline.monitoring.sources import source_for
    from pipeline.reconcile.state import project_settings
    from pipeline.review import run as core

    if not _KEY.match(key):
        raise InputError(f"'{key}' is not CUSTOMER/PRIORITY (lower-case names)")
    project = project_settings(root)
    priority = load_priority(root, key)
    with httpx.Client() as client:
        source = source_for(root, project, priority.spec.monitoring, client)
        inputs = core.gather(root, key, now, source, drift=core.dry_run_drift)
    review = core.decide(inputs)
    if record:
        core.record(root, review, push=push)
    return review
