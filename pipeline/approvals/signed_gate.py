"""The approval gates of a change in a repository whose approvals are signed git commits:
the same verdicts `ailoop gate` gives a GitHub pull request, from the signed approval
commits on HEAD, with roles and keys read from BASE (never from the change itself).

Who wrote the change never approves it: the authors of the commits between BASE and HEAD
(other than the approval commits themselves) are matched to people by e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import git
from pipeline.approvals.context import (
    base_customer,
    base_priority,
    base_status,
    change_authors,
    current_fingerprint,
    people_of,
    person_by_email,
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
from pipeline.approvals.signed import MARKER, SignedApprovals
from pipeline.model.customer import Person

# Governance changes need the forge's code-owner review; signed approvals of them do not
# exist yet, so the gate holds them rather than pass them unreviewed.
GOVERNANCE_HOLD = ("governance files changed: with git-signed approvals they need a "
                   "policy-owner's code-owner review in the forge (branch protection), which "
                   "this check cannot see; it stays waiting so a person merges it knowingly")


@dataclass(frozen=True)
class SignedGate:
    base: str
    head: str
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...] = ()

    @property
    def satisfied(self) -> bool:
        return all(v.satisfied for v in self.verdicts)

    @property
    def heading(self) -> str:
        return f"changes {self.base[:12]}..{self.head[:12]} (signed git approvals)"


def gate_signed(root: str, base: str) -> SignedGate:
    """Every gate the change from BASE to the work tree touches."""
    base_sha, head = git.rev_parse(root, base), git.head(root)
    files = tuple(git.changed_files(root, base_sha))
    verdicts: list[Verdict] = []
    for key in touched_priorities(root, files):
        verdicts.extend(_priority_verdicts(root, key, base_sha))
    governance = governance_requirements(files)
    if governance:
        first = governance[0]
        verdicts.append(Verdict(first.priority, GOVERNANCE, (), problems=(GOVERNANCE_HOLD,)))
    return SignedGate(base_sha, head, tuple(verdicts))


def _priority_verdicts(root: str, key: str, base: str) -> list[Verdict]:
    priority, fp = current_fingerprint(root, key)
    status = base_status(root, base, key)
    stages = stages_to_approve(priority, status, fp.evidence_id)
    cases = unconfirmed(dataset_regression_cases(root, key, priority), status)
    if not stages and not cases:
        return []
    people = people_of(base_customer(root, base, key.split("/")[0]))
    approvals = SignedApprovals(root, base=base, rev="HEAD").approvals(key)
    facts = Facts(fp.evidence_id, roles_of(people), authors=_authors(root, base, people),
                  change_authors=change_authors(root, "HEAD", key, priority, people),
                  current=fp)
    before = base_priority(root, base, key)
    gates = [*(required_for(key, priority, before, s) for s in stages),
             *case_requirements(key, cases)]
    return [evaluate_stage(needed, approvals, facts) for needed in gates if needed]


def _authors(root: str, base: str, people: list[Person]) -> frozenset[str]:
    """People who wrote commits of the change (approval commits aside)."""
    found = set()
    for email, message in git.commit_authors(root, base, "HEAD"):
        if f"\n{MARKER}:" in f"\n{message}":
            continue
        person = person_by_email(people, email)
        if person is not None:
            found.add(person.id)
    return frozenset(found)
