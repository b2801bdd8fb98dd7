"""The README's "Use ailoop in your repository" is a test: its console lines run as written
from an empty folder (a local bare remote stands in for GitHub), and the repository they
make runs its PR check and its reconcile under act."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.act_support import Act
from tests.integration.test_workflows_act import act  # noqa: F401 (the module fixture)
from tests.support import ROOT, git

pytestmark = pytest.mark.slow
GITHUB_REMOTE = "git@github.com:acme/my-rollouts.git"


def guide_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use ailoop in your repository\n", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\s*\$ (.+)$", section, re.MULTILINE)]


def test_the_guide_has_its_steps() -> None:
    lines = guide_lines()
    assert lines[0].startswith("ailoop init ") and f"git remote add origin {GITHUB_REMOTE}" \
        in lines


def test_following_the_guide_gives_a_repository_whose_workflows_run(
        act: Act, tmp_path: Path) -> None:  # noqa: F811
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    cwd = tmp_path / "empty"
    cwd.mkdir()
    ailoop = str(Path(sys.executable).parent / "ailoop")
    for line in guide_lines():
        args = shlex.split(line.replace(GITHUB_REMOTE, str(remote)))
        if args[0] == "cd":
            cwd = cwd / args[1]
            continue
        if line.startswith("ailoop init "):  # the action: this checkout, as act maps it
            args += ["--action", act_ref(act)]
        if args[0] == "ailoop":
            args[0] = ailoop
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"$ {line}\n{done.stdout}{done.stderr}"
    assert git(remote, "log", "--format=%s", "main") == "ailoop init"
    pr = {"pull_request": {"number": 1, "base": {"ref": "main"},
                           "head": {"ref": "main", "repo": {"full_name": "acme/my-rollouts"}}},
          "repository": {"full_name": "acme/my-rollouts"}}
    git(cwd, "fetch", "-q", "origin")
    check = act.run(cwd, "pull_request", "pr.yml", pr, job="validate")
    assert check.returncode == 0, check.stdout[-3000:]
    push = {"ref": "refs/heads/main", "head_commit": {"message": "ailoop init"}}
    # The guide's next step: the private key `init` wrote becomes the environment's secret.
    key = {"AILOOP_BOT_SIGNING_KEY": (cwd / ".ailoop" / "bot_signing_key").read_text()}
    reconciled = act.run(cwd, "push", "reconcile.yml", push, secrets=key)
    assert reconciled.returncode == 0, reconciled.stdout[-3000:]
    # The trusted run of the new priority, committed; then the reconcile waits for people.
    log = git(remote, "log", "-2", "--format=%s", "main").splitlines()
    assert log[0] == "ailoop: acme/email-triage awaits approval for shadow", log
    assert log[1].startswith("ailoop: evidence of acme/email-triage (ev-"), log


def act_ref(runner: Act) -> str:
    [ref] = runner.extra_repos
    return ref
