"""Git-native approvals: empty commits signed with the approver's SSH key.

    Approve acme/triage stage canary

    Ailoop-Approval: canary
    Ailoop-Priority: acme/triage
    Ailoop-Evidence: ev-0123456789abcdef
    Ailoop-Approver: ann
    Ailoop-Role: customer-reviewer

The signature covers the message, so the stage, priority and evidence id cannot be changed
without breaking it. Signatures are checked by git (gpg.format ssh) against an allowed-
signers file generated from the people's `signingKey` in customer.yaml read from the BASE
ref, never from the work tree. Anything unsigned, signed by an unknown key, or changed
after signing is reported with the reason and never counted.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime

from pipeline import git
from pipeline.approvals.base import Approval
from pipeline.approvals.context import base_customer, customer_file, people_of
from pipeline.documents.layout import CUSTOMERS, resolve_inside
from pipeline.fsio import write_atomic
from pipeline.model.customer import Customer, Person

MARKER = "Ailoop-Approval"
SOURCE = "git-signed"
_KEY_RE = re.compile(r"^((?:sk-)?(?:ssh|ecdsa)-[a-z0-9@.-]+) ([A-Za-z0-9+/]+=*)(?: .*)?$")
_TRAILER_RE = re.compile(r"^(Ailoop-[A-Za-z]+): *(.*)$")
_VERDICTS = {
    "N": "the approval commit is not signed",
    "B": "the signature does not match the commit (it was changed after signing)",
    "U": "signed with a key that is not the signingKey of anyone in {file} on {base}",
    "E": "signed with a key that is not the signingKey of anyone in {file} on {base}",
    "X": "the signature has expired",
    "Y": "the signing key has expired",
    "R": "the signing key was revoked",
}


def approval_message(key: str, stage: str, evidence_id: str, person: str,
                     roles: Iterable[str]) -> str:
    lines = [f"Approve {key} stage {stage}", "", f"{MARKER}: {stage}",
             f"Ailoop-Priority: {key}", f"Ailoop-Evidence: {evidence_id}",
             f"Ailoop-Approver: {person}"]
    lines += [f"Ailoop-Role: {role}" for role in roles]
    return "\n".join(lines) + "\n"


def governance_approval_message(sha: str, person: str) -> str:
    """A policy owner's approval of the governance change in commit SHA (the evidence a
    governance approval binds to is the change itself)."""
    return (f"Approve governance change {sha[:12]}\n\n{MARKER}: governance\n"
            f"Ailoop-Evidence: {sha}\nAiloop-Approver: {person}\nAiloop-Role: policy-owner\n")


def parse_trailers(message: str) -> dict[str, list[str]]:
    """Ailoop-* trailer lines of a commit message (a key may repeat)."""
    out: dict[str, list[str]] = {}
    for line in message.splitlines():
        match = _TRAILER_RE.match(line.strip())
        if match:
            out.setdefault(match.group(1), []).append(match.group(2).strip())
    return out


def public_key(text: str) -> str | None:
    """'type base64' of an OpenSSH public key line (options and comment dropped)."""
    match = _KEY_RE.match(text.strip())
    return f"{match.group(1)} {match.group(2)}" if match else None


def allowed_signers(people: Iterable[Person]) -> str:
    """The allowed-signers file: one line per person with a valid signingKey."""
    lines = []
    for person in people:
        key = public_key(person.signing_key or "")
        if key:
            lines.append(f'{person.id} namespaces="git" {key}')
    return "".join(line + "\n" for line in lines)


def person_with_key(people: Iterable[Person], key_text: str) -> Person | None:
    key = public_key(key_text)
    return next((p for p in people if key and public_key(p.signing_key or "") == key), None)


class SignedApprovals:
    """ApprovalSource over signed approval commits on REV, roles and keys from BASE."""

    def __init__(self, root: str, *, base: str = "HEAD", rev: str = "HEAD", since: str = "",
                 base_name: str = "") -> None:
        self.root = root
        self.base = base
        self.rev = rev
        self.since = since  # only the approval commits on REV that are not on SINCE
        self.base_name = base_name or base  # how messages name BASE

    def approvals(self, key: str) -> list[Approval]:
        customer = base_customer(self.root, self.base, key.split("/")[0])
        out: list[Approval] = []
        for commit in self._commits(customer):
            trailers = parse_trailers(commit.message)
            if trailers.get("Ailoop-Priority") == [key]:
                out.extend(self._approvals_of(key, commit, trailers, customer))
        return out

    def _commits(self, customer: Customer | None) -> list[git.SignedCommit]:
        fd, path = tempfile.mkstemp(prefix="ailoop-signers-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(allowed_signers(people_of(customer)))
            return git.signed_approval_commits(self.root, self.rev, path, MARKER, self.since)
        finally:
            os.unlink(path)

    def _approvals_of(self, key: str, commit: git.SignedCommit, trailers: dict[str, list[str]],
                      customer: Customer | None) -> list[Approval]:
        stage = _one(trailers, MARKER)
        approver = _one(trailers, "Ailoop-Approver")
        problem = self._problem(key, commit, approver, customer)
        when = datetime.fromtimestamp(commit.time, UTC)
        source = f"{SOURCE}:{commit.sha[:12]}"
        person = approver or commit.signer
        out = []
        for role in trailers.get("Ailoop-Role") or [""]:
            why = problem or self._role_problem(key, approver, role, customer)
            claim = ", ".join(x for x in (f"{stage or '(no stage)'} as {person or '(nobody)'}",
                                          role) if x)
            out.append(Approval(key, stage, role, person, _one(trailers, "Ailoop-Evidence"),
                                source, when, valid=not why, reason=why,
                                label=f"commit {commit.sha[:12]} ({claim})"))
        return out

    def _role_problem(self, key: str, person: str, role: str,
                      customer: Customer | None) -> str:
        """Checked here too: a planner may trust `valid` without knowing the roles."""
        held = {p.id: set(p.roles) for p in people_of(customer)}.get(person, set())
        if role in held:
            return ""
        return (f"{person} does not hold the role {role or '(none)'} in "
                f"{customer_file(key.split('/')[0])} on {self.base_name}")

    def _problem(self, key: str, commit: git.SignedCommit, approver: str,
                 customer: Customer | None) -> str:
        where = {"file": customer_file(key.split("/")[0]), "base": self.base_name}
        if commit.verdict != "G":
            template = _VERDICTS.get(commit.verdict, "the signature cannot be checked")
            return template.format(**where)
        if approver != commit.signer:
            return (f"it names {approver or 'nobody'} as the approver but is signed by "
                    f"{commit.signer}")
        return ""


def _one(trailers: dict[str, list[str]], name: str) -> str:
    values = trailers.get(name, [])
    return values[0] if len(values) == 1 else ""


def write_allowed_signers(root: str, base: str, rel_path: str) -> int:
    """Write the repository's allowed-signers file (for `git verify-commit` by hand) from
    every customer.yaml at BASE; returns the number of keys. Atomic."""
    lines: list[str] = []
    for customer in git.list_dir(root, base, CUSTOMERS):
        for person in people_of(base_customer(root, base, customer)):
            key = public_key(person.signing_key or "")
            if key:
                lines.append(f"# {customer}/{person.id}")
                lines.append(f'{person.email} namespaces="git" {key}')
    target, _ = resolve_inside(root, "", rel_path)
    write_atomic(target, "".join(line + "\n" for line in lines))
    return len(lines) // 2
