"""`ailoop people github-ids`."""

from __future__ import annotations

import os

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.group("people")
def people_command() -> None:
    """The people in customer.yaml and their GitHub accounts."""


@people_command.command("github-ids")
@click.argument("customer")
@click.option("--write", is_flag=True,
              help="Add the missing githubId lines to customer.yaml (nothing else changes).")
@click.pass_context
def github_ids_command(ctx: click.Context, customer: str, write: bool) -> int:
    """Look up the numeric GitHub account id of every person with a github login.

    A review counts only from the account whose id is recorded as `githubId`: a login that
    was deleted and registered again by someone else does not. This prints, per person,
    whether the recorded id matches, which ids are missing, and logins that now belong to
    another account (exit 1; recorded ids are never changed). With --write the missing ids
    are added below each person's github line, keeping the rest of the file as it is; check
    that the accounts are the people you mean before merging the change.

    Uses GITHUB_TOKEN when set, and GITHUB_API_URL or ailoop.yaml's approvals.githubApiUrl.
    """
    from pipeline.approvals.gate import default_api_url
    from pipeline.approvals.github_ids import github_ids, render
    from pipeline.approvals.rest import Rest, make_client

    root = repo_root(ctx)
    api_url = os.environ.get("GITHUB_API_URL") or default_api_url(root)
    with make_client(api_url, os.environ.get("GITHUB_TOKEN", "")) as http:
        result = github_ids(root, customer, Rest(http), write=write)
    click.echo(render(result))
    return EXIT_FINDINGS if result.problems else EXIT_OK
