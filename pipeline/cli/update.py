"""`ailoop update`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now
from pipeline.errors import EXIT_OK


@click.command("update")
@click.argument("key", metavar="CUSTOMER/PRIORITY")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True, help="Markdown, or self-contained HTML with SVG charts.")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Write here instead of customers/<c>/updates/<priority>-<date>.<format>.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print instead of writing a file.")
@now_option
@click.pass_context
def update_command(ctx: click.Context, key: str, fmt: str, out: str | None, to_stdout: bool,
                   now: str | None) -> int:
    """Write the customer-facing update for a priority, in plain language.

    It says what changed since the last update, where the workflow stands, the test
    results, production health, value against the plan, the next step with its date, and
    blockers with their owner. Personal data is redacted.
    """
    from pipeline.publish.publisher import publish_update

    result = publish_update(repo_root(ctx), key, parse_now(now), fmt=fmt, out=out,
                            write=not to_stdout)
    click.echo(result.text if to_stdout else f"wrote {result.path}", nl=not to_stdout)
    return EXIT_OK
