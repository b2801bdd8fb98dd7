"""`ailoop dataset add`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_OK


@click.group("dataset")
def dataset_command() -> None:
    """Grow a priority's dry-run dataset from what happened in production."""


@dataset_command.command("add", epilog="""\b
Examples:
  ailoop dataset add helio-saas/refund-requests --from-incident inc-2026-0042 \\
      --input case.json --expected '{"decision": "escalate", "rule": "high-amount"}'
  ailoop dataset add helio-saas/refund-requests --from-trace 3f2a9c... \\
      --traces /var/lib/refunds/traces.jsonl --expected @expected.json
""")
@click.argument("key", metavar="CUSTOMER/PRIORITY")
@click.option("--from-incident", "incident", default="", metavar="NAME",
              help="The Incident event (metadata.name in events/) the case reproduces.")
@click.option("--from-trace", "trace", default="", metavar="ID",
              help="A request ailoop-runtime recorded: its input becomes the case's input.")
@click.option("--traces", "traces_path", default="", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="The TraceStore's JSONL file (Runtime.for_priority(traces=FILE)).")
@click.option("--input", "input_path", default="", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="The case's input as a JSON object (when no trace has it).")
@click.option("--expected", default="", metavar="JSON|@FILE",
              help="The output the workflow should give; a customer reviewer confirms it.")
@click.option("--id", "case_id", default="", metavar="ID",
              help="Case id (default: regression-<incident or trace>).")
@click.option("--branch", default="", metavar="NAME",
              help="Branch to create (default: ailoop/regression/<priority>/<incident>).")
@click.pass_context
def add_command(ctx: click.Context, key: str, incident: str, trace: str, traces_path: str,
                input_path: str, expected: str, case_id: str, branch: str) -> int:
    """Turn an incident or a recorded trace into a regression case of CUSTOMER/PRIORITY.

    The case is redacted (the priority's personal fields and the detectors), tagged
    `regression`, marked critical and names its incident and trace. It is committed on a
    new branch, never on the one you are on, for a pull request: its expected output counts
    only once a customer-reviewer who is not the author approves that pull request. From
    then on the incident's fix cycle requires it: a new version releases the incident's
    hold, and ends it as `issue-fixed`, only when its dry run ran this case and it passed.
    """
    from pipeline.regression.add import AddRequest, add_regression_case

    root = repo_root(ctx)
    added = add_regression_case(root, AddRequest(
        key=key, incident=incident, trace=trace, traces_path=traces_path,
        input_path=input_path, expected=expected, case_id=case_id, branch=branch))
    ref = added.case.regression
    origin = ref.incident or ref.trace if ref else ""
    click.echo(f"added regression case {added.case.id} ({added.digest}) for {origin} to "
               f"{added.dataset} ({added.redacted} value(s) redacted)")
    click.echo(f"committed {added.commit[:12]} on new branch {added.branch}")
    click.echo("next:\n"
               f"  git push -u origin {added.branch}\n"
               "  open a pull request; a customer-reviewer who is not its author confirms the "
               "expected output by approving it\n"
               "  fix the workflow: the fix version's dry run must run this case and pass it "
               "before the incident's hold is released")
    return EXIT_OK
