"""Approval sources: who approved which stage of a priority, bound to which evidence."""

from __future__ import annotations

from pipeline.approvals.base import Approval, ApprovalSource
from pipeline.errors import ExternalError
from pipeline.model.project import ApprovalSettings

__all__ = ["Approval", "ApprovalSource", "source_for"]


class Unavailable:
    """A configured source that this build cannot read: every query fails (rollout holds)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def approvals(self, key: str) -> list[Approval]:
        raise ExternalError(self.reason)


def source_for(root: str, settings: ApprovalSettings) -> ApprovalSource:
    """The approval source ailoop.yaml selects (spec.approvals.source)."""
    if settings.source == "file":
        from pipeline.approvals.files import FileApprovals

        return FileApprovals(root)
    return Unavailable(f"approval source '{settings.source}' is not available to the "
                       "reconciler yet")
