"""`ailoop reconcile`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import parse_now, shard_option
from pipeline.errors import EXIT_EXTERNAL, EXIT_OK
from pipeline.reconcile.apply import ReconcileResult
from pipeline.reconcile.plan import SIDE_KINDS, Plan, unreachable_systems
from pipeline.reconcile.shard import parse_shard


@click.command("reconcile")
@click.option("--push", is_flag=True, help="Push the commit; on a rejected push fetch, replan "
              "on the new head and retry (never forces).")
@click.option("--now", "now", metavar="ISO", help="Reconcile as if it were this time (UTC).")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option("--no-cache", is_flag=True, help="Read every file again.")
@shard_option
@click.pass_context
def reconcile_command(ctx: click.Context, push: bool, now: str | None, remote: str,
                      no_cache: bool, shard: str | None) -> int:
    """Apply the plan: advance at most one stage, hold, or roll back; write status and
    flags; commit with Ailoop-* trailers; push with --push.

    A run with nothing new writes nothing and prints "No changes".
    """
    from pipeline.publish.outputs import after_reconcile
    from pipeline.reconcile.apply import ReconcileOptions, reconcile

    result = reconcile(ReconcileOptions(repo_root(ctx), parse_now(now), push=push,
                                        remote=remote, use_cache=not no_cache,
                                        shard=parse_shard(shard) if shard else None,
                                        tell=after_reconcile))
    code = _report(result, remote)
    if push:  # after the push: a failed send never changes the outcome (retried next run)
        from pipeline.cli.notify import send_pending

        send_pending(repo_root(ctx), parse_now(now), remote=remote)
    return code


def _report(result: ReconcileResult, remote: str) -> int:
    from pipeline.reconcile.apply import summary_line

    code = report_unreachable(result.plan)
    if result.recovered:
        click.echo(f"Recomputed {len(result.recovered)} file(s) a previous run left "
                   "uncommitted.")
    if not result.changed:
        click.echo("No changes")
        return code
    for p in result.plan.changes:
        click.echo(f"{summary_line(p)}: {p.primary.reason}")
        for action in p.actions:  # what else moved in the same run (a replace, then a promote)
            if action is not p.primary and action.kind not in SIDE_KINDS | {"none", "hold"}:
                click.echo(f"  then: {action.reason}")
    if result.commit:
        click.echo(f"Committed {result.commit[:12]} ({len(result.written)} files).")
    if result.pushed:
        click.echo(f"Pushed to {remote} (attempt {result.attempts}).")
    return code


def report_unreachable(result: Plan) -> int:
    """Exit 3 when an external system failed: those priorities held (never promoted);
    the others were still reconciled."""
    failed = unreachable_systems(result)
    for action in failed:
        click.echo(f"error: {action.key}: {action.reason}", err=True)
    return EXIT_EXTERNAL if failed else EXIT_OK
