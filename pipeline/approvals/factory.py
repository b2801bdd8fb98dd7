"""Pick the approval source the project's `approvals.source` setting names."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipeline.approvals.base import Approval
from pipeline.approvals.context import (
    base_customer,
    current_fingerprint,
    people_of,
    unchanged_since,
)
from pipeline.approvals.evaluate import Block
from pipeline.approvals.github import GitHubApi
from pipeline.approvals.pull import PullSnapshot, fetch_pull, review_approvals, review_blocks
from pipeline.approvals.rest import Waiting, make_client
from pipeline.documents.layout import people_paths, priority_dir
from pipeline.errors import ExternalError
from pipeline.git import last_change


class GitHubApprovals:
    """ApprovalSource over the reviews of one pull request (fetched once, on first use).

    Reviews approve every stage the pull request asks for (stage "*"); they are bound to
    the evidence id of the priority as it is in the work tree, and only when that folder is
    unchanged since the reviewed head commit."""

    def __init__(self, root: str, api: GitHubApi, number: int) -> None:
        self.root = root
        self._api = api
        self._number = number
        self._snap: PullSnapshot | None = None

    def snapshot(self) -> PullSnapshot:
        if self._snap is None:
            self._snap = fetch_pull(self._api, self._number)
        return self._snap

    def approvals(self, key: str) -> list[Approval]:
        snap = self.snapshot()
        people = people_of(base_customer(self.root, snap.pr.base_sha, key.split("/")[0]))
        _, fp = current_fingerprint(self.root, key)
        binding = "" if unchanged_since(self.root, key, snap.pr.head_sha) else (
            f"{priority_dir(key)} changed after the reviewed commit {snap.pr.head_sha[:12]}")
        return review_approvals(key, snap, people, fp.evidence_id, binding)

    def blocks(self, key: str) -> list[Block]:
        snap = self.snapshot()
        people = people_of(base_customer(self.root, snap.pr.base_sha, key.split("/")[0]))
        return review_blocks(key, snap, people)


class MergedPullApprovals:
    """For the reconciler after merge: the reviews of the merged pull request that last
    changed what people write in a priority's folder (not the bot's status or evidence).
    Needs GITHUB_TOKEN and GITHUB_REPOSITORY; without them, or when GitHub fails,
    approvals() raises ExternalError and the rollout holds."""

    def __init__(self, root: str, api_url: str, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.api_url = api_url
        self.env = os.environ if env is None else env
        self.waiting = Waiting()  # one rate-limit budget for the whole run, every priority

    def approvals(self, key: str) -> list[Approval]:
        return self.approvals_of_change(key, people_paths(key))[1]

    def approvals_of_change(self, key: str, paths: list[str]) -> tuple[int, list[Approval]]:
        """The merged pull request that last changed PATHS (0: none) and its approvals of
        KEY (a human review file binds to the pull request that last changed it)."""
        token, repo = self.env.get("GITHUB_TOKEN", ""), self.env.get("GITHUB_REPOSITORY", "")
        if not token or not repo:
            raise ExternalError("approvals.source is github: GITHUB_TOKEN and "
                                "GITHUB_REPOSITORY are needed to read the merged pull request")
        last = last_change(self.root, "HEAD", paths)
        if last is None:
            return 0, []
        with make_client(self.env.get("GITHUB_API_URL") or self.api_url, token) as http:
            api = GitHubApi(http, repo, self.waiting)
            numbers = api.merged_pulls_for_commit(last[0])
            if not numbers:
                return 0, []
            return numbers[0], GitHubApprovals(self.root, api, numbers[0]).approvals(key)
