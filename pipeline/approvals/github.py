"""GitHub REST API: a pull request, its reviews and files, commit statuses, comments,
repository access and accounts. Transport, rate limits and pagination: pipeline.approvals.rest.

Every list is read to its last page. A pull request whose files GitHub cannot list in full
(the files endpoint returns at most 3,000) fails closed: ailoop cannot tell which gates it
touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline.approvals.rest import HttpError, Rest, Waiting
from pipeline.errors import ExternalError

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx

MAX_FILES = 3000  # the most files GET /repos/{owner}/{repo}/pulls/{n}/files returns
STATUS_CONTEXT = "ailoop/approvals"
_STATUS_STATES = frozenset({"error", "failure", "pending", "success"})


@dataclass(frozen=True)
class PullRequest:
    number: int
    author: str
    head_sha: str
    base_ref: str
    base_sha: str
    changed_files: int = 0


@dataclass(frozen=True)
class Comment:
    id: int
    login: str
    bot: bool
    body: str


@dataclass(frozen=True)
class Review:
    id: int
    login: str
    bot: bool
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str
    submitted_at: datetime | None
    user_id: int | None = None  # the account's numeric id (a login can change hands)
    association: str = ""  # author_association: OWNER, MEMBER, COLLABORATOR, NONE, ...


@dataclass(frozen=True)
class Account:
    login: str
    id: int
    created_at: str


class GitHubApi:
    """The few REST endpoints ailoop needs, for one repository ('owner/name')."""

    def __init__(self, client: httpx.Client, repo: str, waiting: Waiting | None = None) -> None:
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ExternalError(f"GitHub repository must look like owner/name, not '{repo}'")
        self.rest = Rest(client, waiting)
        self.repo = repo

    def pull(self, number: int) -> PullRequest:
        return _pull_from(self.rest.object(self._path(f"pulls/{number}")), number)

    def reviews(self, number: int) -> list[Review]:
        return [_review_from(r) for r in self.rest.pages(self._path(f"pulls/{number}/reviews"))]

    def files(self, pr: PullRequest) -> list[str]:
        """Changed paths, including the old path of a rename; fails closed when GitHub
        lists fewer files than the pull request changes."""
        items = self.rest.pages(self._path(f"pulls/{pr.number}/files"))
        if len(items) < pr.changed_files:
            raise ExternalError(_too_many_files(pr, len(items)))
        out: list[str] = []
        for item in items:
            out.append(_text(item, "filename"))
            if isinstance(item.get("previous_filename"), str):
                out.append(item["previous_filename"])
        return sorted(set(out))

    def set_status(self, sha: str, state: str, description: str, target_url: str = "") -> None:
        if state not in _STATUS_STATES:
            raise ValueError(f"unknown commit status state {state}")
        body: dict[str, str] = {"state": state, "context": STATUS_CONTEXT,
                                "description": description[:140]}
        if target_url:
            body["target_url"] = target_url
        self.rest.request("POST", self._path(f"statuses/{sha}"), json=body)

    def merged_pulls_for_commit(self, sha: str) -> list[int]:
        """Numbers of merged pull requests that contain commit SHA (newest first)."""
        pulls = self.rest.pages(self._path(f"commits/{sha}/pulls"))
        merged = [p for p in pulls if p.get("merged_at")]
        return sorted((_int(p, "number") for p in merged), reverse=True)

    def permission(self, login: str) -> str:
        """admin, write, read or none (maintain reads as write, triage as read). On a public
        repository every account has read. HttpError for 403 and 404."""
        path = self._path(f"collaborators/{quote(login, safe='')}/permission")
        return _text(self.rest.object(path), "permission")

    def is_collaborator(self, login: str) -> bool:
        """Collaborators, organization members with access and owners: True (204)."""
        path = self._path(f"collaborators/{quote(login, safe='')}")
        return self.rest.request("GET", path, accept=(404,)).status_code == 204

    def issue_comments(self, number: int) -> list[Comment]:
        return [_comment_from(c) for c in self.rest.pages(self._path(f"issues/{number}/comments"))]

    def create_comment(self, number: int, body: str) -> int:
        path = self._path(f"issues/{number}/comments")
        return _int(self.rest.object(path, "POST", {"body": body}), "id")

    def update_comment(self, comment_id: int, body: str) -> None:
        self.rest.request("PATCH", self._path(f"issues/comments/{comment_id}"),
                          json={"body": body})

    def _path(self, path: str) -> str:
        return f"repos/{self.repo}/{path}"


def account(rest: Rest, login: str) -> Account | None:
    """The account that holds LOGIN now; None when no account has it."""
    return _account(rest, f"users/{quote(login, safe='')}")


def account_by_id(rest: Rest, user_id: int) -> Account | None:
    """The account with numeric id USER_ID (its login may have changed); None when gone."""
    return _account(rest, f"user/{user_id}")


def _account(rest: Rest, path: str) -> Account | None:
    try:
        data = rest.object(path)
    except HttpError as e:
        if e.status == 404:
            return None
        raise
    created = data.get("created_at")
    return Account(_text(data, "login"), _int(data, "id"),
                   created[:10] if isinstance(created, str) else "")


def _too_many_files(pr: PullRequest, listed: int) -> str:
    cap = f", and GitHub lists at most {MAX_FILES:,}" if pr.changed_files > MAX_FILES else ""
    return (f"pull request #{pr.number} changes {pr.changed_files:,} files{cap}; it listed "
            f"{listed:,}: ailoop cannot see which gates the pull request touches, so nothing "
            "was evaluated (split it into smaller pull requests)")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ExternalError(f"GitHub API: field '{key}' is missing or not a string")
    return value


def _sub(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ExternalError(f"GitHub API: field '{key}' is missing or not an object")
    return value


def _pull_from(data: dict[str, Any], number: int) -> PullRequest:
    head, base = _sub(data, "head"), _sub(data, "base")
    return PullRequest(number=number, author=_text(_sub(data, "user"), "login"),
                       head_sha=_text(head, "sha"), base_ref=_text(base, "ref"),
                       base_sha=_text(base, "sha"), changed_files=_int(data, "changed_files"))


def _review_from(data: dict[str, Any]) -> Review:
    user = data.get("user")
    if user is None:  # a deleted account ("ghost"): nobody we can map to a role
        user = {"login": "ghost", "type": "User"}
    if not isinstance(user, dict):
        raise ExternalError("GitHub API: review field 'user' is not an object")
    login = _text(user, "login")
    review_id = data.get("id")
    if not isinstance(review_id, int):
        raise ExternalError("GitHub API: review field 'id' is missing")
    state = _text(data, "state")
    commit = data.get("commit_id")
    user_id = user.get("id")
    association = data.get("author_association")
    return Review(id=review_id, login=login,
                  bot=user.get("type") == "Bot" or login.lower().endswith("[bot]"),
                  state=state, commit_id=commit if isinstance(commit, str) else "",
                  submitted_at=_time(data.get("submitted_at")),
                  user_id=user_id if isinstance(user_id, int) and user_id > 0 else None,
                  association=association if isinstance(association, str) else "")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExternalError(f"GitHub API: '{value[:40]}' is not a time") from None


@dataclass(frozen=True)
class ReviewOutcome:
    """What a pull request's reviews say, after the counting rules."""

    approved: tuple[Review, ...]  # latest review is APPROVED, on the head, by a human non-author
    changes_requested: tuple[Review, ...]  # latest review asks for changes (stale ones too)
    ignored: tuple[tuple[str, str], ...]  # (login, why it does not count)


def review_outcome(reviews: Iterable[Review], pr: PullRequest) -> ReviewOutcome:
    """Apply the rules: the latest non-COMMENTED review per user (logins compare
    case-insensitively) decides; only APPROVED on the current head sha approves; DISMISSED
    and PENDING count for nothing; the author and bots never count."""
    latest: dict[str, Review] = {}
    for review in sorted(reviews, key=lambda r: r.id):  # ids grow with time
        if review.state not in ("COMMENTED", "PENDING"):
            latest[review.login.lower()] = review
    approved: list[Review] = []
    blocking: list[Review] = []
    ignored: list[tuple[str, str]] = []
    for _, review in sorted(latest.items()):
        reason = _not_counted(review, pr)
        if reason:
            ignored.append((review.login, reason))
        elif review.state == "CHANGES_REQUESTED":
            blocking.append(review)
        else:
            approved.append(review)
    return ReviewOutcome(tuple(approved), tuple(blocking), tuple(ignored))


def _not_counted(review: Review, pr: PullRequest) -> str:
    if review.bot:
        return "bot accounts never count as approvers"
    if review.login.lower() == pr.author.lower():
        return "the author of a pull request cannot approve it"
    if review.state == "DISMISSED":
        return "the review was dismissed"
    if review.state == "CHANGES_REQUESTED":
        return ""  # blocks even when given on an older commit, until dismissed or replaced
    if review.state != "APPROVED":
        return f"review state {review.state} does not approve"
    if review.commit_id != pr.head_sha:
        return (f"approved commit {review.commit_id[:12] or '(none)'}, not the current head "
                f"{pr.head_sha[:12]} (stale)")
    return ""


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExternalError(f"GitHub API: expected an integer '{key}'")
    return value


def _comment_from(data: dict[str, Any]) -> Comment:
    user = _sub(data, "user")
    body = data.get("body")
    return Comment(id=_int(data, "id"), login=_text(user, "login"),
                   bot=user.get("type") == "Bot", body=body if isinstance(body, str) else "")
