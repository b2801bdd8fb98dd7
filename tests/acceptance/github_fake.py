"""A GitHub REST API stand-in on 127.0.0.1 (http.server in a thread).

It serves the JSON shapes of the REST API reference for the endpoints ailoop uses:
GET  /repos/{o}/{r}/pulls/{n}            (pull request)
GET  /repos/{o}/{r}/pulls/{n}/reviews    (paginated with Link headers)
GET  /repos/{o}/{r}/pulls/{n}/files      (paginated with Link headers)
POST /repos/{o}/{r}/statuses/{sha}       (commit status; recorded)
GET  /repos/{o}/{r}/issues/{n}/comments  (paginated), POST (create)
PATCH /repos/{o}/{r}/issues/comments/{id} (edit)
GET  /repos/{o}/{r}/commits/{sha}/pulls  (pull requests containing a commit)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = "acme-corp/ailoop-gitops"
TOKEN = "test-token-not-a-secret"


def user(login: str, *, bot: bool = False) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**6, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://github.com/images/error/octocat_happy.gif",
            "url": f"https://api.github.com/users/{login}", "type": "Bot" if bot else "User",
            "site_admin": False}


def review(review_id: int, login: str, state: str, commit_id: str, *, bot: bool = False,
           submitted_at: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    """A pull request review as GET /repos/{owner}/{repo}/pulls/{n}/reviews returns it."""
    out: dict[str, Any] = {
        "id": review_id, "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=",
        "user": user(login, bot=bot),
        "body": "", "state": state,
        "html_url": f"https://github.com/{REPO}/pull/7#pullrequestreview-{review_id}",
        "pull_request_url": f"https://api.github.com/repos/{REPO}/pulls/7",
        "_links": {"html": {"href": "https://github.com/"}, "pull_request": {"href": ""}},
        "author_association": "COLLABORATOR", "commit_id": commit_id,
    }
    if state != "PENDING":
        out["submitted_at"] = submitted_at
    return out


def pull(number: int, author: str, head_sha: str, base_sha: str) -> dict[str, Any]:
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


@dataclass
class FakeGitHub:
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2  # small, so every list is paginated
    fail: dict[tuple[str, int], int] = field(default_factory=dict)  # (kind, page) -> status
    statuses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)  # sha -> PR numbers
    requests: list[str] = field(default_factory=list)
    pull_reads: int = 0
    after_first_pull: dict[str, Any] | None = None  # the PR as later reads see it
    url: str = ""


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"message": "Bad credentials",
                                 "documentation_url": "https://docs.github.com/rest"})
                return False
            return True

        def do_GET(self) -> None:
            fake.requests.append(f"GET {self.path}")
            if not self._authorized():
                return
            parts = urlsplit(self.path)
            segs = parts.path.strip("/").split("/")
            if len(segs) == 6 and segs[3] == "commits" and segs[5] == "pulls":
                self._send(200, [fake.pulls[n] for n in fake.commit_pulls.get(segs[4], [])])
                return
            if len(segs) == 6 and segs[3] == "issues" and segs[5] == "comments":
                page = int(parse_qs(parts.query).get("page", ["1"])[0])
                self._page("comments", int(segs[4]), fake.comments.get(int(segs[4]), []), page,
                           "issues")
                return
            if len(segs) < 5 or segs[:3] != ["repos", *REPO.split("/")] or segs[3] != "pulls":
                self._send(404, {"message": "Not Found"})
                return
            number = int(segs[4])
            if len(segs) == 5:
                fake.pull_reads += 1
                body = fake.pulls.get(number)
                if fake.pull_reads > 1 and fake.after_first_pull is not None:
                    body = fake.after_first_pull
                self._send(200, body) if body else self._send(404, {"message": "Not Found"})
                return
            kind = segs[5]
            items = (fake.reviews if kind == "reviews" else fake.files).get(number, [])
            page = int(parse_qs(parts.query).get("page", ["1"])[0])
            self._page(kind, number, items, page)

        def _page(self, kind: str, number: int, items: list[dict[str, Any]], page: int,
                  parent: str = "pulls") -> None:
            if (kind, page) in fake.fail:
                self._send(fake.fail[(kind, page)], {"message": "Server Error"})
                return
            size = fake.page_size
            chunk = items[(page - 1) * size: page * size]
            last = max(1, -(-len(items) // size))
            base = f"{fake.url}/repos/{REPO}/{parent}/{number}/{kind}?per_page={size}"
            links = []
            if page < last:
                links.append(f'<{base}&page={page + 1}>; rel="next"')
                links.append(f'<{base}&page={last}>; rel="last"')
            if page > 1:
                links.append(f'<{base}&page=1>; rel="first"')
            self._send(200, chunk, {"Link": ", ".join(links)} if links else None)

        def do_POST(self) -> None:
            fake.requests.append(f"POST {self.path}")
            if not self._authorized():
                return
            segs = self.path.strip("/").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if len(segs) == 6 and segs[3] == "issues" and segs[5] == "comments":
                made = comment(1000 + sum(len(c) for c in fake.comments.values()),
                               "github-actions[bot]", body.get("body", ""), bot=True)
                fake.comments.setdefault(int(segs[4]), []).append(made)
                self._send(201, made)
                return
            if len(segs) == 5 and segs[3] == "statuses":
                fake.statuses.append((segs[4], body))
                self._send(201, {"url": f"https://api.github.com/repos/{REPO}/statuses/"
                                        f"{segs[4]}", "id": len(fake.statuses),
                                 "state": body.get("state"), "context": body.get("context"),
                                 "description": body.get("description"),
                                 "target_url": body.get("target_url"),
                                 "created_at": "2026-11-20T10:00:00Z",
                                 "updated_at": "2026-11-20T10:00:00Z",
                                 "creator": user("github-actions[bot]", bot=True)})
                return
            self._send(404, {"message": "Not Found"})

        def do_PATCH(self) -> None:
            fake.requests.append(f"PATCH {self.path}")
            if not self._authorized():
                return
            segs = self.path.strip("/").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            for items in fake.comments.values():
                for item in items:
                    if len(segs) == 6 and segs[3:5] == ["issues", "comments"] \
                            and str(item["id"]) == segs[5]:
                        item["body"] = body.get("body", "")
                        self._send(200, item)
                        return
            self._send(404, {"message": "Not Found"})

    return Handler


def comment(comment_id: int, login: str, body: str, *, bot: bool = False) -> dict[str, Any]:
    """An issue comment as GET /repos/{owner}/{repo}/issues/{n}/comments returns it."""
    return {"id": comment_id, "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
            "url": f"https://api.github.com/repos/{REPO}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{REPO}/pull/7#issuecomment-{comment_id}",
            "body": body, "user": user(login, bot=bot),
            "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z",
            "author_association": "NONE"}


@contextmanager
def serve(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
