"""`ailoop gate`: evaluate a pull request's approval gates and, in GitHub Actions, publish
the result as the `ailoop/approvals` commit status and the step summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.approvals.github import GitHubApi
from pipeline.approvals.pull import PullGate, fetch_pull, gate_pull
from pipeline.approvals.report import Gate, render_markdown, status_description
from pipeline.approvals.rest import make_client
from pipeline.errors import ExternalError, InputError

if TYPE_CHECKING:  # imported where a request is made: it costs ~60 ms to import
    import httpx


@dataclass(frozen=True)
class GateSettings:
    api_url: str
    token: str
    repo: str  # owner/name
    number: int
    in_actions: bool
    summary_path: str  # "" when not set
    run_url: str  # link from the commit status to the workflow run


def settings_from_env(env: Mapping[str, str], pr: int | None, api_url: str) -> GateSettings:
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        raise InputError("GITHUB_TOKEN is not set; `ailoop gate` reads reviews from GitHub")
    repo = env.get("GITHUB_REPOSITORY", "")
    if not repo:
        raise InputError("GITHUB_REPOSITORY is not set (owner/name of the repository)")
    number = pr if pr is not None else _event_pr(env.get("GITHUB_EVENT_PATH", ""))
    server, run_id = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{repo}/actions/runs/{run_id}" if server and run_id else ""
    return GateSettings(api_url=env.get("GITHUB_API_URL") or api_url, token=token, repo=repo,
                        number=number, in_actions=env.get("GITHUB_ACTIONS") == "true",
                        summary_path=env.get("GITHUB_STEP_SUMMARY", ""), run_url=run_url)


def _event_pr(path: str) -> int:
    if not path:
        raise InputError("no pull request: pass --pr N (or run on a pull_request event)")
    try:
        with open(path, encoding="utf-8") as fh:
            event = json.load(fh)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the event payload: {e}", path=path) from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if not isinstance(number, int) or isinstance(number, bool):
        raise InputError("the event is not about a pull request; pass --pr N", path=path)
    return number


def run_gate(root: str, settings: GateSettings, client: httpx.Client | None = None) -> PullGate:
    """Evaluate; in GitHub Actions also publish. Nothing is written if anything fails."""
    with client or make_client(settings.api_url, settings.token) as http:
        api = GitHubApi(http, settings.repo)
        gate = gate_pull(root, fetch_pull(api, settings.number))
        if settings.in_actions:
            publish(api, gate, settings)
    return gate


def publish(api: GitHubApi, gate: PullGate, settings: GateSettings) -> None:
    head = api.pull(gate.pr.number).head_sha  # re-read: never mark a commit not evaluated
    if head != gate.pr.head_sha:
        raise ExternalError(f"pull request #{gate.pr.number} moved from "
                            f"{gate.pr.head_sha[:12]} to {head[:12]} during the check; nothing "
                            "was written (the new push runs the check again)")
    write_status(api, head, gate, settings.run_url, settings.summary_path)


def write_status(api: GitHubApi, sha: str, gate: Gate, run_url: str, summary_path: str) -> None:
    """The commit status `ailoop/approvals` on SHA, then the step summary (when set)."""
    api.set_status(sha, "success" if gate.satisfied else "failure",
                   status_description(gate), run_url)
    if summary_path:
        _append(summary_path, render_markdown(gate))


@dataclass(frozen=True)
class StatusTarget:
    """Where a verdict reached without a pull request is published, when GitHub is at hand."""

    api_url: str
    token: str
    repo: str
    summary_path: str
    run_url: str


def status_target(env: Mapping[str, str], api_url: str) -> StatusTarget | None:
    """None unless GITHUB_TOKEN and GITHUB_REPOSITORY are both set."""
    token, repo = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
    if not token or not repo:
        return None
    server, run_id = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_RUN_ID", "")
    return StatusTarget(api_url=env.get("GITHUB_API_URL") or api_url, token=token, repo=repo,
                        summary_path=env.get("GITHUB_STEP_SUMMARY", ""),
                        run_url=f"{server}/{repo}/actions/runs/{run_id}" if server and run_id
                        else "")


def publish_commit(target: StatusTarget, sha: str, gate: Gate,
                   client: httpx.Client | None = None) -> None:
    """The verdict on commit SHA itself (signed approvals live in its history, so it cannot
    move under the check the way a pull request's head can)."""
    with client or make_client(target.api_url, target.token) as http:
        write_status(GitHubApi(http, target.repo), sha, gate, target.run_url,
                     target.summary_path)


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise ExternalError(f"cannot write the step summary: {e.strerror}") from None


def default_api_url(root: str) -> str:
    from pipeline.documents.load import load_document

    doc, _ = load_document(root, "ailoop.yaml")
    if doc is None or doc.kind != "Project":
        return "https://api.github.com"
    url: str = doc.model.spec.approvals.github_api_url
    return url
