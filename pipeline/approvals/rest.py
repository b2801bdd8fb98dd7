"""Requests to the GitHub REST API, with GitHub's documented limits applied.

The httpx client is passed in (tests point it at 127.0.0.1), and so are the clock and the
sleep. Anything unexpected fails closed with ExternalError (exit 3): a network error, a
non-2xx answer, JSON that is not what the REST API documents, a pagination link to another
host, on any page. Rate limits (403 or 429) are waited out as GitHub documents them, up to a
bound for the whole run, then fail closed with "rate limited until <time>".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.errors import ExternalError

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx

API_VERSION = "2022-11-28"
PER_PAGE = 100  # GitHub's maximum page size
MAX_PAGES = 100  # 10,000 reviews or files: far beyond any real pull request
MAX_WAIT = 300.0  # seconds one run may spend waiting out rate limits
MAX_TRIES = 5  # answers per request, rate limits included
SECONDARY_WAIT = 60.0  # "wait for at least one minute", doubling on each retry


class HttpError(ExternalError):
    """GitHub answered a non-2xx status that is not a rate limit."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ExternalError):
    """GitHub asked us to wait longer than the run may."""


@dataclass(eq=False)
class Waiting:
    """How long a run may wait out rate limits, the clock and sleep it uses, and how long
    it has waited so far: one per run, shared by every client the run opens."""

    max_wait: float = MAX_WAIT
    clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)
    waited: float = 0.0


def make_client(api_url: str, token: str, *, timeout: float = 15.0) -> httpx.Client:
    """An httpx client for the GitHub REST API; the token never appears in messages."""
    import httpx

    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
               "User-Agent": "ailoop"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=api_url.rstrip("/") + "/", headers=headers,
                        timeout=httpx.Timeout(timeout), follow_redirects=False)


def rate_limit_wait(response: httpx.Response, tries: int, now: float) -> tuple[float, str] | None:
    """Seconds to wait before asking again, and which limit it is; None when the answer is
    not a rate limit. GitHub's rules: `retry-after` first; else the reset time when
    `x-ratelimit-remaining` is 0; else, for a secondary limit, a minute, doubling."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    after = headers.get("retry-after", "")
    if after.isdigit():
        return float(after), "secondary rate limit"
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - now), "the primary rate limit is used up"
    if response.status_code == 429 or "rate limit" in _message(response).lower():
        return SECONDARY_WAIT * 2 ** (tries - 1), "secondary rate limit"
    return None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


class Rest:
    """GET, POST and PATCH on paths below the API root, and every page of a list."""

    def __init__(self, client: httpx.Client, waiting: Waiting | None = None) -> None:
        self._client = client
        self._waiting = waiting or Waiting()

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, Any] | None = None, url: str | None = None,
                accept: tuple[int, ...] = ()) -> httpx.Response:
        """The answer, after waiting out rate limits; a non-2xx status not in `accept`
        raises HttpError."""
        where = f"{method} /{path}"
        for tries in range(1, MAX_TRIES + 1):
            response = self._send(method, url or path, json, params, where)
            wait = rate_limit_wait(response, tries, self._waiting.clock())
            if wait is None:
                break
            self._pause(where, *wait, last=tries == MAX_TRIES)
        if not (200 <= response.status_code < 300 or response.status_code in accept):
            raise HttpError(f"GitHub API {where} answered HTTP {response.status_code}",
                            response.status_code)
        return response

    def _send(self, method: str, target: str, json: Any, params: dict[str, Any] | None,
              where: str) -> httpx.Response:
        import httpx

        try:
            return self._client.request(method, target, json=json, params=params)
        except httpx.HTTPError as e:
            raise ExternalError(f"GitHub API {where} failed: {type(e).__name__}") from None

    def _pause(self, where: str, seconds: float, kind: str, *, last: bool) -> None:
        waiting = self._waiting
        if last or waiting.waited + seconds > waiting.max_wait:
            until = _iso(waiting.clock() + seconds)
            raise RateLimited(f"GitHub API {where}: rate limited until {until} ({kind}); "
                              f"ailoop waits at most {_span(waiting.max_wait)} for GitHub")
        waiting.waited += seconds
        waiting.sleep(seconds)

    def object(self, path: str, method: str = "GET", json: Any = None) -> dict[str, Any]:
        data = _decoded(self.request(method, path, json=json), path)
        if not isinstance(data, dict):
            raise ExternalError(f"GitHub API /{path}: expected a JSON object")
        return data

    def pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list, following Link rel="next" on the API host only."""
        items: list[dict[str, Any]] = []
        response = self.request("GET", path, params={"per_page": PER_PAGE})
        for page in range(1, MAX_PAGES + 1):
            items.extend(_list_of_objects(_decoded(response, path), path, page))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return items
            self._check_same_host(next_url, path)
            response = self.request("GET", path, url=next_url)
        raise ExternalError(f"GitHub API /{path}: more than {MAX_PAGES} pages")

    def _check_same_host(self, url: str, path: str) -> None:
        # The token goes with every request: never follow a link off the API host.
        if urlsplit(url).netloc != self._client.base_url.netloc.decode():
            raise ExternalError(f"GitHub API /{path}: pagination link points to another host")


def _decoded(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ExternalError(f"GitHub API /{path}: the answer is not valid JSON") from None


def _list_of_objects(data: Any, path: str, page: int) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise ExternalError(f"GitHub API /{path} page {page}: expected a JSON list of objects")
    return data
