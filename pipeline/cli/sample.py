"""`ailoop sample`."""

from __future__ import annotations

import click

from pipeline.cli.main import repo_root
from pipeline.cli.options import now_option, parse_now
from pipeline.errors import EXIT_OK, InputError

FROM = ("dry-run", "traces", "both")


@click.command("sample", epilog="""\b
Examples:
  ailoop sample acme/triage --stage canary              # N from the stage's humanReview
  ailoop sample acme/triage --stage canary --n 20
  ailoop sample acme/triage --stage canary --from both  # dry run and shadow/production
  ailoop sample acme/triage --stage canary --to-calibration judge/calibration.jsonl
""")
@click.argument("key", metavar="CUSTOMER/PRIORITY")
@click.option("--stage", required=True, help="The stage whose humanReview the sample is for.")
@click.option("--n", "n", type=int, default=None, metavar="N",
              help="How many outputs to draw (default: the stage's humanReview.sample).")
@click.option("--from", "source", type=click.Choice(FROM), default="dry-run",
              show_default=True,
              help="Draw from the trusted dry run, from the candidate's production and "
                   "shadow traces (spec.monitoring.traces in ailoop.yaml: the traces of its "
                   "evidence id; no automated verdict, so a trace agrees when labelled "
                   "correct), or both.")
@click.option("--force", is_flag=True,
              help="Draw again over an existing review file (its labels are lost).")
@click.option("--to-calibration", "calibration", default="", metavar="FILE",
              help="Instead of drawing: append the review's labelled outputs to FILE (JSONL "
                   "of id, input, output, label, note), skipping ids already there.")
@now_option
@click.pass_context
def sample_command(ctx: click.Context, key: str, stage: str, n: int | None, source: str,
                   force: bool, calibration: str, now: str | None) -> int:
    """Draw outputs of CUSTOMER/PRIORITY's candidate for people to label.

    Writes customers/C/P/reviews/<stage>-<evidenceId>.yaml (kind HumanReview): N outputs of
    the trusted dry run of the candidate's fingerprint, stratified by first tag (one per
    tag when N allows, the rest in proportion), inputs and outputs redacted. Which outputs
    is fixed by the evidence id and the stage, so nobody picks the easy ones. Reviewers set
    each `label` to correct or wrong (with a `note`) and commit the file as they approve: a
    commit signed with their key, or a pull request their role approves. A stage with
    `humanReview: {sample: N, minAgreement: 0.9}` is entered only when every output is
    labelled by a holder of the stage's approval role and the labels agree with the dry
    run's verdicts often enough; a new fingerprint needs a new sample.
    """
    root = repo_root(ctx)
    if calibration:
        return _to_calibration(root, key, stage, calibration, n, force or source != "dry-run")
    from pipeline.humanreview.sample import SampleRequest, sample

    done = sample(root, SampleRequest(key.strip("/"), stage, n, force, parse_now(now), source))
    click.echo(f"wrote {done.path}: {done.description}; bound to evidence {done.evidence_id}")
    click.echo("next: label every output (label: correct|wrong, note) and commit it as you "
               "approve")
    return EXIT_OK


def _to_calibration(root: str, key: str, stage: str, target: str, n: int | None,
                    force: bool) -> int:
    if n is not None or force:
        raise InputError("--to-calibration reads a review: pass no --n, --from or --force "
                         "with it")
    from pipeline.humanreview.calibration import resolve_target, to_calibration

    done = to_calibration(root, key.strip("/"), stage, resolve_target(root, target))
    click.echo(f"appended {done.added} labelled outputs of {done.review} to {target} "
               f"({done.skipped} already there, {done.unlabelled} not labelled)")
    return EXIT_OK
