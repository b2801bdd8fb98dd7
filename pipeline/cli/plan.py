"""`ailoop plan`."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_OK, InputError


def parse_now(value: str | None) -> datetime:
    """--now ISO (tests and what-if questions), else the wall clock; always UTC."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: '{value}' is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InputError(f"--now: '{value}' needs a time zone, e.g. 2026-11-20T09:00:00Z")
    return when.astimezone(UTC)


@click.command("plan")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True, help="text for people, md for PR comments, json for tools.")
@click.option("--now", "now", metavar="ISO", help="Plan as if it were this time (UTC).")
@click.option("--no-cache", is_flag=True, help="Read every file again.")
@click.pass_context
def plan_command(ctx: click.Context, fmt: str, now: str | None, no_cache: bool) -> int:
    """Show what the reconciler would do for every priority, and why.

    Each line names the priority, what happens (promotes, holds, rolls back), the reason
    and the gate that decided it. Nothing is written.
    """
    from pipeline.apply import make_plan
    from pipeline.plan_report import PLAN_RENDERERS

    _state, result = make_plan(repo_root(ctx), parse_now(now), use_cache=not no_cache)
    click.echo(PLAN_RENDERERS[fmt](result), nl=False)
    return EXIT_OK
