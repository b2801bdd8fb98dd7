"""`ailoop standby`: look at or stop the warm standby of small validate runs."""

from __future__ import annotations

import click

from pipeline.errors import EXIT_OK


@click.command("standby")
@click.argument("action", type=click.Choice(["status", "stop"]), default="status")
def standby_command(action: str) -> int:
    """Show (status) or stop the standby that small `validate` runs leave behind.

    A `validate` over a few files (--changed-since, or paths) leaves a process that has
    already imported what checking needs; later runs of the same installation ask it for
    a warm checker instead of importing everything again. It exits by itself after
    AILOOP_STANDBY_IDLE seconds without a run (600), and when ailoop's code changes.
    AILOOP_STANDBY=off turns it off; it is off by default when CI is set.
    """
    from pipeline import standby

    if action == "stop":
        click.echo("standby: stopped" if standby.stop() else "standby: none running")
        return EXIT_OK
    state = standby.status()
    if state is None:
        on = "on" if standby.enabled() else "off"
        click.echo(f"standby: none running (standbys are {on} here)")
    else:
        click.echo(f"standby: running, pid {state['pid']}, served {state['served']} "
                   f"run(s), idle for {state['idle']:.0f}s")
    return EXIT_OK
