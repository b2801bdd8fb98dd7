"""Do the approvals satisfy a stage? Pure: requirements + approvals + facts -> a verdict
that says who counted, which roles are missing, what blocks, and why each approval that
did not count was set aside (stale evidence, role not held on the base branch, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.approvals.base import Approval
from pipeline.approvals.requirements import ANY_STAGE, Requirement
from pipeline.documents.evidence import Fingerprint


@dataclass(frozen=True)
class Block:
    """Someone holding a required role asked for changes (a GitHub review)."""

    priority: str  # "" blocks every priority of the pull request
    person: str
    roles: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Facts:
    """What the verdict depends on besides the approvals themselves."""

    evidence_id: str | None  # the current evidence id; None = unknown, nothing counts
    roles: Mapping[str, frozenset[str]]  # person id -> roles on the BASE branch
    authors: frozenset[str] = frozenset()  # never count (the pull request's author)
    change_authors: frozenset[str] = frozenset()  # wrote the workflow/dataset change
    current: Fingerprint | None = None  # to explain what changed since a stale approval
    known: Mapping[str, Fingerprint] = field(default_factory=dict)  # evidence id -> parts


@dataclass(frozen=True)
class Ignored:
    approval: Approval
    reason: str
    stale: bool = False  # bound to other evidence: the gate asks again


@dataclass(frozen=True)
class Outcome:
    requirement: Requirement
    approvers: tuple[str, ...]

    @property
    def missing(self) -> int:
        return max(0, self.requirement.count - len(self.approvers))


@dataclass(frozen=True)
class Verdict:
    priority: str
    stage: str
    outcomes: tuple[Outcome, ...]
    blocked: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # unmet for reasons other than a missing role
    ignored: tuple[Ignored, ...] = ()

    @property
    def satisfied(self) -> bool:
        return not self.blocked and not self.problems and all(
            o.missing == 0 for o in self.outcomes)

    @property
    def stale(self) -> tuple[Ignored, ...]:
        return tuple(i for i in self.ignored if i.stale)

    def reasons(self) -> list[str]:
        """Why the stage is not approved yet, one line each (empty when satisfied)."""
        out = list(self.blocked) + list(self.problems)
        for o in self.outcomes:
            if o.missing:
                out.append(f"needs {o.missing} more {o.requirement.role_label} "
                           f"({o.requirement.why})")
        return out


def evaluate_stage(requirements: Sequence[Requirement], approvals: Iterable[Approval],
                   facts: Facts, blocks: Iterable[Block] = ()) -> Verdict:
    """The verdict for one stage (all requirements share priority and stage)."""
    if not requirements:
        raise ValueError("evaluate_stage needs at least one requirement")
    key, stage = requirements[0].priority, requirements[0].stage
    mine = [a for a in approvals if a.priority == key and a.stage in (stage, ANY_STAGE)]
    counted, ignored = _sort_out(mine, facts)
    outcomes = tuple(Outcome(r, people)
                     for r, people in zip(requirements, assign(requirements, counted),
                                          strict=True))
    needed = {role for r in requirements for role in r.roles}
    blocked = tuple(f"{b.person} ({', '.join(b.roles)}) requested changes ({b.source})"
                    for b in blocks if b.priority in ("", key) and needed & set(b.roles))
    return Verdict(key, stage, outcomes, blocked, _separation(outcomes, facts), tuple(ignored))


def _sort_out(approvals: list[Approval], facts: Facts) -> tuple[list[Approval], list[Ignored]]:
    counted: list[Approval] = []
    ignored: list[Ignored] = []
    for approval in approvals:
        reason = _invalid_reason(approval, facts)
        if reason:
            ignored.append(Ignored(approval, reason))
        elif approval.evidence_id != facts.evidence_id:
            ignored.append(Ignored(approval, stale_reason(approval.evidence_id, facts), True))
        else:
            counted.append(approval)
    return counted, ignored


def _invalid_reason(approval: Approval, facts: Facts) -> str:
    if not approval.valid:
        return approval.reason or "not valid"
    if approval.person in facts.authors:
        return f"{approval.person} is the author of the change and cannot approve it"
    if approval.person not in facts.roles:
        return f"{approval.person} is not a person in customer.yaml on the base branch"
    if approval.role not in facts.roles[approval.person]:
        return f"{approval.person} does not hold the role {approval.role} on the base branch"
    return ""


def stale_reason(evidence_id: str, facts: Facts) -> str:
    """'given on ev-old; the evidence is now ev-new (workflow changed)'."""
    if facts.evidence_id is None:
        return "there is no current dry-run evidence to approve"
    text = f"given on evidence {evidence_id or '(none)'}; the evidence is now {facts.evidence_id}"
    old = facts.known.get(evidence_id)
    if old is not None and facts.current is not None:
        changed = [part for part in ("spec", "dataset", "workflow")
                   if getattr(old, part) != getattr(facts.current, part)]
        if changed:
            text += f" ({', '.join(changed)} changed)"
    return text


def assign(requirements: Sequence[Requirement],
           counted: Iterable[Approval]) -> list[tuple[str, ...]]:
    """Who fills which requirement. A person counts once per stage (four eyes: one
    approval never fills two roles), so this is a maximum bipartite matching of people to
    requirement slots (Kuhn's augmenting paths; stages need a handful of people)."""
    roles: dict[str, set[str]] = {}
    for approval in counted:
        roles.setdefault(approval.person, set()).add(approval.role)
    slots = [i for i, r in enumerate(requirements) for _ in range(r.count)]
    holder: dict[int, str] = {}  # slot -> person

    def place(person: str, seen: set[int]) -> bool:
        for slot, index in enumerate(slots):
            if slot in seen or not roles[person] & set(requirements[index].roles):
                continue
            seen.add(slot)
            if slot not in holder or place(holder[slot], seen):
                holder[slot] = person
                return True
        return False

    for person in sorted(roles):
        place(person, set())
    out: list[list[str]] = [[] for _ in requirements]
    for slot, person in holder.items():
        out[slots[slot]].append(person)
    return [tuple(sorted(people)) for people in out]


def _separation(outcomes: tuple[Outcome, ...], facts: Facts) -> tuple[str, ...]:
    """The author of a workflow or dataset change cannot be the only approver of the
    stage that ships it."""
    people = {p for o in outcomes for p in o.approvers}
    if not people or not people <= facts.change_authors:
        return ()
    names = ", ".join(sorted(people))
    return (f"{names} authored the workflow or dataset change and cannot be the only "
            "approver of the stage that ships it",)
