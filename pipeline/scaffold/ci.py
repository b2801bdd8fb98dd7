"""The CI a repository runs ailoop with: GitHub Actions workflows that use the ailoop action,
and a CODEOWNERS for the governance files. `ailoop init` writes them; this repository's own
`.github/` is rendered from the same templates (`uses: ./`), so one set is tested.

Templates use << >> and <% %>: GitHub's own ${{ }} expressions pass through untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import unquote, urlparse

import jinja2

from pipeline import __version__
from pipeline.errors import InputError

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates", "ci")
ACTION_REPO = "ailoop-dev/ailoop"
DEFAULT_ACTION = f"{ACTION_REPO}@v{__version__}"  # only when no commit is known (see action)
DEFAULT_MAINTAINERS = "@your-org/ailoop-maintainers"
APPROVAL_SOURCES = ("git-signed", "github")
WORKFLOWS = ("pr", "reconcile", "review")


@dataclass(frozen=True)
class CiOptions:
    uses: str = DEFAULT_ACTION  # the action, pinned: owner/repo@sha, or ./ for this repository
    approvals: str = "git-signed"
    branch: str = "main"
    shards: int = 0  # 0: no sharded reconcile
    maintainers: str = DEFAULT_MAINTAINERS


def ci_files(options: CiOptions) -> dict[str, str]:
    """{relative path: text} of the workflows and CODEOWNERS."""
    _check(options)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False, variable_start_string="<<",
                             variable_end_string=">>", block_start_string="<%",
                             block_end_string="%>", comment_start_string="<#",
                             comment_end_string="#>")
    values = {"uses": options.uses, "approvals": options.approvals, "branch": options.branch,
              "shards": options.shards, "maintainers": options.maintainers}
    names = [*WORKFLOWS, *(["reconcile-sharded"] if options.shards else [])]
    files = {f".github/workflows/{name}.yml": env.get_template(f"{name}.yml.j2").render(values)
             for name in names}
    files[".github/CODEOWNERS"] = env.get_template("CODEOWNERS.j2").render(values)
    return files


def ci_notes(options: CiOptions) -> tuple[str, ...]:
    """What a person still has to do on GitHub for these workflows to run."""
    notes = [f"CI: .github/workflows use the ailoop action {options.uses}. On GitHub, protect "
             f"{options.branch}: require the checks 'Validate and test policies' and 'PR "
             "comment and approval gates', and reviews from Code Owners; create the "
             "environment ailoop-bot (deployment branches: "
             f"{options.branch} only) holding the secret AILOOP_BOT_SIGNING_KEY.",
             f"CODEOWNERS names {options.maintainers} for the governance files: replace it "
             "with your team."]
    if "@" in options.uses and len(options.uses.rsplit("@", 1)[1]) != 40:
        notes.append(f"The action is pinned to the tag {options.uses}: pin it to that tag's "
                     "commit sha (a tag can be moved; zizmor flags it).")
    return tuple(notes)


def action() -> str:
    """The action at the commit of the ailoop that runs (zizmor and GitHub's own advice:
    pin actions to a full commit sha, never a movable tag). Known when ailoop was installed
    from git (PEP 610 direct_url.json) or from a git checkout; else the version's tag."""
    commit = _installed_commit()
    return f"{ACTION_REPO}@{commit}" if commit else DEFAULT_ACTION


def _installed_commit() -> str:
    try:
        raw = metadata.distribution("ailoop").read_text("direct_url.json")
        info = json.loads(raw) if raw else {}
    except (metadata.PackageNotFoundError, ValueError):
        return ""
    commit = info.get("vcs_info", {}).get("commit_id", "")
    if isinstance(commit, str) and len(commit) == 40:
        return commit
    url = urlparse(str(info.get("url", "")))
    if url.scheme != "file":
        return ""
    try:
        out = subprocess.run(["git", "-C", unquote(url.path), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else ""


def _check(options: CiOptions) -> None:
    if options.approvals not in APPROVAL_SOURCES:
        raise InputError(f"approvals source '{options.approvals}' has no CI template "
                         f"(one of: {', '.join(APPROVAL_SOURCES)})")
    uses = options.uses
    if uses != "./" and ("@" not in uses or uses.count("/") < 1 or any(c.isspace() for c in uses)):
        raise InputError(f"--action '{uses}': give the action as OWNER/REPO@REF (a tag or, "
                         "better, a commit sha), for example " + DEFAULT_ACTION)
    if not 0 <= options.shards <= 256:
        raise InputError(f"--shards {options.shards}: use 0 (no sharded reconcile) to 256")


def own_ci_files(approvals: str) -> dict[str, str]:
    """ailoop's own repository's CI: the same templates, the action being the repository
    itself (`uses: ./`), with a sharded reconcile over 4 runners (`make workflows`)."""
    return ci_files(CiOptions(uses="./", approvals=approvals, shards=4))
