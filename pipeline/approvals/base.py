"""The approvals contract every source implements (files now; GitHub and signed git later).

A source reports what it saw, including approvals it does not trust (`valid=False` with a
reason), so `ailoop plan` can say why an approval did not count. Whether the approvals
satisfy a stage is decided by the planner, never by a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Approval:
    priority: str       # "customer/priority"
    stage: str          # the stage this approval lets the priority enter
    role: str           # the role the person approves as
    person: str         # person id in customer.yaml
    evidence_id: str    # the evidence the approver looked at; other evidence needs new approval
    source: str         # where it came from, e.g. "file:customers/c/p/approvals/x.yaml"
    time: datetime
    valid: bool = True
    reason: str = ""    # why it is not valid
    label: str = ""     # how people find it, when the reason does not say:
                        # "commit 5b0e7d21c9aa (canary as ann, customer-reviewer)"


class ApprovalSource(Protocol):
    def approvals(self, key: str) -> list[Approval]:
        """Every approval recorded for a priority; raises ExternalError when unreachable."""
        ...
