"""`ailoop comment`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now
from pipeline.errors import EXIT_OK

if TYPE_CHECKING:
    from pipeline.approvals.gate import GateSettings


@click.command("comment")
@click.option("--pr", "pr", type=int, default=None,
              help="Pull request number (default: from the GitHub event payload).")
@click.option("--base", "base", default=None, metavar="REF",
              help="Compare with this ref (default: origin/$GITHUB_BASE_REF, else origin/main).")
@click.option("--print", "only_print", is_flag=True,
              help="Print the comment instead of posting it (no GitHub access needed).")
@now_option
@click.pass_context
def comment_command(ctx: click.Context, pr: int | None, base: str | None, only_print: bool,
                    now: str | None) -> int:
    """Post (or update in place) the pull request's ailoop comment: the plan, validation
    findings, dry-run results with their diff, and the approvals still needed. The same text
    goes to the GitHub step summary. Needs GITHUB_TOKEN and GITHUB_REPOSITORY to post."""
    from pipeline.git import changed_files
    from pipeline.publish.prcomment import (
        CommentParts,
        append_summary,
        compose,
        dry_run_summaries,
        restrict,
        shadow_md,
        touched_keys,
    )
    from pipeline.reconcile.apply import make_plan
    from pipeline.validate.run import ValidateOptions, validate

    root = repo_root(ctx)
    moment = parse_now(now)
    ref = base or f"origin/{os.environ.get('GITHUB_BASE_REF') or 'main'}"
    changed = changed_files(root, ref)
    keys = touched_keys(changed)
    report = validate(ValidateOptions(root=root, changed=tuple(changed)))
    _state, plan = make_plan(root, moment)
    approvals = ""
    settings = None
    if not only_print:
        from pipeline.approvals.gate import default_api_url, settings_from_env

        settings = settings_from_env(os.environ, pr, default_api_url(root))
        approvals = _approvals_md(root, settings)
    body = compose(CommentParts(tuple(report.findings), report.files_checked,
                                restrict(plan, keys), dry_run_summaries(root, keys), approvals,
                                shadow_md(root, keys)),
                   moment)
    if settings is None:
        click.echo(body, nl=False)
        return EXIT_OK
    from pipeline.approvals.github import GitHubApi
    from pipeline.approvals.rest import make_client
    from pipeline.publish.prcomment import upsert

    with make_client(settings.api_url, settings.token) as http:
        outcome = upsert(GitHubApi(http, settings.repo), settings.number, body)
    append_summary(body)
    click.echo(f"PR #{settings.number}: comment {outcome}")
    return EXIT_OK


def _approvals_md(root: str, settings: GateSettings) -> str:
    from pipeline.approvals.github import GitHubApi
    from pipeline.approvals.pull import fetch_pull, gate_pull
    from pipeline.approvals.report import render_markdown
    from pipeline.approvals.rest import make_client

    with make_client(settings.api_url, settings.token) as http:
        api = GitHubApi(http, settings.repo)
        gate = gate_pull(root, fetch_pull(api, settings.number))
    return render_markdown(gate)
