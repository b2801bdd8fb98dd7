"""`ailoop status`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import parse_now
from pipeline.errors import EXIT_OK, InputError


@click.command("status")
@click.argument("target", required=False, metavar="[CUSTOMER[/PRIORITY]]")
@click.option("--now", "now", metavar="ISO", help="Evaluate gates as if it were this time.")
@click.option("--format", "fmt", type=click.Choice(["table", "wide", "json"]),
              default="table", show_default=True,
              help="table: cells cut to fit; wide: every cell whole; json: everything, "
              "including the review due date.")
@click.pass_context
def status_command(ctx: click.Context, target: str | None, now: str | None,
                   fmt: str) -> int:
    """Where every priority stands: phase, stage, percent (and the stage's segment, when
    it has `targeting`), health, next action (for a human review it waits on: outputs
    labelled and agreement), terminal state and next check."""
    from pipeline.reconcile.apply import default_sources
    from pipeline.reconcile.plan import plan
    from pipeline.reconcile.report import render_status, status_json, status_rows
    from pipeline.reconcile.state import load_repo, plan_inputs

    root = repo_root(ctx)
    when = parse_now(now)
    state = load_repo(root, only=target)
    if target and not state.locals:
        raise InputError(f"no priority matches '{target}'")
    sources = default_sources(root, state)
    inputs = plan_inputs(state, when, sources.approvals, sources.monitoring)
    result = plan(inputs, when)
    if fmt == "json":
        click.echo(status_json(inputs, result), nl=False)
    else:
        click.echo(render_status(status_rows(inputs, result), result, wide=fmt == "wide"),
                   nl=False)
    return EXIT_OK
