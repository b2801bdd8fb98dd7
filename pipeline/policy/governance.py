"""Governance files: changing the rules is itself gated.

API for the approval gate (pipeline/approvals, `ailoop gate`):

    governance_files(paths) -> list[str]
        The subset of changed repo-relative paths that are governance files (see
        is_governance_file). A pull request touching any of them needs an approval by a
        person holding GOVERNANCE_ROLE, and the reconciler re-checks on the default branch
        that every one that landed had it (pipeline/approvals/governance_check.py).

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


# What decides how ailoop itself behaves, besides the rules: its code and packaging (in
# ailoop's own repository), the pin of ailoop and the CI that runs it (the workflows and
# the action's ref live in .github/), and what says who reviews what. A pull request must
# never be the judge of the tool that judges it.
TOOL_FOLDERS = ("pipeline", "runtime", ".github", ".ailoop", ".ci")
TOOL_FILES = ("action.yml", "action.yaml", "pyproject.toml", "setup.py", "setup.cfg",
              "Makefile", "CODEOWNERS")


def is_governance_file(path: str) -> bool:
    """Governance files: policies/ (rules, their tests, waivers), ailoop.yaml, every
    customers/<c>/customer.yaml (where roles are granted), and the tool itself
    (TOOL_FOLDERS, TOOL_FILES, requirements*.txt and docs/CODEOWNERS)."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts:
        return False
    if parts == (PROJECT_FILE,) or parts[0] in (POLICIES, *TOOL_FOLDERS):
        return True
    if len(parts) == 1:
        return parts[0] in TOOL_FILES or (parts[0].startswith("requirements")
                                          and parts[0].endswith(".txt"))
    if parts == ("docs", "CODEOWNERS"):
        return True
    return len(parts) == 3 and parts[0] == CUSTOMERS and parts[2] == "customer.yaml"


def governance_pathspecs() -> list[str]:
    """git pathspecs of every governance file (for `git log -- ...`)."""
    return [f":(top){PROJECT_FILE}", f":(top){POLICIES}/",
            f":(top,glob){CUSTOMERS}/*/customer.yaml",
            *(f":(top){d}/" for d in TOOL_FOLDERS), *(f":(top){f}" for f in TOOL_FILES),
            ":(top,glob)requirements*.txt", ":(top)docs/CODEOWNERS"]
