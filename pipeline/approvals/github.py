"""GitHub REST API: a pull request, its reviews and files, and commit statuses.

The httpx client is passed in (tests point it at 127.0.0.1). Anything unexpected fails
closed: a network error, a non-2xx answer, JSON that is not what the REST API documents,
or a pagination link to another host, on any page, raises ExternalError (exit 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipeline.errors import ExternalError

API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 reviews or files: far beyond any real pull request
STATUS_CONTEXT = "ailoop/approvals"
_STATUS_STATES = frozenset({"error", "failure", "pending", "success"})


@dataclass(frozen=True)
class PullRequest:
    number: int
    author: str
    head_sha: str
    base_ref: str
    base_sha: str


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


def make_client(api_url: str, token: str, *, timeout: float = 15.0) -> httpx.Client:
    """An httpx client for the GitHub REST API; the token never appears in messages."""
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
               "User-Agent": "ailoop"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=api_url.rstrip("/") + "/", headers=headers,
                        timeout=httpx.Timeout(timeout), follow_redirects=False)


class GitHubApi:
    """The few REST endpoints ailoop needs, for one repository ('owner/name')."""

    def __init__(self, client: httpx.Client, repo: str) -> None:
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise ExternalError(f"GitHub repository must look like owner/name, not '{repo}'")
        self._client = client
        self._repo = repo

    def pull(self, number: int) -> PullRequest:
        data = self._object(self._request("GET", f"pulls/{number}"), f"pulls/{number}")
        return _pull_from(data, number)

    def reviews(self, number: int) -> list[Review]:
        return [_review_from(r) for r in self._pages(f"pulls/{number}/reviews")]

    def files(self, number: int) -> list[str]:
        """Changed paths, including the old path of a rename."""
        out: list[str] = []
        for item in self._pages(f"pulls/{number}/files"):
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
        self._request("POST", f"statuses/{sha}", json=body)

    def merged_pulls_for_commit(self, sha: str) -> list[int]:
        """Numbers of merged pull requests that contain commit SHA (newest first)."""
        data = _json(self._request("GET", f"commits/{sha}/pulls"), f"commits/{sha}/pulls")
        pulls = _list_of_objects(data, f"commits/{sha}/pulls", 1)
        merged = [p for p in pulls if p.get("merged_at")]
        return sorted((_int(p, "number") for p in merged), reverse=True)

    def issue_comments(self, number: int) -> list[Comment]:
        return [_comment_from(c) for c in self._pages(f"issues/{number}/comments")]

    def create_comment(self, number: int, body: str) -> int:
        data = self._object(self._request("POST", f"issues/{number}/comments",
                                          json={"body": body}), f"issues/{number}/comments")
        return _int(data, "id")

    def update_comment(self, comment_id: int, body: str) -> None:
        self._request("PATCH", f"issues/comments/{comment_id}", json={"body": body})

    def _url(self, path: str) -> str:
        return f"repos/{self._repo}/{path}"

    def _request(self, method: str, path: str, *, json: Any = None,
                 params: dict[str, Any] | None = None, url: str | None = None) -> httpx.Response:
        where = f"{method} /repos/{self._repo}/{path}"
        try:
            response = self._client.request(method, url or self._url(path), json=json,
                                            params=params)
        except httpx.HTTPError as e:
            raise ExternalError(f"GitHub API {where} failed: {type(e).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise ExternalError(f"GitHub API {where} answered HTTP {response.status_code}")
        return response

    def _object(self, response: httpx.Response, path: str) -> dict[str, Any]:
        data = _json(response, path)
        if not isinstance(data, dict):
            raise ExternalError(f"GitHub API /repos/{self._repo}/{path}: expected a JSON object")
        return data

    def _pages(self, path: str) -> Iterable[dict[str, Any]]:
        """Every item of a paginated list, following Link rel="next" on the API host only."""
        items: list[dict[str, Any]] = []
        response = self._request("GET", path, params={"per_page": PER_PAGE})
        for page in range(1, MAX_PAGES + 1):
            items.extend(_list_of_objects(_json(response, path), path, page))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            self._check_same_host(next_url, path)
            response = self._request("GET", path, url=next_url)
        raise ExternalError(f"GitHub API /repos/{self._repo}/{path}: more than {MAX_PAGES} pages")

    def _check_same_host(self, url: str, path: str) -> None:
        # The token goes with every request: never follow a link off the API host.
        if urlsplit(url).netloc != self._client.base_url.netloc.decode():
            raise ExternalError(f"GitHub API /repos/{self._repo}/{path}: pagination link "
                                "points to another host")


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ExternalError(f"GitHub API {path}: the answer is not valid JSON") from None


def _list_of_objects(data: Any, path: str, page: int) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise ExternalError(f"GitHub API {path} page {page}: expected a JSON list of objects")
    return data


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
                       base_sha=_text(base, "sha"))


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
    return Review(id=review_id, login=login,
                  bot=user.get("type") == "Bot" or login.lower().endswith("[bot]"),
                  state=state, commit_id=commit if isinstance(commit, str) else "",
                  submitted_at=_time(data.get("submitted_at")))


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
