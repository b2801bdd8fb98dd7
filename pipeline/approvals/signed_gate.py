"""The approval gates of a change in a repository whose approvals are signed git commits:
the same verdicts `ailoop gate` gives a GitHub pull request, from the signed approval
commits of the change (BASE..HEAD), with roles, keys and where each priority stands read
from BASE (never from the change itself).

Who wrote the change never approves it: the authors of the change's commits that change
files (approval commits change none) are matched to people by e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import git
from pipeline.approvals.context import (
    authors_of_change,
    base_customer,
    base_priority,
    base_status,
    change_authors,
    current_fingerprint,
    not_by_an_author,
    people_of,
    roles_of,
)
from pipeline.approvals.evaluate import Facts, Verdict, evaluate_stage
from pipeline.approvals.pull import required_for, touched_priorities
from pipeline.approvals.regression import (
    case_requirements,
    dataset_regression_cases,
    unconfirmed,
)
from pipeline.approvals.requirements import GOVERNANCE, governance_requirements, stages_to_approve
from pipeline.approvals.signed import SignedApprovals
from pipeline.documents.evidence import Fingerprint, read_evidence_with_problems
from pipeline.documents.layout import people_paths, priority_dir
from pipeline.errors import GitError, InputError

# Governance changes need the forge's code-owner review; signed approvals of them do not
# exist yet, so the gate holds them rather than pass them unreviewed.
GOVERNANCE_HOLD = ("governance files changed: with git-signed approvals they need a "
                   "policy-owner's code-owner review in the forge (branch protection), which "
                   "this check cannot see; it stays waiting so a person merges it knowingly")


@dataclass(frozen=True)
class ChangeRange:
    """What a change is: the commits on HEAD that are not on BASE."""

    base: str  # the ref as named, e.g. origin/main
    base_sha: str  # its tip: roles, keys, status and the spec before the change are read here
    start: str  # the merge base of BASE and HEAD: the change is start..head
    head: str


@dataclass(frozen=True)
class SignedGate:
    change: ChangeRange
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...] = ()

    @property
    def satisfied(self) -> bool:
        return all(v.satisfied for v in self.verdicts)

    @property
    def head(self) -> str:
        return self.change.head

    @property
    def heading(self) -> str:
        c = self.change
        return (f"changes {c.start[:12]}..{c.head[:12]} (signed git approvals; roles and keys "
                f"from {c.base})")


def change_range(root: str, base: str | None, head: str, env: Mapping[str, str]) -> ChangeRange:
    """BASE as given; else the branch a GitHub pull request goes into (GITHUB_BASE_REF);
    else origin's default branch."""
    name, what = _base_name(root, base, env)
    base_sha = _commit(root, name, what)
    head_sha = _commit(root, head, "--head")
    try:
        start = git.merge_base(root, base_sha, head_sha)
    except GitError:
        raise InputError(f"{head} and {name} have no common history") from None
    return ChangeRange(name, base_sha, start, head_sha)


def _base_name(root: str, base: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    if base:
        return base, "--base"
    if env.get("GITHUB_BASE_REF"):
        return f"origin/{env['GITHUB_BASE_REF']}", "GITHUB_BASE_REF"
    found = git.remote_default_branch(root)
    if found is None:
        raise InputError("cannot tell the branch this change goes into: the repository has "
                         "no remote 'origin' with a default branch; pass --base REF")
    return found, "origin's default branch"


def _commit(root: str, ref: str, what: str) -> str:
    try:
        return git.rev_parse(root, ref)
    except GitError:
        raise InputError(f"{what} {ref}: not a commit in this repository (fetch it first: "
                         "git fetch origin)") from None


def gate_signed(root: str, change: ChangeRange) -> SignedGate:
    """Every gate the change touches; the work tree must hold the head's priorities (their
    evidence id is computed from it)."""
    files = tuple(git.changed_between(root, change.start, change.head))
    keys = touched_priorities(root, files)
    for key in keys:
        _same_as_head(root, key, change)
    verdicts: list[Verdict] = []
    for key in keys:
        verdicts.extend(_priority_verdicts(root, key, change))
    governance = governance_requirements(files)
    if governance:
        first = governance[0]
        verdicts.append(Verdict(first.priority, GOVERNANCE, (), problems=(GOVERNANCE_HOLD,)))
    return SignedGate(change, tuple(verdicts))


def _same_as_head(root: str, key: str, change: ChangeRange) -> None:
    head = change.head[:12]
    if git.same_content(root, change.head, people_paths(key)):
        return
    if change.head == git.head(root):
        raise InputError(f"{priority_dir(key)} has changes that are not committed; commit "
                         "them first (approvals bind to what is committed)")
    raise InputError(f"{priority_dir(key)} in the work tree is not what it is at {head} "
                     f"(--head); check out {head} to judge it")


def _priority_verdicts(root: str, key: str, change: ChangeRange) -> list[Verdict]:
    priority, fp = current_fingerprint(root, key)
    status = base_status(root, change.base_sha, key)
    stages = stages_to_approve(priority, status, fp.evidence_id)
    cases = unconfirmed(dataset_regression_cases(root, key, priority), status)
    if not stages and not cases:
        return []
    people = people_of(base_customer(root, change.base_sha, key.split("/")[0]))
    wrote = authors_of_change(root, change.start, change.head, people)
    approvals = [not_by_an_author(a, wrote) for a in SignedApprovals(
        root, base=change.base_sha, rev=change.head, since=change.start,
        base_name=change.base).approvals(key)]
    facts = Facts(fp.evidence_id, roles_of(people), authors=frozenset(wrote),
                  change_authors=change_authors(root, change.head, key, priority, people),
                  current=fp, known=_known(root, key))
    before = base_priority(root, change.base_sha, key)
    gates = [*(required_for(key, priority, before, s) for s in stages),
             *case_requirements(key, cases)]
    return [evaluate_stage(needed, approvals, facts) for needed in gates if needed]


def _known(root: str, key: str) -> dict[str, Fingerprint]:
    """Evidence id -> what it was computed from, to say what changed since a stale approval
    (only for the message: a file's claim about itself decides nothing)."""
    found, _ = read_evidence_with_problems(root, key)
    return {s.evidence_id: s.fingerprint for s in found}
