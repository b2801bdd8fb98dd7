"""Approvals recorded as files: customers/<c>/<p>/approvals/*.yaml (tests, air-gapped setups).

    apiVersion: ailoop.dev/v1
    kind: Approval
    metadata: {name: canary-mei}
    spec:
      stage: canary
      role: risk-officer
      person: mei
      evidenceId: ev-0123456789abcdef
      time: 2026-11-20T10:00:00Z

An approval counts only when the person exists in customer.yaml and holds the role; a file
that cannot be read is reported as an invalid approval, never trusted.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError

from pipeline.approvals.base import Approval
from pipeline.documents.layout import priority_dir
from pipeline.documents.load import load_document
from pipeline.documents.yamlio import read_yaml
from pipeline.errors import InputError
from pipeline.model.base import Metadata, Model, Role

APPROVALS_DIR = "approvals"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ApprovalRecordSpec(Model):
    stage: str
    role: Role
    person: str
    evidence_id: str = Field(pattern=r"^ev-[0-9a-f]{16}$")
    time: AwareDatetime


class ApprovalRecord(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Approval"]
    metadata: Metadata
    spec: ApprovalRecordSpec


class FileApprovals:
    """ApprovalSource over approval files in the work tree."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._roles: dict[str, dict[str, frozenset[str]] | None] = {}

    def approvals(self, key: str) -> list[Approval]:
        rel_dir = f"{priority_dir(key)}/{APPROVALS_DIR}"
        try:
            names = sorted(os.listdir(os.path.join(self.root, rel_dir)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
            return [_invalid(key, rel_dir, f"cannot list approvals: {e.strerror}")]
        return [self._read(key, f"{rel_dir}/{n}") for n in names
                if n.endswith((".yaml", ".yml")) and not n.startswith(".")]

    def _read(self, key: str, rel: str) -> Approval:
        try:
            record = ApprovalRecord.model_validate(
                read_yaml(os.path.join(self.root, rel), rel).data)
        except InputError as e:
            return _invalid(key, rel, str(e))
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            return _invalid(key, rel, f"{rel}: {where}: {first['msg']}")
        spec = record.spec
        approval = Approval(key, spec.stage, spec.role, spec.person, spec.evidence_id,
                            f"file:{rel}", spec.time.astimezone(UTC))
        problem = self._role_problem(key, spec.person, spec.role)
        if problem:
            return Approval(**{**approval.__dict__, "valid": False, "reason": problem})
        return approval

    def _role_problem(self, key: str, person: str, role: str) -> str:
        people = self._people(key.split("/")[0])
        if people is None:
            return "customer.yaml cannot be read, so the approver's role cannot be checked"
        if person not in people:
            return f"'{person}' is not a person in customer.yaml"
        if role not in people[person]:
            return f"'{person}' does not hold the role {role} in customer.yaml"
        return ""

    def _people(self, customer: str) -> dict[str, frozenset[str]] | None:
        if customer not in self._roles:
            doc, _ = load_document(self.root, f"customers/{customer}/customer.yaml")
            self._roles[customer] = None if doc is None else {
                p.id: frozenset(p.roles) for p in doc.model.spec.people}
        return self._roles[customer]


def _invalid(key: str, rel: str, reason: str) -> Approval:
    return Approval(key, "", "", "", "", f"file:{rel}", _EPOCH, valid=False, reason=reason)
