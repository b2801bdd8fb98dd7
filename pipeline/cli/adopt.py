"""`ailoop adopt`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import parse_now
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.command("adopt")
@click.option("--push", is_flag=True, help="Push the commit (retries on a rejected push).")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option("--now", "now", metavar="ISO", help="Record this adoption time (UTC).")
@click.pass_context
def adopt_command(ctx: click.Context, push: bool, remote: str, now: str | None) -> int:
    """Sign, as the bot, the status files an ailoop from before the bot key wrote.

    Once a repository sets up `spec.bot.signingKey`, the reconciler trusts only status
    files written by signed bot commits, so files from earlier runs hold their priorities.
    Run this once, on the default branch, with AILOOP_BOT_SIGNING_KEY naming the bot's
    private key: it rewrites them (migrating an old format) in one signed commit.

    It adopts only files last changed no later than the commit that set up the key; an
    edit made after it is a hand edit: revert it. Any refused file stops the adoption
    (exit 1, nothing committed).

    \b
    Example:
      AILOOP_BOT_SIGNING_KEY=~/.ssh/ailoop_bot ailoop adopt --push
    """
    from pipeline.reconcile.adopt import adopt
    from pipeline.reconcile.apply import ReconcileOptions

    done = adopt(ReconcileOptions(repo_root(ctx), parse_now(now), push=push, remote=remote))
    for refused in done.refused:
        click.echo(f"refused {refused.path}: {refused.refused}")
    if done.refused:
        click.echo(f"Nothing adopted: {len(done.refused)} file(s) refused.")
        return EXIT_FINDINGS
    if done.result is None:
        click.echo("Nothing to adopt: every status.yaml is the bot's.")
        return EXIT_OK
    for path in done.adopted:
        click.echo(f"adopted {path}")
    if done.result.commit:
        click.echo(f"Committed {done.result.commit[:12]}.")
    if done.result.pushed:
        click.echo(f"Pushed to {remote}.")
    return EXIT_OK
