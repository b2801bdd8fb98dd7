"""`ailoop plan`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import parse_now, shard_option
from pipeline.reconcile.plan import Plan


@click.command("plan")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text",
              show_default=True, help="text for people, md for PR comments, json for tools.")
@click.option("--now", "now", metavar="ISO", help="Plan as if it were this time (UTC).")
@click.option("--no-cache", is_flag=True, help="Read every file again.")
@shard_option
@click.pass_context
def plan_command(ctx: click.Context, fmt: str, now: str | None, no_cache: bool,
                 shard: str | None) -> int:
    """Show what the reconciler would do for every priority, and why.

    Each line names the priority, what happens (promotes, holds, rolls back), the reason
    and the gate that decided it. Nothing is written.
    """
    from pipeline.cli.reconcile import report_unreachable
    from pipeline.reconcile.apply import make_plan
    from pipeline.reconcile.report import PLAN_RENDERERS
    from pipeline.reconcile.shard import parse_shard

    root = repo_root(ctx)
    _state, result = make_plan(root, parse_now(now), use_cache=not no_cache,
                               shard=parse_shard(shard) if shard else None)
    click.echo(PLAN_RENDERERS[fmt](result), nl=False)
    if fmt == "text":
        _show_lessons(root, result)
    return report_unreachable(result)


def _show_lessons(root: str, result: Plan) -> None:
    """The lessons relevant to priorities that need work, so the next run starts there."""
    from pipeline.lessons.memory import relevant_for, render_relevant

    for p in result.priorities:
        if p.primary.kind in ("dry-run-needed", "blocked", "rollback") or \
                p.status.phase in ("rolled-back", "blocked", "dry-run"):
            lines = render_relevant(relevant_for(root, p.key, limit=3))
            if lines:
                click.echo(f"Lessons for {p.key}:")
                for line in lines:
                    click.echo(line)
