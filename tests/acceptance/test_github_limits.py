"""GitHub's documented limits, as the stand-in applies them: at most 3,000 files listed for a
pull request, pages of at most 100, and rate limits (primary: 403 with
x-ratelimit-remaining 0 until x-ratelimit-reset; secondary: 403 or 429, with or without
retry-after). The waits use an injected clock and sleep: nothing here really sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from pipeline.approvals.github import GitHubApi
from pipeline.approvals.rest import HttpError, RateLimited, Waiting, make_client
from tests.acceptance.approvals_support import approvals_repo, customer_yaml
from tests.acceptance.github_fake import (
    REPO,
    TOKEN,
    FakeGitHub,
    changed_file,
    chatter,
    pull,
    review,
    serve,
)
from tests.acceptance.test_approvals_github import PR, Pr, approved, gate, open_pr

START = 1_900_000_000.0  # 2030-03-17T17:46:40Z
RESET = 4_102_444_800  # 2100-01-01T00:00:00Z


@dataclass
class Clock:
    now: float = START
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def pr(tmp_path: Path, github_env: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Pr:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return open_pr(approvals_repo(tmp_path, customer_yaml()), github_env, "eve-dev")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeGitHub]:
    """A stand-in on the test's clock, with pull request 7 and its reviews."""
    with serve(FakeGitHub(clock=clock.time)) as running:
        running.pulls[PR] = pull(PR, "eve-dev", "a" * 40, "b" * 40)
        running.reviews[PR] = chatter(250, "a" * 40)
        yield running


@pytest.fixture
def api(fake: FakeGitHub, clock: Clock) -> Iterator[GitHubApi]:
    with make_client(fake.url, TOKEN) as http:
        yield GitHubApi(http, REPO, Waiting(clock=clock.time, sleep=clock.sleep))


# --- through the CLI -----------------------------------------------------------------------

def test_a_pr_changing_more_files_than_github_lists_fails_closed(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.fake.files[PR] += [changed_file(f"docs/page-{i}.md") for i in range(3000)]
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert (result.code, result.err) == (3, (
        "error: pull request #7 changes 3,002 files, and GitHub lists at most 3,000; it listed "
        "3,000: ailoop cannot see which gates the pull request touches, so nothing was "
        "evaluated (split it into smaller pull requests)\n"))
    assert f"GET /repos/{REPO}/pulls/7/files?per_page=100&page=30" in pr.fake.requests
    assert pr.fake.statuses == []


def test_a_primary_rate_limit_past_the_bound_fails_closed_at_once(
        capsys: pytest.CaptureFixture[str], pr: Pr) -> None:
    pr.fake.remaining, pr.fake.reset = 2, RESET  # the PR and its files, then nothing
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert (result.code, result.err) == (3, (
        f"error: GitHub API GET /repos/{REPO}/pulls/7/reviews: rate limited until "
        "2100-01-01T00:00:00Z (the primary rate limit is used up); ailoop waits at most 5m "
        "for GitHub\n"))
    assert [r for r in pr.fake.requests if "/reviews" in r] == [
        f"GET /repos/{REPO}/pulls/7/reviews?per_page=100"]  # asked once, not hammered
    assert pr.fake.statuses == []


def test_a_secondary_rate_limit_is_waited_out(capsys: pytest.CaptureFixture[str],
                                              pr: Pr) -> None:
    pr.fake.secondary = [(429, 0), (403, 0)]
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"))
    result = gate(capsys, pr)
    assert result.code == 0, result.err
    assert pr.fake.requests[:3] == [f"GET /repos/{REPO}/pulls/7"] * 3
    assert [s["state"] for _, s in pr.fake.statuses] == ["success"]


def test_a_secondary_rate_limit_past_the_bound_says_so(capsys: pytest.CaptureFixture[str],
                                                      pr: Pr) -> None:
    pr.fake.secondary = [(403, 3600)]
    result = gate(capsys, pr)
    assert result.code == 3
    assert result.err.startswith(f"error: GitHub API GET /repos/{REPO}/pulls/7: rate limited "
                                 "until 20")
    assert "(secondary rate limit); ailoop waits at most 5m for GitHub" in result.err


# --- the client against the stand-in, on the test's clock ------------------------------

def test_retry_after_is_honoured(api: GitHubApi, fake: FakeGitHub, clock: Clock) -> None:
    fake.secondary = [(403, 30)]
    assert api.pull(PR).number == PR
    assert clock.slept == [30]


def test_a_used_up_primary_limit_waits_for_the_reset(api: GitHubApi, fake: FakeGitHub,
                                                     clock: Clock) -> None:
    fake.remaining, fake.reset = 0, START + 120
    assert len(api.reviews(PR)) == 250
    assert clock.slept == [120]


def test_a_secondary_limit_without_headers_waits_a_minute_then_twice_as_long(
        api: GitHubApi, fake: FakeGitHub, clock: Clock) -> None:
    fake.secondary = [(403, None), (429, None)]
    assert api.pull(PR).number == PR
    assert clock.slept == [60, 120]


def test_waits_add_up_to_the_bound_then_fail_closed(api: GitHubApi, fake: FakeGitHub,
                                                    clock: Clock) -> None:
    fake.secondary = [(429, 200), (429, 200)]
    with pytest.raises(RateLimited) as caught:
        api.reviews(PR)
    assert str(caught.value) == (
        f"GitHub API GET /repos/{REPO}/pulls/{PR}/reviews: rate limited until "
        "2030-03-17T17:53:20Z (secondary rate limit); ailoop waits at most 5m for GitHub")
    assert clock.slept == [200]


def test_a_limit_that_never_lifts_stops_after_five_answers(api: GitHubApi, fake: FakeGitHub,
                                                           clock: Clock) -> None:
    fake.secondary = [(429, 0)] * 10
    with pytest.raises(RateLimited, match="rate limited until 2030-03-17T17:46:40Z"):
        api.pull(PR)
    assert len(fake.requests) == 5


def test_a_403_that_is_not_a_rate_limit_is_not_retried(api: GitHubApi, fake: FakeGitHub,
                                                       clock: Clock) -> None:
    fake.fail[("pull", 1)] = 403
    with pytest.raises(HttpError, match=f"GET /repos/{REPO}/pulls/7 answered HTTP 403"):
        api.pull(PR)
    assert (len(fake.requests), clock.slept) == (1, [])


def test_every_list_is_read_in_pages_of_100(api: GitHubApi, fake: FakeGitHub) -> None:
    fake.files[PR] = [changed_file(f"f{i}") for i in range(3000)]
    fake.comments[PR] = []
    fake.commit_pulls["c" * 40] = [PR] * 150
    assert len(api.reviews(PR)) == 250
    assert len(api.files(api.pull(PR))) == 3000
    assert api.issue_comments(PR) == []
    assert api.merged_pulls_for_commit("c" * 40) == []
    pages = [r.split("?", 1)[1] for r in fake.requests if "?" in r]
    assert set(pages) == {"per_page=100", *(f"per_page=100&page={n}" for n in range(2, 31))}


def test_the_stand_in_caps_pages_and_files_as_github_does(fake: FakeGitHub) -> None:
    fake.files[PR] = [changed_file(f"f{i}") for i in range(3005)]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    reviews = httpx.get(f"{fake.url}/repos/{REPO}/pulls/{PR}/reviews?per_page=500",
                        headers=headers)
    assert len(reviews.json()) == 100
    assert len(httpx.get(f"{fake.url}/repos/{REPO}/pulls/{PR}/reviews",
                         headers=headers).json()) == 30
    last = httpx.get(f"{fake.url}/repos/{REPO}/pulls/{PR}/files?per_page=100&page=31",
                     headers=headers)
    assert last.json() == []
    assert httpx.get(f"{fake.url}/repos/{REPO}/pulls/{PR}", headers=headers).json()[
        "changed_files"] == 3005
    assert int(last.headers["x-ratelimit-remaining"]) == 5000 - 3  # the third request
    assert review(1, "x", "APPROVED", "a")["author_association"] == "COLLABORATOR"


def test_one_budget_serves_every_client_of_a_run(fake: FakeGitHub, clock: Clock) -> None:
    """The reconciler opens a client per priority; the bound is for the run, not each."""
    waiting = Waiting(clock=clock.time, sleep=clock.sleep)
    with make_client(fake.url, TOKEN) as first, make_client(fake.url, TOKEN) as second:
        fake.secondary = [(429, 200)]
        assert GitHubApi(first, REPO, waiting).pull(PR).number == PR
        fake.secondary = [(429, 200)]
        with pytest.raises(RateLimited):
            GitHubApi(second, REPO, waiting).pull(PR)
    assert clock.slept == [200]
