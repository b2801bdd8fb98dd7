"""A GitHub REST API stand-in on 127.0.0.1 (http.server in a thread).

It serves the JSON shapes of the REST API reference for the endpoints ailoop uses, and
applies GitHub's documented rules and limits, so tests see what real GitHub would do:

GET  /repos/{o}/{r}/pulls/{n}              pull request, with `changed_files`
GET  /repos/{o}/{r}/pulls/{n}/reviews      reviews, with `author_association`
GET  /repos/{o}/{r}/pulls/{n}/files        at most 3,000 files, whatever the PR changes
GET  /repos/{o}/{r}/issues/{n}/comments    POST creates one
PATCH /repos/{o}/{r}/issues/comments/{id}  edit
GET  /repos/{o}/{r}/commits/{sha}/pulls    pull requests containing a commit
POST /repos/{o}/{r}/statuses/{sha}         commit status (recorded)
GET  /repos/{o}/{r}/collaborators/{u}/permission   admin|write|read|none; on a public
                                           repository everyone has at least read
GET  /repos/{o}/{r}/collaborators/{u}      204 for a collaborator, 404 otherwise
GET  /users/{login}, GET /user/{id}        accounts

Lists are paginated: `per_page` defaults to 30 and is capped at 100, with `Link` headers
(next, last, first, prev). Every answer carries the `x-ratelimit-*` headers; when the
primary limit is used up the answer is 403 with `x-ratelimit-remaining: 0`, and queued
secondary limits answer 403 or 429 with or without `retry-after`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = "acme-corp/ailoop-gitops"
TOKEN = "test-token-not-a-secret"
DEFAULT_PER_PAGE = 30  # GitHub's documented pagination defaults and limits
MAX_PER_PAGE = 100
MAX_FILES = 3000  # "Responses include a maximum of 3000 files" (list pull request files)
RATE_LIMIT = 5000  # primary limit per hour for a token
WINDOW = 3600
DOCS = "https://docs.github.com/rest"
SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you "
             "try again.")
_MESSAGES = {401: "Bad credentials", 403: "Resource not accessible by integration",
             404: "Not Found", 422: "Validation Failed"}


def account_id(login: str) -> int:
    """The numeric id the stand-in gives an account (stable across runs)."""
    return zlib.crc32(login.lower().encode()) % 10**8 + 1


def user(login: str, *, bot: bool = False, user_id: int | None = None) -> dict[str, Any]:
    return {"login": login, "id": user_id or account_id(login), "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://github.com/images/error/octocat_happy.gif",
            "url": f"https://api.github.com/users/{login}", "type": "Bot" if bot else "User",
            "site_admin": False}


def review(review_id: int, login: str, state: str, commit_id: str, *, bot: bool = False,
           submitted_at: str = "2026-11-20T10:00:00Z", association: str = "COLLABORATOR",
           user_id: int | None = None) -> dict[str, Any]:
    """A pull request review as GET /repos/{owner}/{repo}/pulls/{n}/reviews returns it."""
    out: dict[str, Any] = {
        "id": review_id, "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=",
        "user": user(login, bot=bot, user_id=user_id),
        "body": "", "state": state,
        "html_url": f"https://github.com/{REPO}/pull/7#pullrequestreview-{review_id}",
        "pull_request_url": f"https://api.github.com/repos/{REPO}/pulls/7",
        "_links": {"html": {"href": "https://github.com/"}, "pull_request": {"href": ""}},
        "author_association": association, "commit_id": commit_id,
    }
    if state != "PENDING":
        out["submitted_at"] = submitted_at
    return out


def chatter(count: int, commit_id: str, first_id: int = 1000) -> list[dict[str, Any]]:
    """COMMENTED reviews by passers-by: enough of them push other reviews to later pages."""
    return [review(first_id + i, f"watcher-{i}", "COMMENTED", commit_id, association="NONE")
            for i in range(count)]


def pull(number: int, author: str, head_sha: str, base_sha: str) -> dict[str, Any]:
    """A pull request; the stand-in fills in `changed_files` from its files unless set."""
    return {
        "url": f"https://api.github.com/repos/{REPO}/pulls/{number}", "id": 1000 + number,
        "number": number, "state": "open", "locked": False, "title": "Raise rollout target",
        "user": user(author), "body": "", "draft": False,
        "head": {"label": f"{author}:feature", "ref": "feature", "sha": head_sha,
                 "user": user(author), "repo": {"full_name": REPO}},
        "base": {"label": "acme-corp:main", "ref": "main", "sha": base_sha,
                 "user": user("acme-corp"), "repo": {"full_name": REPO}},
        "merged": False, "mergeable": True, "comments": 0, "commits": 1,
    }


def changed_file(filename: str, status: str = "modified") -> dict[str, Any]:
    return {"sha": "bbcd538c8e72b8c175046e27cc8f907076331401", "filename": filename,
            "status": status, "additions": 1, "deletions": 1, "changes": 2,
            "blob_url": f"https://github.com/{REPO}/blob/x/{filename}",
            "raw_url": f"https://github.com/{REPO}/raw/x/{filename}",
            "contents_url": f"https://api.github.com/repos/{REPO}/contents/{filename}",
            "patch": "@@ -1 +1 @@"}


def comment(comment_id: int, login: str, body: str, *, bot: bool = False) -> dict[str, Any]:
    """An issue comment as GET /repos/{owner}/{repo}/issues/{n}/comments returns it."""
    return {"id": comment_id, "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
            "url": f"https://api.github.com/repos/{REPO}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{REPO}/pull/7#issuecomment-{comment_id}",
            "body": body, "user": user(login, bot=bot),
            "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z",
            "author_association": "NONE"}


@dataclass
class FakeGitHub:
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[tuple[str, int], int] = field(default_factory=dict)  # (kind, page) -> status
    statuses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)  # sha -> PR numbers
    # Repository access: login (any case) -> admin|maintain|write|triage|read.
    collaborators: dict[str, str] = field(default_factory=dict)
    public: bool = False  # everyone has read permission on a public repository
    accounts: dict[str, int] = field(default_factory=dict)  # login -> id, for /users
    # Rate limits: the primary window, and secondary limits queued as (403|429, retry-after).
    clock: Callable[[], float] = time.time
    remaining: int = RATE_LIMIT
    reset: float = 0.0  # epoch seconds; 0 until the first request opens the window
    secondary: list[tuple[int, int | None]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    pull_reads: int = 0
    after_first_pull: dict[str, Any] | None = None  # the PR as later reads see it
    url: str = ""

    def permission(self, login: str) -> str:
        granted = {k.lower(): v for k, v in self.collaborators.items()}.get(login.lower())
        if granted is not None:
            return {"maintain": "write", "triage": "read"}.get(granted, granted)
        return "read" if self.public else "none"

    def account(self, login: str) -> tuple[str, int] | None:
        for name, number in self.accounts.items():
            if name.lower() == login.lower():
                return name, number
        return None

    def rate_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining":
                str(max(self.remaining, 0)), "x-ratelimit-used":
                str(RATE_LIMIT - max(self.remaining, 0)), "x-ratelimit-reset":
                str(int(self.reset)), "x-ratelimit-resource": "core"}

    def spend(self) -> tuple[int, str, dict[str, str]] | None:
        """Count one request; the rate-limit answer to send instead, if any."""
        now = self.clock()
        if not self.reset or now >= self.reset:
            if self.reset:
                self.remaining = RATE_LIMIT
            self.reset = now + WINDOW
        if self.secondary:
            status, after = self.secondary.pop(0)
            extra = {} if after is None else {"retry-after": str(after)}
            return status, SECONDARY, extra
        if self.remaining <= 0:
            return 403, "API rate limit exceeded for user ID 1.", {}
        self.remaining -= 1
        return None


_REPO_PATH = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/(?P<rest>.+)")


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if status == 204 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in {**fake.rate_headers(), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str = "",
                   headers: dict[str, str] | None = None) -> None:
            text = message or _MESSAGES.get(status, "Server Error")
            self._send(status, {"message": text, "documentation_url": DOCS,
                                "status": str(status)}, headers)

        def _admit(self, method: str) -> bool:
            """Record the request; answer 401 or a rate limit here when one applies."""
            fake.requests.append(f"{method} {self.path}")
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._error(401)
                return False
            limited = fake.spend()
            if limited is not None:
                self._error(*limited)
                return False
            return True

        def _repo_rest(self) -> str | None:
            match = _REPO_PATH.fullmatch(urlsplit(self.path).path)
            if match is None or f"{match['owner']}/{match['name']}" != REPO:
                return None
            return match["rest"]

        def do_GET(self) -> None:
            if not self._admit("GET"):
                return
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            segs = parts.path.strip("/").split("/")
            if segs[0] in ("users", "user") and len(segs) == 2:
                self._account(segs[0], segs[1])
                return
            rest = self._repo_rest()
            route = (rest or "").split("/")
            if rest is None:
                self._error(404)
            elif route[0] == "collaborators":
                self._collaborator(route)
            elif route[0] == "pulls" and len(route) == 2:
                self._pull(int(route[1]))
            elif route[0] == "pulls" and len(route) == 3 and route[2] in ("reviews", "files"):
                items = (fake.reviews if route[2] == "reviews" else fake.files)
                listed = items.get(int(route[1]), [])
                self._page(route[2], listed[:MAX_FILES] if route[2] == "files" else listed,
                           query, parts.path)
            elif route[0] == "issues" and len(route) == 3 and route[2] == "comments":
                self._page("comments", fake.comments.get(int(route[1]), []), query, parts.path)
            elif route[0] == "commits" and len(route) == 3 and route[2] == "pulls":
                listed = [fake.pulls[n] for n in fake.commit_pulls.get(route[1], [])]
                self._page("pulls", listed, query, parts.path)
            else:
                self._error(404)

        def _pull(self, number: int) -> None:
            if ("pull", 1) in fake.fail:
                self._error(fake.fail[("pull", 1)])
                return
            fake.pull_reads += 1
            body = fake.pulls.get(number)
            if fake.pull_reads > 1 and fake.after_first_pull is not None:
                body = fake.after_first_pull
            if not body:
                self._error(404)
                return
            self._send(200, {"changed_files": len(fake.files.get(number, [])), **body})

        def _collaborator(self, route: list[str]) -> None:
            kind = "permission" if route[-1] == "permission" else "collaborator"
            if (kind, 1) in fake.fail:
                self._error(fake.fail[(kind, 1)])
                return
            login = route[1]
            granted = fake.permission(login)
            if kind == "collaborator":
                if login.lower() in {k.lower() for k in fake.collaborators}:
                    self._send(204, None)
                else:
                    self._error(404)
                return
            self._send(200, {"permission": granted, "role_name": granted,
                             "user": {**user(login), "permissions": {
                                 "admin": granted == "admin", "push": granted in ("admin",
                                                                                  "write"),
                                 "pull": granted != "none"}}})

        def _account(self, kind: str, key: str) -> None:
            if ("users", 1) in fake.fail:
                self._error(fake.fail[("users", 1)])
                return
            found = fake.account(key) if kind == "users" else next(
                ((name, number) for name, number in fake.accounts.items()
                 if str(number) == key), None)
            if found is None:
                self._error(404)
                return
            self._send(200, {**user(found[0], user_id=found[1]), "name": None,
                             "created_at": "2020-01-01T00:00:00Z"})

        def _page(self, kind: str, items: list[dict[str, Any]], query: dict[str, list[str]],
                  path: str) -> None:
            page = _number(query, "page", 1)
            if (kind, page) in fake.fail:
                self._error(fake.fail[(kind, page)])
                return
            size = min(_number(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
            chunk = items[(page - 1) * size: page * size]
            last = max(1, -(-len(items) // size))
            base = f"{fake.url}{path}?per_page={size}"
            links = []
            if page < last:
                links.append(f'<{base}&page={page + 1}>; rel="next"')
                links.append(f'<{base}&page={last}>; rel="last"')
            if page > 1:
                links.append(f'<{base}&page={page - 1}>; rel="prev"')
                links.append(f'<{base}&page=1>; rel="first"')
            self._send(200, chunk, {"Link": ", ".join(links)} if links else None)

        def do_POST(self) -> None:
            if not self._admit("POST"):
                return
            route = (self._repo_rest() or "").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if len(route) == 3 and route[0] == "issues" and route[2] == "comments":
                made = comment(1000 + sum(len(c) for c in fake.comments.values()),
                               "github-actions[bot]", body.get("body", ""), bot=True)
                fake.comments.setdefault(int(route[1]), []).append(made)
                self._send(201, made)
                return
            if len(route) == 2 and route[0] == "statuses":
                if ("statuses", 1) in fake.fail:
                    self._error(fake.fail[("statuses", 1)])
                    return
                fake.statuses.append((route[1], body))
                self._send(201, {"url": f"https://api.github.com/repos/{REPO}/statuses/"
                                        f"{route[1]}", "id": len(fake.statuses),
                                 "state": body.get("state"), "context": body.get("context"),
                                 "description": body.get("description"),
                                 "target_url": body.get("target_url"),
                                 "created_at": "2026-11-20T10:00:00Z",
                                 "updated_at": "2026-11-20T10:00:00Z",
                                 "creator": user("github-actions[bot]", bot=True)})
                return
            self._error(404)

        def do_PATCH(self) -> None:
            if not self._admit("PATCH"):
                return
            route = (self._repo_rest() or "").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            for items in fake.comments.values():
                for item in items:
                    if len(route) == 3 and route[:2] == ["issues", "comments"] \
                            and str(item["id"]) == route[2]:
                        item["body"] = body.get("body", "")
                        self._send(200, item)
                        return
            self._error(404)

    return Handler


def _number(query: dict[str, list[str]], key: str, default: int) -> int:
    """A positive integer query parameter; GitHub falls back to the default otherwise."""
    text = query.get(key, [""])[0]
    return int(text) if text.isdigit() and int(text) > 0 else default


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
