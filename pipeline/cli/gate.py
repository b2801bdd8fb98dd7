"""`ailoop gate`."""

from __future__ import annotations

import os

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.command("gate")
@click.option("--pr", "pr", type=click.IntRange(min=1), default=None, metavar="N",
              help="Pull request number (default: from the GitHub Actions event payload).")
@click.option("--base", "base", default=None, metavar="REF",
              help="Signed git approvals: the branch the change goes into (roles and keys "
              "are read there; the change is BASE..HEAD). The default when ailoop.yaml's "
              "approvals.source is git-signed and no pull request is given: origin/main.")
@click.pass_context
def gate_command(ctx: click.Context, pr: int | None, base: str | None) -> int:
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

    With signed git approvals (approvals.source: git-signed, or --base) it needs no forge:
    the approvals are the signed approval commits on HEAD (`ailoop approve`), checked
    against the signing keys and roles in customer.yaml on BASE; the authors of the
    change's commits never count. Governance changes stay waiting: they need the forge's
    code-owner review.

    \b
    Example:
      ailoop gate --base origin/main
    """
    from pipeline.approvals.gate import default_api_url, run_gate, settings_from_env
    from pipeline.approvals.report import render_text

    root = repo_root(ctx)
    in_actions = bool(os.environ.get("GITHUB_EVENT_PATH"))  # a pull request to read
    if base is not None or (pr is None and not in_actions and _source(root) == "git-signed"):
        from pipeline.approvals.signed_gate import gate_signed

        signed = gate_signed(root, base or "origin/main")
        click.echo(render_text(signed))
        return EXIT_OK if signed.satisfied else EXIT_FINDINGS
    settings = settings_from_env(os.environ, pr, default_api_url(root))
    gate = run_gate(root, settings)
    click.echo(render_text(gate))
    return EXIT_OK if gate.satisfied else EXIT_FINDINGS


def _source(root: str) -> str:
    from pipeline.reconcile.state import project_settings

    return project_settings(root).approvals.source
