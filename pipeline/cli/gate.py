"""`ailoop gate`."""

from __future__ import annotations

import os

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK, InputError


@click.command("gate")
@click.option("--pr", "pr", type=click.IntRange(min=1), default=None, metavar="N",
              help="Pull request number (default: from the GitHub Actions event payload).")
@click.option("--base", "base", default=None, metavar="REF",
              help="Signed git approvals: the branch the change goes into; roles, keys and "
              "where each priority stands are read at its tip, and the change is the commits "
              "on --head that are not on it. Default: origin/$GITHUB_BASE_REF when set, else "
              "origin's default branch.")
@click.option("--head", "head", default=None, metavar="REF",
              help="Signed git approvals: the commit judged (default: HEAD). The work tree "
              "must hold what it holds for the priorities the change touches.")
@click.pass_context
def gate_command(ctx: click.Context, pr: int | None, base: str | None,
                 head: str | None) -> int:
    """Evaluate every approval gate a pull request touches.

    For each priority the pull request changes, the stages it asks for need approvals from
    the roles the stage and the guardrails require (risk-officer for high risk, a human for
    exposed actions); governance files need a policy-owner. Prints which roles still have
    to approve which stage, and every approval that does not count with the reason, and
    exits 1 while any gate is unmet.

    With approvals.source github: only APPROVED reviews on the head commit count, by people
    holding the role in customer.yaml on the base branch, never the author or bots, and only
    from verified reviewers (the account id recorded as githubId, and access to the
    repository). In GitHub Actions it also sets the commit status `ailoop/approvals` on the
    head commit and writes the step summary. Needs GITHUB_TOKEN and GITHUB_REPOSITORY; the
    work tree must be the pull request's head.

    With approvals.source git-signed (or --base/--head) it needs no forge: the approvals are
    the signed approval commits of the change (`ailoop approve`), checked against the
    signing keys and roles in customer.yaml on the base branch; whoever wrote a commit of
    the change never counts. Governance changes stay waiting: they need the forge's
    code-owner review. With GITHUB_TOKEN and GITHUB_REPOSITORY set it also sets the commit
    status `ailoop/approvals` on the head commit and writes the step summary.

    \b
    Examples:
      ailoop gate                       # approvals.source decides
      ailoop gate --base origin/main --head HEAD
    """
    root = repo_root(ctx)
    if pr is not None and (base is not None or head is not None):
        raise click.UsageError("--pr reads a pull request's reviews; --base and --head judge "
                               "signed git approvals: use one or the other")
    signed = base is not None or head is not None
    if not signed and pr is None:
        source = _source(root)
        if source == "file":
            raise InputError(FILE_SOURCE, path="ailoop.yaml")
        signed = source == "git-signed"
    return _signed(root, base, head or "HEAD") if signed else _github(root, pr)


FILE_SOURCE = ("spec.approvals.source is file: approval files are only for trying ailoop "
               "locally (any pull request author can commit one), so no pre-merge check "
               "trusts them; `ailoop plan` shows what they approve. Use git-signed or github")


def _github(root: str, pr: int | None) -> int:
    from pipeline.approvals.gate import default_api_url, run_gate, settings_from_env
    from pipeline.approvals.report import render_text

    gate = run_gate(root, settings_from_env(os.environ, pr, default_api_url(root)))
    click.echo(render_text(gate))
    return EXIT_OK if gate.satisfied else EXIT_FINDINGS


def _signed(root: str, base: str | None, head: str) -> int:
    from pipeline.approvals.gate import default_api_url, publish_commit, status_target
    from pipeline.approvals.report import render_text
    from pipeline.approvals.signed_gate import change_range, gate_signed

    gate = gate_signed(root, change_range(root, base, head, os.environ))
    target = status_target(os.environ, default_api_url(root))
    if target is not None:
        publish_commit(target, gate.head, gate)
    click.echo(render_text(gate))
    return EXIT_OK if gate.satisfied else EXIT_FINDINGS


def _source(root: str) -> str:
    from pipeline.reconcile.state import project_settings

    return project_settings(root).approvals.source
