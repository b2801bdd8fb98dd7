"""Governance files: changing the rules is itself gated.

API for the approval gate (pipeline/approvals, `ailoop gate`):

    governance_files(paths) -> list[str]
        The subset of changed repo-relative paths that are governance files: anything
        under policies/ (rules, their tests, waivers), ailoop.yaml, and every
        customers/<c>/customer.yaml (where roles are granted). A pull request touching
        any of them needs an approval by a person holding GOVERNANCE_ROLE.

    policy_owners(customers) -> list[Person]
        The people holding GOVERNANCE_ROLE in the given Customer documents. Pass the
        customers read from the BASE branch of the pull request, never from its head:
        a PR must not be able to grant itself the role that approves it. Match reviewers
        by Person.github (GitHub reviews) or Person.signing_key (signed git approvals).

    roles_changed(base, head) -> bool
        Whether two versions of a Customer document grant different roles (a narrower
        test than "customer.yaml changed", for gates that want it).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pipeline.documents.layout import CUSTOMERS, POLICIES, PROJECT_FILE

GOVERNANCE_ROLE = "policy-owner"


def is_governance_file(path: str) -> bool:
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if parts == (PROJECT_FILE,) or (parts and parts[0] == POLICIES):
        return True
    return len(parts) == 3 and parts[0] == CUSTOMERS and parts[2] == "customer.yaml"


