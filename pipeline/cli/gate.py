"""`ailoop gate`."""

from __future__ import annotations

import os

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.command("gate")
@click.option("--pr", "pr", type=click.IntRange(min=1), default=None, metavar="N",
              help="Pull request number (default: from the GitHub Actions event payload).")
@click.pass_context
def gate_command(ctx: click.Context, pr: int | None) -> int:
    """Evaluate every approval gate a pull request touches.

    For each priority the pull request changes, the stages it asks for need reviews from
    the roles the stage and the guardrails require (risk-officer for high risk, a human for
    exposed actions); governance files need a policy-owner. Only APPROVED reviews on the
    head commit count, by people holding the role in customer.yaml on the base branch, never
    the author or bots, and only from verified reviewers: the account id recorded as
    githubId, and access to the repository (what cannot be verified does not count).
    Prints which roles still have to approve which stage and exits 1
    while any gate is unmet. In GitHub Actions it also sets the commit status
    `ailoop/approvals` on the head commit and writes the step summary.

    Needs GITHUB_TOKEN and GITHUB_REPOSITORY; the work tree must be the pull request's head.
    """
    from pipeline.approvals.gate import default_api_url, run_gate, settings_from_env
    from pipeline.approvals.report import render_text

    root = repo_root(ctx)
    settings = settings_from_env(os.environ, pr, default_api_url(root))
    gate = run_gate(root, settings)
    click.echo(render_text(gate))
    return EXIT_OK if gate.satisfied else EXIT_FINDINGS
