"""Approval sources: who approved which stage of a priority, bound to which evidence."""

from __future__ import annotations

from pipeline.approvals.base import Approval, ApprovalSource
from pipeline.model.project import ApprovalSettings

__all__ = ["Approval", "ApprovalSource", "source_for"]


class Combined:
    """Approvals from several sources; any source failing fails the whole (hold)."""

    def __init__(self, *sources: ApprovalSource) -> None:
        self.sources = sources

    def approvals(self, key: str) -> list[Approval]:
        return [a for source in self.sources for a in source.approvals(key)]


def source_for(root: str, settings: ApprovalSettings) -> ApprovalSource:
    """The approval source the reconciler uses for ailoop.yaml's spec.approvals.source.

    github: after merge, the reviews of the merged pull request that last changed the
    priority's folder, plus signed git approvals (how later stages are approved without a
    new pull request). Roles and signing keys are read from HEAD, the merged main branch.
    """
    from pipeline.approvals.signed import SignedApprovals

    if settings.source == "file":
        from pipeline.approvals.files import FileApprovals

        return FileApprovals(root)
    signed = SignedApprovals(root, base="HEAD", rev="HEAD")
    if settings.source == "git-signed":
        return signed
    from pipeline.approvals.factory import MergedPullApprovals

    return Combined(signed, MergedPullApprovals(root, settings.github_api_url))
