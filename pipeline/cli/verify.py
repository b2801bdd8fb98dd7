"""`ailoop verify`."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:
    from pipeline.reconcile.verify import Chain


@click.command("verify", epilog="""\b
Exit codes: 0 verified, 1 a link is broken (the first one is named), 2 bad input,
3 git, a signature tool or the approval source failed (nothing is known).
\b
Example:
  ailoop verify acme/triage
  ailoop verify acme/triage --format json""")
@click.argument("key", metavar="CUSTOMER/PRIORITY")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def verify_command(ctx: click.Context, key: str, fmt: str) -> int:
    """Check the whole chain behind what a priority serves and tries, on HEAD: status.yaml
    is the bot's; the candidate's and the serving version's evidence is a trusted run's,
    agrees with its in-toto statement and with the files it was run on; the approvals the
    status used still hold; every governance change had its approvals; the flag serves what
    the status says. Stops at the first broken link and names it. The reconciler checks the
    same links before every promotion."""
    from pipeline.approvals import source_for
    from pipeline.documents.layout import unknown_priority
    from pipeline.reconcile.apply import governance_of
    from pipeline.reconcile.state import project_settings
    from pipeline.reconcile.verify import verify

    root = repo_root(ctx)
    project = project_settings(root)
    if not _is_priority(root, key):
        raise unknown_priority(root, key)
    chain = verify(root, key, source_for(root, project.approvals),
                   governance_of(root, project))
    if fmt == "json":
        click.echo(json.dumps(chain.to_json(), indent=2))
    else:
        click.echo(_text(chain), nl=False)
    return EXIT_FINDINGS if chain.broken else EXIT_OK


def _is_priority(root: str, key: str) -> bool:
    from pipeline.documents.layout import KEY_RE, PRIORITY_FILE, priority_dir

    return bool(KEY_RE.match(key)) and os.path.isfile(
        os.path.join(root, priority_dir(key), PRIORITY_FILE))


def _text(chain: Chain) -> str:
    broken = chain.broken
    width = max(len(link.name) for link in chain.links)
    head = f"{chain.key}: verified ({len(chain.links)} links)" if broken is None else \
        f"{chain.key}: BROKEN at {broken.name}: {broken.detail}"
    rows = [f"  {'BROKEN' if link.broken else 'ok':<6}  {link.name:<{width}}  {link.detail}"
            for link in chain.links]
    return "\n".join([head, *rows]) + "\n"
