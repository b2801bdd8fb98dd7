"""The workflows `ailoop init` writes, executed by `act` against a real bare remote: the PR
check on a good and a bad pull request, the whole PR workflow with its comment and approval
gate status sent to the GitHub REST stand-in (GITHUB_API_URL), reconcile on push (the
trusted dry run in a job of its own, its evidence committed by the next, then the
promotion; a second run changes nothing), the scheduled review, and a reconcile sharded
over 3 runners."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.documents.yamlio import parse_yaml
from pipeline.model.scalars import typed
from pipeline.scaffold.ci import ACTION_REPO
from pipeline.trust.written import untrusted_files
from tests.acceptance.approvals_support import keygen
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, pull, serve
from tests.integration.act_support import Act, make_act
from tests.support import ROOT, GitRepo, bot_key, git

pytestmark = pytest.mark.slow
SHA = "0" * 39 + "1"  # the commit the test repositories pin the action to
ACTION = f"{ACTION_REPO}@{SHA}"
KEY = "acme/email-triage"


@pytest.fixture(scope="module")
def act(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Act]:
    runner = make_act(ROOT / ".venv", tmp_path_factory.mktemp("act"))
    runner.extra_repos[ACTION] = runner.action
    yield runner


def init_repo(tmp: Path, *extra: str) -> GitRepo:
    """`ailoop init` (the CI pinned to ACTION), committed and pushed to a bare remote."""
    remote, work = tmp / "remote.git", tmp / "work"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    result = CliRunner().invoke(cli, ["init", str(work), "--no-bot-key", "--action", ACTION,
                                      *extra])
    assert result.exit_code == 0, result.output
    project = work / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        "spec:\n", f"spec:\n  bot:\n    signingKey: {bot_key().public}\n", 1))
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("ailoop init")
    git(work, "push", "-q", "-u", "origin", "main")
    return repo


def secrets() -> dict[str, str]:
    return {"AILOOP_BOT_SIGNING_KEY": bot_key().private.read_text(),
            "GITHUB_TOKEN": "ghs_" + "0123456789abcdefghij" * 2}


def reviewer_key(repo: GitRepo, tmp: Path) -> Path:
    """The customer reviewer's signing key, in customer.yaml from `ailoop init` on."""
    key = keygen(tmp, "reviewer")
    customer = repo.work / "customers/acme/customer.yaml"
    public = Path(f"{key}.pub").read_text().strip()
    customer.write_text(customer.read_text().replace(
        "      roles: [customer-reviewer, operations]\n",
        f'      roles: [customer-reviewer, operations]\n      signingKey: "{public}"\n'))
    # Part of the set-up: a later change to customer.yaml is a governance change, and
    # nothing promotes until a policy owner approves it (the governance re-check).
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", "--no-edit")
    git(repo.work, "push", "-q", "-f", "origin", "main")
    return key


def ready_for_shadow(repo: GitRepo, tmp: Path) -> None:
    """The reviewer's signed approval of the first stage and a passing dry run, pushed as the
    pull request left them: its evidence counts for nothing until a trusted run repeats it,
    which the reconcile workflow does before it promotes the priority to shadow."""
    key = reviewer_key(repo, tmp)
    for args in (["dry-run", KEY], ["approve", KEY, "--stage", "shadow", "--key", str(key)]):
        result = CliRunner().invoke(cli, ["-C", str(repo.work), *args])
        assert result.exit_code == 0, result.output
    repo.commit_all("Dry run and approval of acme/email-triage")
    git(repo.work, "push", "-q", "-f", "origin", "main")


def _jobs(repo: GitRepo) -> dict[str, Any]:
    data = typed(parse_yaml((repo.work / ".github/workflows/reconcile.yml").read_bytes(),
                            "reconcile.yml").data)
    assert isinstance(data, dict) and isinstance(data["jobs"], dict)
    return data["jobs"]


def remote_log(repo: GitRepo) -> list[str]:
    return git(repo.remote, "log", "--format=%s", "main").splitlines()


def test_reconcile_on_push_commits_and_pushes_then_changes_nothing(
        act: Act, tmp_path: Path) -> None:
    repo = init_repo(tmp_path)
    ready_for_shadow(repo, tmp_path)
    jobs = _jobs(repo)
    assert jobs["dry-run"]["permissions"] == {"contents": "read"}  # what act ran
    assert "environment" not in jobs["dry-run"] and "secrets." not in str(jobs["dry-run"])
    push = {"ref": "refs/heads/main", "head_commit": {"message": "ailoop init"}}
    first = act.run(repo.work, "push", "reconcile.yml", push, secrets=secrets())
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    # The action's outputs: the phase of every priority, and of the one there is.
    assert f'::set-output:: phases={{"{KEY}":"' in first.stdout
    assert "::set-output:: phase=" in first.stdout
    # The trusted (sandboxed) dry run ran in the job without the key; the key's job only
    # committed what it handed over.
    ran = [line for line in first.stdout.splitlines() if "dry run acme/email-triage:" in line]
    assert ran and all("[ailoop reconcile/dry-run" in line for line in ran), ran
    committed = [line for line in first.stdout.splitlines()
                 if "acme/email-triage: dry run ev-" in line]
    assert committed and all("[ailoop reconcile/commit-evidence" in line
                             for line in committed), committed
    log = remote_log(repo)
    assert log[0] == "ailoop: promote acme/email-triage to shadow (0%)", log
    assert log[1].startswith("ailoop: evidence of acme/email-triage (ev-"), log
    assert log[2].startswith("ailoop: set aside the unverified copy of acme/email-triage"), log
    git(repo.work, "pull", "-q", "origin", "main")
    evidence = [p.relative_to(repo.work).as_posix()
                for p in (repo.work / "customers" / KEY / "evidence").glob("ev-*.json")
                if not p.name.endswith(".intoto.json")]
    assert evidence and not untrusted_files(str(repo.work), evidence)
    assert "-----BEGIN SSH SIGNATURE-----" in git(repo.work, "cat-file", "commit", "HEAD~1")
    second = act.run(repo.work, "push", "reconcile.yml", push, secrets=secrets())
    assert second.returncode == 0, second.stdout[-3000:]
    assert "No changes" in second.stdout
    assert remote_log(repo) == log


def test_the_pr_check_annotates_a_bad_pull_request_and_passes_a_good_one(
        act: Act, tmp_path: Path) -> None:
    repo = init_repo(tmp_path)
    git(repo.work, "fetch", "-q", "origin")
    priority = repo.work / "customers/acme/email-triage/priority.yaml"
    pr = {"number": 7, "base": {"ref": "main"},
          "head": {"ref": "change", "repo": {"full_name": "acme/rollouts"}}}
    event = {"pull_request": pr, "repository": {"full_name": "acme/rollouts"}}
    repo.git("checkout", "-q", "-b", "change")
    priority.write_text(priority.read_text().replace("goal: ", "goal: Now, ", 1))
    repo.commit_all("A better goal")
    good = act.run(repo.work, "pull_request", "pr.yml", event, job="validate")
    assert good.returncode == 0, good.stdout[-3000:]
    priority.write_text(priority.read_text().replace("  risk: medium", "  risk: mediun"))
    repo.commit_all("A typo")
    bad = act.run(repo.work, "pull_request", "pr.yml", event, job="validate")
    assert bad.returncode != 0
    assert "::error file=customers/acme/email-triage/priority.yaml,line=" in bad.stdout


def test_the_whole_pr_workflow_comments_and_gates_through_the_api(
        act: Act, tmp_path: Path) -> None:
    """The whole PR workflow (validate, dry run, report) with the GitHub REST stand-in as
    GITHUB_API_URL: one comment on the pull request, kept up to date, and the approval
    gate's commit status on its head: waiting for the reviewer, then, once the reviewer's
    signed approval is in the pull request, success and exit 0."""
    repo = init_repo(tmp_path)
    key = reviewer_key(repo, tmp_path)
    git(repo.work, "fetch", "-q", "origin")
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "change")
    priority = repo.work / "customers/acme/email-triage/priority.yaml"
    priority.write_text(priority.read_text().replace("goal: ", "goal: Now, ", 1))
    with serve(FakeGitHub()) as fake:
        waiting = _pr_run(act, repo, fake, base, repo.commit_all("A better goal").strip())
        assert waiting.returncode != 0
        for args in (["dry-run", KEY], ["approve", KEY, "--stage", "shadow", "--key", str(key)]):
            result = CliRunner().invoke(cli, ["-C", str(repo.work), *args])
            assert result.exit_code == 0, result.output
        approved = _pr_run(act, repo, fake, base, repo.git("rev-parse", "HEAD"))
        assert approved.returncode == 0, approved.stdout[-4000:]
    [comment] = fake.comments[7]  # one comment, updated in place
    assert KEY in comment["body"]
    states = [(sha, st["state"], st["description"]) for sha, st in fake.statuses
              if st["context"] == "ailoop/approvals"]
    assert states[0][1:] == ("failure", f"waiting for approval: {KEY} stage shadow"), states
    assert states[-1][0] == repo.git("rev-parse", "HEAD") and states[-1][1] == "success", states


def _pr_run(act: Act, repo: GitRepo, fake: FakeGitHub, base: str, head: str
            ) -> subprocess.CompletedProcess[str]:
    pr = {"number": 7, "base": {"ref": "main", "sha": base},
          "head": {"ref": "change", "sha": head, "repo": {"full_name": REPO}}}
    fake.pulls[7] = pull(7, "eve-dev", head, base)
    return act.run(repo.work, "pull_request", "pr.yml",
                   {"pull_request": pr, "repository": {"full_name": REPO}},
                   secrets={"GITHUB_TOKEN": TOKEN},
                   env={"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": REPO})


def test_the_scheduled_review_runs(act: Act, tmp_path: Path) -> None:
    repo = init_repo(tmp_path)
    result = act.run(repo.work, "schedule", "review.yml", {"schedule": "5 6 * * 1-5"},
                     secrets=secrets())
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_reconcile_sharded_over_three_runners(act: Act, tmp_path: Path) -> None:
    repo = init_repo(tmp_path, "--shards", "3")
    result = act.run(repo.work, "workflow_dispatch", "reconcile-sharded.yml", {},
                     secrets=secrets())
    assert result.returncode == 0, result.stdout[-3000:]
    # three dry-run shards, the one commit of their evidence, three reconcile shards
    assert result.stdout.count("Job succeeded") == 7
    log = remote_log(repo)
    assert log[0] == "ailoop: acme/email-triage awaits approval for shadow", log
    assert log[1].startswith("ailoop: evidence of acme/email-triage (ev-"), log
