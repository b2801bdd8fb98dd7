"""`ailoop notify`."""

from __future__ import annotations

from datetime import datetime

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import parse_now
from pipeline.errors import EXIT_EXTERNAL, EXIT_OK, InputError


@click.group("notify")
def notify_command() -> None:
    """Send the notifications of the bot's recent commits, or a test message.

    Each state change the reconciler or a review commits is announced once: promoted,
    rolled back, held, blocked and review notices to the owner, approval requests to the
    holders of the awaited roles, customer updates and rollout moves to the customer's
    channel (customer.yaml notification: email, slack, teams, webhook; none: the outbox
    folder). `reconcile --push` and `review --push` send them after their push.
    """


@notify_command.command("send")
@click.option("--remote", default="origin", show_default=True,
              help="Where the ledger of sent notifications (git notes) is kept.")
@click.option("--no-push", is_flag=True, help="Do not fetch or push the ledger.")
@click.option("--now", "now", metavar="ISO", help="The time (UTC): commits of the 7 days "
              "before it are considered.")
@click.pass_context
def send_command(ctx: click.Context, remote: str, no_push: bool, now: str | None) -> int:
    """Send every notification the bot's commits of the last 7 days ask for and no earlier
    run delivered (at least once; each carries a stable id for receivers to drop repeats)."""
    from pipeline.reconcile.state import project_settings

    root = repo_root(ctx)
    if project_settings(root).notifications is None:
        raise InputError("notifications are not configured: add spec.notifications to "
                         "ailoop.yaml (README: 'Notifications')", path="ailoop.yaml")
    return send_pending(root, parse_now(now), remote=remote, push=not no_push)


def send_pending(root: str, now: datetime, *, remote: str = "origin", push: bool = True
                 ) -> int:
    """Deliver and print what happened; exit 3 when a delivery failed (it is retried)."""
    from pipeline.notify.deliver import deliver
    from pipeline.reconcile.state import project_settings

    report = deliver(root, project_settings(root), now, remote=remote, push=push)
    for d in report.sent:
        click.echo(f"notified {d.notice.subject} ({d.route}, id {d.id})")
    if report.outbox:
        click.echo(f"{len(report.outbox)} notification(s) written to the outbox.")
    for d, why in report.failed:
        click.echo(f"warning: not delivered, retried on the next run: {d.notice.subject}: "
                   f"{why}", err=True)
    if not report.recorded:
        click.echo("warning: the ledger of sent notifications could not be pushed; they may "
                   "be sent again (same ids)", err=True)
    return EXIT_EXTERNAL if report.failed else EXIT_OK


@notify_command.command("test")
@click.argument("customer")
@click.pass_context
def test_command(ctx: click.Context, customer: str) -> int:
    """Send a test message to CUSTOMER's notification channel.

    \b
    Example:
      NORTHWIND_WEBHOOK_URL=https://... ailoop notify test northwind-insurance
    """
    import hashlib
    import os
    import time

    from pipeline.notify.channels import DeliveryError
    from pipeline.notify.deliver import Delivery, send_one
    from pipeline.notify.notices import Notice
    from pipeline.reconcile.state import project_settings

    root = repo_root(ctx)
    if not os.path.isfile(os.path.join(root, "customers", customer, "customer.yaml")):
        raise InputError(f"no customer '{customer}' (customers/{customer}/customer.yaml)")
    stamp = str(time.time())
    nid = hashlib.sha256(f"test\0{customer}\0{stamp}".encode()).hexdigest()[:24]
    notice = Notice(nid, "test", customer, f"{customer}: ailoop test message",
                    "This is a test message from ailoop: notifications reach this channel.",
                    True)
    try:
        where = send_one(root, project_settings(root), Delivery(f"{nid}:channel", notice,
                                                                 "channel"))
    except DeliveryError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_EXTERNAL
    click.echo(f"Sent a test message to {customer} ({where}).")
    return EXIT_OK
