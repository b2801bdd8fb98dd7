"""The approval gates of one GitHub pull request: which stages it asks for, which roles
must approve them, and whether the reviews (on the head commit, by people holding those
roles on the base branch) are enough."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pipeline import git
from pipeline.approvals.base import Approval
from pipeline.approvals.context import (
    authors_of_change,
    base_customer,
    base_priority,
    base_status,
    current_fingerprint,
    not_by_an_author,
    people_of,
    person_by_login,
    roles_of,
    unchanged_since,
)
from pipeline.approvals.evaluate import Block, Facts, Verdict, evaluate_stage
from pipeline.approvals.github import (
    GitHubApi,
    PullRequest,
    ReviewOutcome,
    review_outcome,
)
from pipeline.approvals.identity import AccessCheck, RepoAccess, reviewer_problem
from pipeline.approvals.regression import (
    case_requirements,
    dataset_regression_cases,
    unconfirmed,
)
from pipeline.approvals.requirements import (
    ANY_STAGE,
    GOVERNANCE,
    Requirement,
    governance_requirements,
    stage_requirements,
    stages_to_approve,
)
from pipeline.documents.layout import CUSTOMERS, priority_dir, priority_of
from pipeline.model.customer import Person
from pipeline.model.priority import Priority

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PullSnapshot:
    pr: PullRequest
    files: tuple[str, ...]
    reviews: ReviewOutcome
    access: AccessCheck  # asks GitHub whether a reviewer has access, when it is needed


@dataclass(frozen=True)
class PullGate:
    pr: PullRequest
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...]  # reviews that do not count, and why

    @property
    def satisfied(self) -> bool:
        return all(v.satisfied for v in self.verdicts)

    @property
    def heading(self) -> str:
        return f"pull request #{self.pr.number} at {self.pr.head_sha[:12]}"


def fetch_pull(api: GitHubApi, number: int) -> PullSnapshot:
    """Everything the gate reads from GitHub; any failure raises ExternalError."""
    pr = api.pull(number)
    files = api.files(pr)
    return PullSnapshot(pr, tuple(files), review_outcome(api.reviews(number), pr),
                        RepoAccess(api))


def review_approvals(key: str, snap: PullSnapshot, people: list[Person],
                     evidence_id: str, binding_problem: str = "") -> list[Approval]:
    """One Approval per counted review and role (roles as held on the base branch), plus
    invalid ones for reviews that do not count (among them reviewers who are not verified
    as the person and as having access to the repository), so the report can say why."""
    source = f"github:pull/{snap.pr.number}"
    out = [Approval(key, ANY_STAGE, "", login, "", source, _EPOCH, valid=False,
                    reason=f"review by {login}: {why}")
           for login, why in snap.reviews.ignored]
    for review in snap.reviews.approved:
        when = review.submitted_at or _EPOCH
        person = person_by_login(people, review.login)
        problem = reviewer_problem(review, person, people, snap.access)
        if person is None or problem:
            out.append(Approval(key, ANY_STAGE, "", review.login, "", source, when, valid=False,
                                reason=problem))
            continue
        roles: list[str] = list(person.roles) or [""]
        out.extend(Approval(key, ANY_STAGE, role, person.id, evidence_id, source, when,
                            valid=not binding_problem, reason=binding_problem,
                            label=f"review by {review.login}")
                   for role in roles)
    return out


def review_blocks(key: str, snap: PullSnapshot, people: list[Person]) -> list[Block]:
    out = []
    for review in snap.reviews.changes_requested:
        person = person_by_login(people, review.login)
        if person is not None:
            out.append(Block(key, person.id, tuple(person.roles),
                             f"review on pull request #{snap.pr.number}"))
    return out


def gate_pull(root: str, snap: PullSnapshot) -> PullGate:
    """Evaluate every gate the pull request touches (the work tree is its head)."""
    verdicts: list[Verdict] = []
    for key in touched_priorities(root, snap.files):
        verdicts.extend(priority_verdicts(root, key, snap))
    governance = governance_requirements(snap.files)
    if governance:
        verdicts.append(governance_verdict(root, snap, governance))
    notes = tuple(f"review by {login} does not count: {why}"
                  for login, why in snap.reviews.ignored)
    return PullGate(snap.pr, tuple(verdicts), notes)


def governance_verdict(root: str, snap: PullSnapshot,
                       requirements: list[Requirement]) -> Verdict:
    """Policy-owners (of any customer, on the base branch) approve governance changes.
    They are not about evidence, so the approvals are bound to the GOVERNANCE marker."""
    people = everyone(root, snap.pr.base_sha)
    wrote = _wrote(root, snap, people)
    approvals = [not_by_an_author(replace(a, stage=GOVERNANCE, evidence_id=GOVERNANCE), wrote)
                 for a in review_approvals("", snap, people, GOVERNANCE)]
    facts = Facts(GOVERNANCE, roles_of(people), authors=_author(people, snap) | set(wrote))
    return evaluate_stage(requirements, approvals, facts, review_blocks("", snap, people))


def touched_priorities(root: str, files: tuple[str, ...]) -> list[str]:
    """Priorities with a changed file that still exist in the head."""
    keys = {k for k in (priority_of(f) for f in files) if k}
    return sorted(k for k in keys
                  if os.path.isfile(os.path.join(root, priority_dir(k), "priority.yaml")))


def priority_verdicts(root: str, key: str, snap: PullSnapshot) -> list[Verdict]:
    priority, fp = current_fingerprint(root, key)
    base = snap.pr.base_sha
    status = base_status(root, base, key)
    stages = stages_to_approve(priority, status, fp.evidence_id)
    cases = unconfirmed(dataset_regression_cases(root, key, priority), status)
    if not stages and not cases:
        return []
    people = people_of(base_customer(root, base, key.split("/")[0]))
    binding = "" if unchanged_since(root, key, snap.pr.head_sha) else (
        f"{priority_dir(key)} in this checkout differs from the reviewed head "
        f"{snap.pr.head_sha[:12]}")
    wrote = _wrote(root, snap, people)
    approvals = [not_by_an_author(a, wrote)
                 for a in review_approvals(key, snap, people, fp.evidence_id, binding)]
    facts = Facts(fp.evidence_id, roles_of(people), authors=_author(people, snap) | set(wrote),
                  current=fp)
    blocks = review_blocks(key, snap, people)
    before = base_priority(root, base, key)
    # A stage that asks for nobody (percent 0, no guardrail) has nothing to evaluate.
    gates = [*(required_for(key, priority, before, s) for s in stages),
             *case_requirements(key, cases)]
    return [evaluate_stage(needed, approvals, facts, blocks) for needed in gates if needed]


def required_for(key: str, priority: Priority, before: Priority | None,
                  stage: str) -> list[Requirement]:
    """What the PR's spec asks for the stage, plus what the base spec asked that the PR
    would drop: lowering a gate needs the approvals of the gate being lowered."""
    needed = stage_requirements(key, priority, stage)
    if before is None or stage not in {s.name for s in before.spec.rollout.stages}:
        return needed
    have = {(r.roles, r.count) for r in needed}
    for old in stage_requirements(key, before, stage):
        if not any(roles == old.roles and count >= old.count for roles, count in have):
            needed.append(old)
    return needed


def _wrote(root: str, snap: PullSnapshot, people: list[Person]) -> dict[str, str]:
    """Who wrote commits of the pull request (besides opening it): as with signed
    approvals, nobody approves their own change."""
    return authors_of_change(root, snap.pr.base_sha, snap.pr.head_sha, people)


def _author(people: list[Person], snap: PullSnapshot) -> frozenset[str]:
    person = person_by_login(people, snap.pr.author)
    return frozenset({person.id}) if person else frozenset()


def everyone(root: str, base: str) -> list[Person]:
    """People of every customer on the base branch."""
    people: list[Person] = []
    for customer in git.list_dir(root, base, CUSTOMERS):
        people.extend(people_of(base_customer(root, base, customer)))
    return people
