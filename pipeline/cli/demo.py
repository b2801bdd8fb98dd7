"""`ailoop demo`."""

from __future__ import annotations

import click

from pipeline.errors import EXIT_OK


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Where to build the demo (default: a new temporary folder).")
@click.option("--example", "example", type=click.Path(file_okay=False, exists=True),
              default=None, help="The example repository to start from (default: bundled).")
def demo_command(folder: str | None, example: str | None) -> int:
    """Run the whole loop on the bundled example, offline, with no API key.

    A new priority arrives by PR, validation finds a typo, the dry run fails on German
    e-mails, the workflow is fixed, signed approvals are given on the new evidence, the
    rollout walks shadow -> 5% -> 25% -> 100% with bake times and healthy monitoring, a
    French e-mail misrouted in production becomes an incident that rolls it back, its
    trace becomes a confirmed regression case, the fix is re-released, a scheduled review
    is healthy, another priority is blocked with its owner, and the customer updates and
    the dashboard are written. Every step runs the same commands as the CI workflows, on
    real git.

    Production is ailoop-runtime, in-process: before each reconcile it serves the e-mails
    since the last one (drawn from the dataset, fixed seed, on the demo's clock) through
    the official flagd provider, with escalations held by the guard for a scripted
    handler, and the gates read only the readings it exports.
    """
    import tempfile
    from pathlib import Path

    from pipeline.demo.story import example_root, run_demo

    base = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="ailoop-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    if any(base.iterdir()):
        from pipeline.errors import InputError

        raise InputError(f"demo folder is not empty: {base}")
    click.echo(f"ailoop demo in {base}")
    from pipeline.cli.main import main

    run_demo(base, Path(example) if example else example_root(), click.echo, main)
    return EXIT_OK
