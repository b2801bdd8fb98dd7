"""`ailoop schemas`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.command("schemas")
@click.option("--check", is_flag=True, help="Exit 1 when the files in schemas/ are stale.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder to write to (default: schemas/ in the repository).")
@click.pass_context
def schemas_command(ctx: click.Context, check: bool, out: str | None) -> int:
    """Write a JSON Schema (draft 2020-12) per kind, generated from the models.

    Editors use them for completion and inline errors via the
    `# yaml-language-server: $schema=...` line at the top of each file.
    """
    import os

    from pipeline.documents.schemas import stale_schemas, write_schemas

    folder = out or os.path.join(repo_root(ctx), "schemas")
    if check:
        stale = stale_schemas(folder)
        for name in stale:
            click.echo(f"{os.path.join(folder, name)}: stale; run `ailoop schemas`")
        if not stale:
            click.echo("Schemas are up to date.")
        return EXIT_FINDINGS if stale else EXIT_OK
    for name in write_schemas(folder):
        click.echo(f"wrote {os.path.join(folder, name)}")
    return EXIT_OK
