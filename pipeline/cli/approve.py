"""`ailoop approve`."""

from __future__ import annotations

import re

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_OK, InputError
from pipeline.model.base import ROLES

_KEY_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@click.command("approve")
@click.argument("key", metavar="CUSTOMER/PRIORITY", required=False)
@click.option("--stage", help="The stage to approve (the priority may enter it).")
@click.option("--case", "case", default="", metavar="ID",
              help="Instead of a stage: confirm the expected output of regression case ID "
                   "(as a customer-reviewer who did not write it).")
@click.option("--governance", "governance", default="", metavar="COMMIT",
              help="Instead of a stage: approve, as a policy-owner who did not write it, a "
                   "governance change that landed without approval (the reconciler holds "
                   "every promotion until it has one).")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="Approve as this role (repeatable; default: every role you hold that "
                   "the stage needs).")
@click.option("--key", "key_path", default="", metavar="PATH",
              help="SSH private key to sign with (default: git config user.signingkey).")
@click.option("--base", default="HEAD", show_default=True,
              help="Ref whose customer.yaml says who holds which role and signing key.")
@click.option("--push", is_flag=True, help="Push the approval commit to origin.")
@click.option("--write-signers", is_flag=True,
              help="Only (re)write the allowed-signers file (approvals.allowedSignersFile) "
                   "from every customer.yaml at --base, for `git verify-commit` by hand.")
@click.pass_context
def approve_command(ctx: click.Context, key: str | None, stage: str | None, case: str,
                    governance: str, roles: tuple[str, ...], key_path: str, base: str,
                    push: bool, write_signers: bool) -> int:
    """Record a signed git-native approval of a stage of CUSTOMER/PRIORITY.

    Makes an empty commit signed with your SSH key (git's SSH signing) whose trailers bind
    it to the stage, the priority and the current dry-run evidence id. It counts when the
    key is your signingKey in customer.yaml on the base branch, you hold a role the stage
    needs, and the evidence has not changed since. Use it where there is no forge API, or to
    approve a stage after merge.
    """
    from pipeline.approvals.record import ApproveRequest, record_approval

    root = repo_root(ctx)
    if write_signers:
        return _write_signers(root, base)
    if governance:
        if key or stage or case:
            raise InputError("--governance COMMIT approves a governance change: pass no "
                             "CUSTOMER/PRIORITY, --stage or --case with it")
        from pipeline.approvals.record import record_governance_approval

        done = record_governance_approval(root, governance, key_path)
        click.echo(f"recorded approval {done.sha[:12]}: {done.person} approves governance "
                   f"change {done.evidence_id[:12]} as policy-owner")
        return _pushed(root, push)
    if not key or not _KEY_RE.match(key):
        raise InputError(f"expected CUSTOMER/PRIORITY, got '{key or ''}'")
    if bool(stage) == bool(case):
        raise InputError("pass --stage S (approve a stage) or --case ID (confirm a regression "
                         "case), one of them")
    done = record_approval(root, ApproveRequest(key, stage or "", roles, key_path, base, case))
    what = f"confirms regression case {case} of {key}" if case else \
        f"approves {key} stage {stage}"
    click.echo(f"recorded approval {done.sha[:12]}: {done.person} {what} as "
               f"{', '.join(done.roles)} on evidence {done.evidence_id}"
               + ("" if done.passed else " (note: that dry run did not pass)"))
    return _pushed(root, push)


def _pushed(root: str, push: bool) -> int:
    if push:
        from pipeline import git

        git.push_branch(root)
        click.echo("pushed to origin")
    return EXIT_OK


def _write_signers(root: str, base: str) -> int:
    from pipeline.approvals.signed import write_allowed_signers
    from pipeline.documents.load import load_document

    doc, _ = load_document(root, "ailoop.yaml")
    rel = doc.model.spec.approvals.allowed_signers_file if doc else ".ailoop/allowed_signers"
    count = write_allowed_signers(root, base, rel)
    click.echo(f"wrote {rel} ({count} signing keys from customer.yaml at {base})")
    return EXIT_OK
