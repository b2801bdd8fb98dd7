"""The reconciler's re-check, on the default branch, that every governance change that
landed had its governance approvals. A pull request can edit its own workflow and post its
own check results, so what the pull request side says is advisory; this check is the
anchor, with the forge's branch protection (CODEOWNERS).

The window: the first-parent commits after the newest trusted bot commit that says it
verified governance (trailer `Ailoop-Governance: verified`, written only when this check
passed), or, before there is one, after the commit that set up the bot key. Trailers in
any other commit mean nothing. Each commit in it that changed a governance file
(pipeline.policy.governance) is accepted when

- approvals.source is github: the merged pull request it came from has a policy owner's
  approval, the verdict `ailoop gate` gives (reviews of the PR's head by a policy owner of
  the base branch who wrote none of it);
- whatever the source: a later commit on the first-parent history is a signed governance
  approval of it (`ailoop approve --governance SHA`) by such a policy owner, who did not
  write it. That is also how a hold is released after the fact.

approvals.source file has no re-check: approval files are for trying ailoop locally and
prove nothing (README, "Approval files").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline import git
from pipeline.approvals.context import authors_of_change
from pipeline.approvals.github import GitHubApi
from pipeline.approvals.pull import everyone, fetch_pull, governance_verdict
from pipeline.approvals.requirements import GOVERNANCE, governance_requirements
from pipeline.approvals.rest import Waiting, make_client
from pipeline.approvals.signed import MARKER, allowed_signers, parse_trailers
from pipeline.errors import ExternalError, InputError
from pipeline.model.customer import Person
from pipeline.model.project import BotIdentity
from pipeline.policy.governance import GOVERNANCE_ROLE, governance_pathspecs
from pipeline.trust import botkey

TRAILER = "Ailoop-Governance"
VERIFIED = f"{TRAILER}: verified"
GOOD = "G"


@dataclass(frozen=True)
class GovernanceCheck:
    """hold: why every promotion holds ("" when every governance change had its
    approvals); verified: the check ran and passed (the bot's next commit says so)."""

    hold: str = ""
    verified: bool = False


def check_governance(root: str, source: str, bot: BotIdentity,
                     github: Callable[[], GitHubApi] | None = None) -> GovernanceCheck:
    """GITHUB: makes the API client (approvals.source github)."""
    if source == "file":
        return GovernanceCheck()
    try:
        start = _window_start(root, bot)
        changes = git.first_parent_shas(root, "HEAD", since=start,
                                        pathspecs=governance_pathspecs())
        for sha in reversed(changes):  # oldest first: the first unapproved one is named
            problem = _unapproved(root, sha, source, github)
            if problem:
                more = len(changes) - changes.index(sha) - 1
                tail = f" (and {more} later governance change{'s' if more != 1 else ''})" \
                    if more else ""
                return GovernanceCheck(
                    f"governance change {sha[:12]} landed without a policy owner's approval "
                    f"({problem}){tail}; to release the hold, a policy-owner approves it: "
                    f"`ailoop approve --governance {sha[:12]}`, or revert it")
    except (ExternalError, InputError) as e:
        return GovernanceCheck(f"governance changes cannot be verified: {e}")
    return GovernanceCheck(verified=True)


def _window_start(root: str, bot: BotIdentity) -> str:
    """The newest trusted bot commit that verified governance, or the commit that set up
    the bot key (InputError when there is none)."""
    candidates = git.first_parent_shas(root, "HEAD", grep=f"^{VERIFIED}$")
    signers = botkey.allowed_signers(bot)
    # Newest first, and the newest is nearly always the bot's own: one signature check,
    # not one per bot commit in the history.
    for batch in (candidates[:1], candidates[1:]):
        checks = _checked(root, batch, signers) if batch else {}
        for sha in batch:
            if checks.get(sha) == GOOD:
                return sha
    from pipeline.trust.adopt import key_commit

    return key_commit(root)


def _unapproved(root: str, sha: str, source: str,
                github: Callable[[], GitHubApi] | None) -> str:
    """Why commit SHA's governance change is not approved, or ""."""
    parent = f"{sha}^1"
    owners = [p for p in everyone(root, parent) if GOVERNANCE_ROLE in p.roles]
    wrote = set(authors_of_change(root, parent, sha, owners))
    if _approved_later(root, sha, owners, wrote):
        return ""
    if source == "git-signed":
        return "no policy owner's signed governance approval of it follows"
    if source == "github":
        if github is None:
            return "no GitHub access to read its pull request"
        api = github()
        numbers = api.merged_pulls_for_commit(sha)
        if not numbers:
            return "it came from no pull request"
        snap = fetch_pull(api, numbers[0])
        # What the commit itself changed, whatever the pull request's file list says.
        changed = git.changed_between(root, parent, sha)
        verdict = governance_verdict(root, snap, governance_requirements(changed))
        if verdict.satisfied:
            return ""
        return f"pull request #{numbers[0]}: {'; '.join(verdict.reasons()) or 'not approved'}"
    return f"approvals.source {source} cannot approve governance changes"


def _approved_later(root: str, sha: str, owners: list[Person], wrote: set[str]) -> bool:
    """A signed governance approval of SHA, after it on the first-parent history, by a
    policy owner (keys as before the change) who wrote none of it."""
    with git.allowed_signers_file(allowed_signers(owners)) as path:
        commits = git.signed_approval_commits(root, "HEAD", path, MARKER, since=sha)
    for commit in commits:
        trailers = parse_trailers(commit.message)
        if trailers.get(MARKER) != [GOVERNANCE] or commit.verdict != GOOD:
            continue
        if not any(sha.startswith(t) and len(t) >= 12
                   for t in trailers.get("Ailoop-Evidence", [])):
            continue
        if commit.signer and commit.signer not in wrote and trailers.get(
                "Ailoop-Approver") == [commit.signer]:
            return True
    return False


def _checked(root: str, shas: list[str], signers: str) -> dict[str, str]:
    with git.allowed_signers_file(signers) as path:
        return {sha: c.verdict for sha, c in git.check_commits(root, shas, path).items()}


def check_default_branch(root: str, source: str, bot: BotIdentity, api_url: str,
                         env: Mapping[str, str] | None = None) -> GovernanceCheck:
    """check_governance for the reconciler, with GitHub access from the environment
    (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL) when the source is github."""
    env = os.environ if env is None else env
    token, repo = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
    if source != "github" or not token or not repo:
        return check_governance(root, source, bot)
    with make_client(env.get("GITHUB_API_URL") or api_url, token) as http:
        api = GitHubApi(http, repo, Waiting())
        return check_governance(root, source, bot, github=lambda: api)
