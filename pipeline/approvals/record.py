"""Record a signed git-native approval (`ailoop approve`): checks who the key belongs to
and what the stage needs before committing anything."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline import git
from pipeline.approvals.context import (
    authors_of_change,
    base_customer,
    current_fingerprint,
    customer_file,
    people_of,
)
from pipeline.approvals.regression import (
    CONFIRMING_ROLE,
    case_stage,
    dataset_regression_cases,
)
from pipeline.approvals.requirements import find_stage, stage_requirements
from pipeline.approvals.signed import (
    approval_message,
    governance_approval_message,
    person_with_key,
    public_key,
)
from pipeline.documents.evidence import current_evidence
from pipeline.documents.layout import people_paths, priority_dir
from pipeline.errors import InputError
from pipeline.model.customer import Person
from pipeline.model.priority import Priority


@dataclass(frozen=True)
class ApproveRequest:
    key: str  # customer/priority
    stage: str
    roles: tuple[str, ...]  # empty: every role the person holds that the stage needs
    key_path: str  # "" = git config user.signingkey
    base: str  # where customer.yaml (people, roles, signing keys) is read from
    case: str = ""  # confirm this regression case's expected output instead of a stage


@dataclass(frozen=True)
class Recorded:
    sha: str
    person: str
    roles: tuple[str, ...]
    evidence_id: str
    passed: bool


def record_approval(root: str, request: ApproveRequest) -> Recorded:
    key, stage = request.key, request.stage
    priority, fp = current_fingerprint(root, key)
    if request.case:
        stage = _case_stage(root, key, priority, request.case)
    else:
        find_stage(priority, stage)
    if not git.same_content(root, "HEAD", people_paths(key)):
        raise InputError(f"{priority_dir(key)} has uncommitted changes; commit them first so "
                         "the approval binds to what is committed")
    evidence = current_evidence(root, key, fp)
    if evidence is None:
        raise InputError(f"no dry-run evidence {fp.evidence_id} for {key}; run "
                         f"`ailoop dry-run {key}` first (approvals bind to evidence)")
    key_path = _signing_key(root, request.key_path)
    person = _approver(root, request, key_path)
    needed = {CONFIRMING_ROLE} if request.case else stage_requirement_roles(root, key, stage)
    roles = _roles(person, request, needed)
    message = approval_message(key, stage, fp.evidence_id, person.id, roles)
    sha = git.commit_signed_empty(root, message, key_path, (person.name, person.email))
    return Recorded(sha, person.id, roles, fp.evidence_id, evidence.passed)


def _case_stage(root: str, key: str, priority: Priority, case_id: str) -> str:
    cases = dataset_regression_cases(root, key, priority)
    if not any(c.id == case_id for c in cases):
        known = ", ".join(c.id for c in cases) or "none"
        raise InputError(f"no regression case '{case_id}' in the dataset of {key} "
                         f"(regression cases: {known})")
    return case_stage(case_id)


def stage_requirement_roles(root: str, key: str, stage: str) -> set[str]:
    priority, _ = current_fingerprint(root, key)
    return {role for r in stage_requirements(key, priority, stage) for role in r.roles}


def _signing_key(root: str, given: str) -> str:
    path = given or git.config_value(root, "user.signingkey") or ""
    if not path:
        raise InputError("no signing key: pass --key PATH or set git config user.signingkey")
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise InputError(f"signing key not found: {path}")
    return path


def _public_key_text(key_path: str) -> str:
    for candidate in (key_path + ".pub", key_path):
        try:
            with open(candidate, encoding="utf-8") as fh:
                text = fh.read(16384)
        except (OSError, UnicodeDecodeError):
            continue
        if public_key(text):
            return text
    raise InputError(f"cannot find the public key of {key_path} (expected {key_path}.pub)")


def _approver(root: str, request: ApproveRequest, key_path: str) -> Person:
    customer = request.key.split("/")[0]
    people = people_of(base_customer(root, request.base, customer))
    person = person_with_key(people, _public_key_text(key_path))
    if person is None:
        raise InputError(f"the key {key_path} is not the signingKey of anyone in "
                         f"{customer_file(customer)} on {request.base}")
    return person


def _roles(person: Person, request: ApproveRequest, needed: set[str]) -> tuple[str, ...]:
    held = set(person.roles)
    for role in request.roles:
        if role not in held:
            raise InputError(f"{person.id} does not hold the role {role} on {request.base}")
    roles = set(request.roles) if request.roles else held & needed
    if not roles:
        wanted = ", ".join(sorted(needed)) or "no role (it needs no approval)"
        what = f"confirming regression case '{request.case}'" if request.case else \
            f"stage '{request.stage}'"
        raise InputError(f"{person.id} holds none of the roles {what} needs ({wanted})")
    return tuple(sorted(roles))


def record_governance_approval(root: str, rev: str, key_path: str) -> Recorded:
    """A policy owner's signed approval of a governance change that already landed (see
    pipeline.approvals.governance_check): roles and keys as they were before it, and
    whoever wrote it cannot approve it."""
    from pipeline.approvals.pull import everyone
    from pipeline.policy.governance import GOVERNANCE_ROLE

    sha = git.rev_parse(root, rev)
    if not git.is_ancestor(root, sha, "HEAD"):
        raise InputError(f"{rev} is not in the history of HEAD")
    before = f"{sha}^1"
    key_path = _signing_key(root, key_path)
    people = everyone(root, before)
    person = person_with_key(people, _public_key_text(key_path))
    if person is None:
        raise InputError(f"the key {key_path} is not the signingKey of anyone in a "
                         f"customer.yaml as it was before {sha[:12]}")
    if GOVERNANCE_ROLE not in person.roles:
        raise InputError(f"{person.id} does not hold the role {GOVERNANCE_ROLE} (before "
                         f"{sha[:12]}), which governance changes need")
    wrote = authors_of_change(root, before, sha, [person])
    if person.id in wrote:
        raise InputError(f"{person.id} wrote commit {wrote[person.id][:12]} of this change "
                         "and cannot approve it")
    message = governance_approval_message(sha, person.id)
    done = git.commit_signed_empty(root, message, key_path, (person.name, person.email))
    return Recorded(done, person.id, (GOVERNANCE_ROLE,), sha, True)
