"""`ailoop evidence commit`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_OK


@click.group("evidence")
def evidence_command() -> None:
    """Evidence of dry runs: only a trusted run's counts for a promotion."""


@evidence_command.command("commit", epilog="""\b
Example (the reconcile workflow's commit-evidence job, after the dry-run job's
`ailoop dry-run --all --missing --trusted` handed its evidence folders over as an
artifact, downloaded into trusted-evidence/):
  ailoop evidence commit trusted-evidence --push
""")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--push", is_flag=True, help="Push the commit; on a rejected push fetch, check "
              "again on the new head and retry (never forces).")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.pass_context
def commit_command(ctx: click.Context, folder: str, push: bool, remote: str) -> int:
    """Commit the evidence a trusted dry run wrote into DIR as one signed bot commit.

    DIR holds what `ailoop dry-run` wrote (<id>.json and <id>.intoto.json, in any
    sub-folders). Each file must fit the evidence model, sit next to its statement, and be
    the run of its priority as committed on HEAD (its id is HEAD's fingerprint). They are
    copied into each priority's evidence folder and committed as the bot (signed with the
    key AILOOP_BOT_SIGNING_KEY names) with Ailoop-* trailers. One refused file commits
    none (exit 2).
    """
    from datetime import UTC, datetime

    from pipeline.reconcile.apply import ReconcileOptions
    from pipeline.reconcile.trusted_run import commit_evidence

    done = commit_evidence(folder, ReconcileOptions(repo_root(ctx), datetime.now(UTC),
                                                    push=push, remote=remote))
    for s in done.summaries:
        result = "passed" if s.passed else "failed"
        click.echo(f"{s.priority}: dry run {s.evidence_id} {result} -> {s.path}")
    res = done.result
    if res.commit:
        click.echo(f"Committed {res.commit[:12]} ({len(res.written)} files).")
    else:
        click.echo("No changes (the same evidence is already committed)")
    if res.pushed:
        click.echo(f"Pushed to {remote} (attempt {res.attempts}).")
    return EXIT_OK
