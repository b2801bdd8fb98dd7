"""`ailoop policy test` and `ailoop policy explain RULE-ID`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK


@click.group("policy")
def policy_command() -> None:
    """Test and explain the policies: the repo's rules (policies/*.yaml) and the built-in
    guardrails that every repo gets."""


@policy_command.command("test")
@click.pass_context
def test_command(ctx: click.Context) -> int:
    """Run the built-in guardrail tests and every test file under policies/tests/.

    Each case must pass, or fail with exactly the expected rule ids and messages.
    Exit 0 when all pass, 1 on any failure.
    """
    from pipeline.policy.testing import render_report, run_tests

    report = run_tests(repo_root(ctx))
    click.echo(render_report(report), nl=False)
    return EXIT_FINDINGS if report.failed else EXIT_OK


@policy_command.command("explain")
@click.argument("rule_id", metavar="RULE-ID")
@click.pass_context
def explain_command(ctx: click.Context, rule_id: str) -> int:
    """Print what RULE-ID checks, where it is defined and an example that fails it."""
    from pipeline.policy.explain import explain

    click.echo(explain(repo_root(ctx), rule_id), nl=False)
    return EXIT_OK
