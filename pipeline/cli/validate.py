"""`ailoop validate`."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--changed-since", "changed_since", metavar="REF",
              help="Only validate what changed since this git ref (and what depends on it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text for people, json for tools, github for annotations.")
@click.option("--no-cache", is_flag=True, help="Ignore and do not update the results cache.")
@click.option("--jobs", type=click.IntRange(min=0), default=0,
              help="Worker processes for a cold run (0: one per core).")
@click.option("--now", "now", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S",
                                                  "%Y-%m-%dT%H:%M:%S%z"]), default=None,
              help="Judge waiver expiry as of this time (UTC unless given); for tests.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also say on stderr whether the cache was reused, and if not, why.")
@click.pass_context
def validate_command(ctx: click.Context, paths: tuple[str, ...], changed_since: str | None,
                     fmt: str, no_cache: bool, jobs: int, now: datetime | None,
                     verbose: bool) -> int:
    """Check documents against their schemas, the repository layout and cross-references.

    Every finding is reported at once as PATH:LINE:COL: FIELD: MESSAGE. Exit 0 when clean,
    1 on findings, 2 on unreadable input, 3 when git fails.
    """
    root = repo_root(ctx)
    changed = None
    if changed_since is not None:  # git first: it runs while the rest imports and reads
        from pipeline.git import start_changed_files

        changed = start_changed_files(root, changed_since)
    from pipeline.validate.report import RENDERERS
    from pipeline.validate.run import ValidateOptions, validate

    report = validate(ValidateOptions(root=root, paths=paths, changed_later=changed,
                                      use_cache=not no_cache, jobs=jobs,
                                      now=_utc(now), explain=_to_stderr if verbose else None))
    click.echo(RENDERERS[fmt](report.findings, report.files_checked), nl=False)
    return EXIT_FINDINGS if report.errors else EXIT_OK


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
