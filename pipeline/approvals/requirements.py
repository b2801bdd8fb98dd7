"""Who must approve what. Pure: a priority's stage approvals plus the guardrails, and the
policy-owner for changes to governance files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.errors import InputError
from pipeline.model.priority import EXPOSED_CLASSES, Priority, Stage
from pipeline.model.status import StatusBody
from pipeline.policy.governance import GOVERNANCE_ROLE, is_governance_file

ANY_STAGE = "*"  # an approval for every stage its pull request asks for (a PR review)
HIGH_RISK = frozenset({"high", "critical"})
# The customer-side people who may give the human approval exposed actions need.
HUMAN_ROLES: tuple[str, ...] = ("customer-owner", "customer-reviewer", "risk-officer")
GOVERNANCE = "governance"


@dataclass(frozen=True)
class Requirement:
    """`count` different people holding any of `roles` must approve `stage` of `priority`.

    Governance requirements have priority "" and stage GOVERNANCE."""

    priority: str
    stage: str
    roles: tuple[str, ...]
    count: int
    why: str

    @property
    def role_label(self) -> str:
        return " or ".join(self.roles)


def find_stage(priority: Priority, stage: str) -> Stage:
    for candidate in priority.spec.rollout.stages:
        if candidate.name == stage:
            return candidate
    names = ", ".join(s.name for s in priority.spec.rollout.stages)
    raise InputError(f"priority '{priority.metadata.name}' has no stage '{stage}' "
                     f"(stages: {names})")


def stage_requirements(key: str, priority: Priority, stage: str) -> list[Requirement]:
    """The stage's own approvals, then the guardrails they do not already cover."""
    found = find_stage(priority, stage)
    out = [Requirement(key, stage, (a.role,), a.count,
                       f"stage '{stage}' asks for {a.count} {a.role}")
           for a in found.approvals]
    if found.percent <= 0:  # shadow: nothing is exposed (as the guardrail policies say)
        return out
    for rail in guardrails(key, priority, stage):
        if not any(_covers(have, rail) for have in out):
            out.append(rail)
    return out


def guardrails(key: str, priority: Priority, stage: str) -> list[Requirement]:
    """Built in, not optional: risk-officer for high risk, a human for exposed actions."""
    spec = priority.spec
    out: list[Requirement] = []
    if spec.risk in HIGH_RISK:
        out.append(Requirement(key, stage, ("risk-officer",), 1,
                               f"risk is {spec.risk}: a risk-officer must approve"))
    exposed = [a for a in spec.actions if a.class_ in EXPOSED_CLASSES]
    if exposed:
        what = ", ".join(f"'{a.name}' ({a.class_})" for a in exposed)
        out.append(Requirement(key, stage, HUMAN_ROLES, 1,
                               f"action {what} needs an explicit human approval"))
    return out


def _covers(have: Requirement, need: Requirement) -> bool:
    """Every set of approvals that satisfies `have` also satisfies `need`. Any approval
    is a person's (bots never count), so any own requirement covers the human guardrail."""
    if need.roles == HUMAN_ROLES:
        return True
    return set(have.roles) <= set(need.roles) and have.count >= need.count


def stages_to_approve(priority: Priority, status: StatusBody | None,
                      evidence_id: str) -> list[str]:
    """Stages a change asks for, up to the target: those after the candidate's stage when
    the change keeps its fingerprint; every stage from the first when it makes a new
    candidate (a new fingerprint starts over); none when it is the serving version."""
    names = [s.name for s in priority.spec.rollout.stages]
    end = names.index(priority.spec.rollout.target) + 1 \
        if priority.spec.rollout.target in names else len(names)
    if status is not None and status.serving is not None and \
            status.serving.evidence_id == evidence_id:
        return []
    cand = status.candidate if status is not None else None
    start = 0
    if cand is not None and cand.evidence_id == evidence_id and cand.stage in names:
        start = names.index(cand.stage) + 1
    return names[start:end]


def governance_requirements(changed: Iterable[str]) -> list[Requirement]:
    files = sorted(p for p in changed if is_governance_file(p))
    if not files:
        return []
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return [Requirement("", GOVERNANCE, (GOVERNANCE_ROLE,), 1,
                        f"governance files changed ({shown}): a policy-owner must approve")]
