from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from pipeline.approvals.github import GitHubApi, PullRequest, Review, review_outcome
from pipeline.errors import ExternalError

HEAD, OLD = "a" * 40, "b" * 40
PR = PullRequest(7, "Eve-Dev", HEAD, "main", OLD)


def r(review_id: int, login: str, state: str, sha: str = HEAD, bot: bool = False) -> Review:
    return Review(review_id, login, bot, state, sha, datetime(2026, 11, 20, tzinfo=UTC))


def test_latest_non_commented_review_per_user_decides() -> None:
    out = review_outcome([r(1, "ann", "APPROVED"), r(2, "ANN", "COMMENTED"),
                          r(3, "raj", "APPROVED"), r(4, "Raj", "CHANGES_REQUESTED"),
                          r(5, "kim", "CHANGES_REQUESTED"), r(6, "kim", "APPROVED"),
                          r(7, "lee", "APPROVED", OLD), r(8, "max", "DISMISSED"),
                          r(9, "noa", "PENDING"), r(10, "eve-dev", "APPROVED"),
                          r(11, "bot", "APPROVED", bot=True)], PR)
    assert [x.login for x in out.approved] == ["ann", "kim"]
    assert [x.login for x in out.changes_requested] == ["Raj"]
    assert out.ignored == (
        ("bot", "bot accounts never count as approvers"),
        ("eve-dev", "the author of a pull request cannot approve it"),
        ("lee", f"approved commit {OLD[:12]}, not the current head {HEAD[:12]} (stale)"),
        ("max", "the review was dismissed"))


def api(handler: httpx.MockTransport) -> GitHubApi:
    return GitHubApi(httpx.Client(base_url="http://127.0.0.1:9/", transport=handler), "o/r")


def test_malformed_json_fails_closed() -> None:
    bad = httpx.MockTransport(lambda req: httpx.Response(200, content=b"{not json"))
    with pytest.raises(ExternalError, match="the answer is not valid JSON"):
        api(bad).reviews(7)


def test_a_pagination_link_to_another_host_is_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={
            "Link": '<https://evil.example/repos/o/r/pulls/7/reviews?page=2>; rel="next"'})
    with pytest.raises(ExternalError, match="pagination link points to another host"):
        api(httpx.MockTransport(handler)).reviews(7)


def test_missing_fields_and_network_errors_fail_closed() -> None:
    shapeless = httpx.MockTransport(lambda req: httpx.Response(200, json={"number": 7}))
    with pytest.raises(ExternalError, match="field 'head' is missing or not an object"):
        api(shapeless).pull(7)

    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")
    with pytest.raises(ExternalError, match=r"GitHub API GET /repos/o/r/pulls/7 failed: "
                                            "ConnectError"):
        api(httpx.MockTransport(down)).pull(7)
