"""`ailoop init` and `ailoop new customer|priority`."""

from __future__ import annotations

import os

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_OK
from pipeline.scaffold.create import DEFAULT_CUSTOMER, DEFAULT_PRIORITY, RISKS, Scaffolded


def _report(result: Scaffolded, headline: str) -> int:
    click.echo(headline)
    schemas = [c for c in result.created if c.startswith("schemas/")]
    for rel in result.created:
        if rel not in schemas:
            click.echo(f"  created {rel}")
    if schemas:
        click.echo(f"  created schemas/ ({len(schemas)} JSON Schemas)")
    for note in result.notes:
        click.echo(note)
    click.echo(f"Next: {result.next_step}")
    return EXIT_OK


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--customer", default=DEFAULT_CUSTOMER, show_default=True,
              help="Name of the first customer.")
@click.option("--priority", default=DEFAULT_PRIORITY, show_default=True,
              help="Name of the first priority.")
@click.option("--no-bot-key", is_flag=True,
              help="Do not generate the bot's signing key pair (set spec.bot.signingKey "
              "yourself).")
@click.option("--ci", type=click.Choice(["github", "none"]), default="github",
              show_default=True, help="Write GitHub Actions workflows and a CODEOWNERS "
              "(none: write no CI).")
@click.option("--approvals", type=click.Choice(["git-signed", "github"]),
              default="git-signed", show_default=True,
              help="Where approvals come from: signed git commits, or GitHub PR reviews.")
@click.option("--action", "action_ref", metavar="OWNER/REPO@SHA",
              help="The ailoop action the workflows use (default: this ailoop's own commit "
              "when known, else its version tag).")
@click.option("--shards", type=int, default=0, show_default=True,
              help="Also write a reconcile workflow spread over N runners (0: none).")
@click.option("--maintainers", default="@your-org/ailoop-maintainers", show_default=True,
              help="Code owners of the governance files (a GitHub team or users).")
@click.option("--branch", default="main", show_default=True, help="The default branch.")
def init_command(directory: str, customer: str, priority: str, no_bot_key: bool, ci: str,
                 approvals: str, action_ref: str | None, shards: int, maintainers: str,
                 branch: str) -> int:
    """Scaffold a new ailoop GitOps repository in DIRECTORY (default: here).

    Writes ailoop.yaml, one customer with placeholder people, one priority with a small
    dataset and a Python workflow that passes its dry run, policies/, schemas/, a
    .gitignore and a README, and generates the bot's SSH signing key pair (ssh-keygen,
    ed25519): the public half goes into ailoop.yaml (spec.bot.signingKey), the private half
    into .ailoop/bot_signing_key, which .gitignore keeps out of git; store it as the CI
    secret AILOOP_BOT_SIGNING_KEY, then delete it. Existing files are never overwritten:
    if any file would be replaced, nothing is written and the command exits 2.

    With --ci github (the default) it also writes .github/workflows (the PR check,
    reconcile on push and hourly, the weekday review, and with --shards a sharded
    reconcile), each using the ailoop action pinned to a commit, with least-privilege
    permissions, and .github/CODEOWNERS for the governance files.

    \b
    Example:
      ailoop init my-rollouts --approvals github --maintainers @acme/ai-platform
    """
    from pipeline.scaffold.ci import CiOptions, action
    from pipeline.scaffold.create import init_repo

    options = None if ci == "none" else CiOptions(
        uses=action_ref or action(), approvals=approvals, branch=branch, shards=shards,
        maintainers=maintainers)
    result = init_repo(directory, customer, priority, bot_key=not no_bot_key, ci=options,
                       approvals=approvals)
    shown = os.path.relpath(result.root) if directory != "." else "."
    if directory != ".":
        result = Scaffolded(result.root, result.created,
                            f"cd {shown}, then {result.next_step}", result.notes)
    return _report(result, f"Initialised an ailoop repository in {shown}")


@click.group("new")
def new_command() -> None:
    """Add a customer or a priority to the repository from a template.

    The files validate as written; replace the placeholders (people with example.com
    addresses, the sample dataset and workflow) with the customer's real ones.
    """


@new_command.command("customer")
@click.argument("name")
@click.option("--display-name", help="Human-readable name (default: from NAME).")
@click.pass_context
def new_customer_command(ctx: click.Context, name: str, display_name: str | None) -> int:
    """Write customers/NAME/customer.yaml with placeholder people for every role."""
    from pipeline.scaffold.create import new_customer

    result = new_customer(repo_root(ctx), name, display_name)
    return _report(result, f"Added customer '{name}'")


@new_command.command("priority")
@click.argument("customer")
@click.argument("name")
@click.option("--risk", type=click.Choice(RISKS), default="medium", show_default=True,
              help="Risk level; high and critical add risk-officer approvals and longer bakes.")
@click.option("--owner", metavar="ID",
              help="Accountable person (an id in customer.yaml; default: the customer owner).")
@click.pass_context
def new_priority_command(ctx: click.Context, customer: str, name: str, risk: str,
                         owner: str | None) -> int:
    """Write customers/CUSTOMER/NAME/ with priority.yaml, dataset.jsonl and workflow.py."""
    from pipeline.lessons.memory import relevant_for, render_relevant
    from pipeline.scaffold.create import new_priority

    root = repo_root(ctx)
    result = new_priority(root, customer, name, risk, owner)
    code = _report(result, f"Added priority '{customer}/{name}' (risk {risk})")
    lessons = relevant_for(root, f"{customer}/{name}")
    if lessons:
        click.echo("Lessons from earlier work that may apply:")
        for line in render_relevant(lessons):
            click.echo(line)
    return code
