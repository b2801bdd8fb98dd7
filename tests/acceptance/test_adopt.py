"""`ailoop adopt`: a repository that ran ailoop before the bot key existed has status files
no signed bot commit wrote. The bot vouches for them once, in one signed commit, and only for
those last changed before the key was set up: an edit made after it stays refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import STATUS, make_git_repo, ready, reconcile
from tests.acceptance.test_status_trust import RULE, served
from tests.support import GitRepo, bot_key, run_cli, with_bot_key

LATER = 200  # minutes: the canary has baked; a trusted status would be promoted to early
# What an ailoop from before serving and candidate wrote at canary (it migrates on adoption).
LEGACY = """\
apiVersion: ailoop.dev/v1
kind: Status
metadata:
  name: triage
status:
  phase: progressing
  stage: canary
  percent: 5
  since: '2026-11-20T10:02:00Z'
  evidenceId: {evidence}
  history:
    - time: '2026-11-20T10:02:00Z'
      from: shadow
      to: canary
      percent: 5
      action: promote
      reason: every gate holds
      version: 1.0.0
"""


def without_key(repo: GitRepo) -> None:
    project = repo.work / "ailoop.yaml"
    text = project.read_text()
    project.write_text("".join(line for line in text.splitlines(keepends=True)
                               if "signingKey:" not in line).replace("  bot:\n", ""))


@pytest.fixture
def before_the_key(tmp_path: Path) -> GitRepo:
    """At canary, written by an older ailoop that signed nothing; then the key is set up."""
    repo = make_git_repo(tmp_path)
    evidence = ready(repo)
    without_key(repo)
    (repo.work / STATUS).write_text(LEGACY.format(evidence=evidence))
    repo.commit_all("ailoop: promote acme/triage to canary (5%)")
    project = repo.work / "ailoop.yaml"
    project.write_text(with_bot_key(project.read_text(), bot_key().public))
    repo.commit_all("Set up the bot key")
    return repo


def test_adoption_lets_the_reconciler_go_on(before_the_key: GitRepo,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    repo = before_the_key
    assert reconcile(capsys, repo, LATER) == "No changes\n"  # untrusted: held
    adopted = run_cli(capsys, "-C", str(repo.work), "adopt")
    assert adopted.code == 0, adopted.err
    assert "adopted customers/acme/triage/status.yaml" in adopted.out
    assert repo.git("log", "-1", "--format=%s") == \
        "ailoop: adopt 1 status file written before the bot key"
    trailers = repo.git("log", "-1", "--format=%(trailers:only,unfold)")
    assert "Ailoop-Action: adopt" in trailers and "Ailoop-Priority: acme/triage" in trailers
    assert "-----BEGIN SSH SIGNATURE-----" in repo.git("cat-file", "commit", "HEAD")
    text = (repo.work / STATUS).read_text()
    assert "\n  candidate:\n" in text and "\n  stage: canary" not in text  # migrated
    assert "early" in reconcile(capsys, repo, LATER)
    assert served(repo) == ("early", 2500)


def test_an_edit_after_the_key_is_never_adopted(before_the_key: GitRepo,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    repo = before_the_key
    path = repo.work / STATUS
    path.write_text(path.read_text().replace("stage: canary", "stage: early")
                    .replace("percent: 5\n  evidenceId", "percent: 25\n  evidenceId"))
    sha = repo.commit_all("Move it along")
    head = repo.git("rev-parse", "HEAD")
    refused = run_cli(capsys, "-C", str(repo.work), "adopt")
    assert refused.code == 1
    assert (f"refused customers/acme/triage/status.yaml: last changed by commit {sha[:7]}, "
            "after the bot key was set up") in refused.out, refused.out
    assert repo.git("rev-parse", "HEAD") == head  # nothing committed
    assert RULE in run_cli(capsys, "-C", str(repo.work), "validate", "--no-cache").out


def test_nothing_to_adopt(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    reconcile(capsys, repo, 1)
    head = repo.git("rev-parse", "HEAD")
    result = run_cli(capsys, "-C", str(repo.work), "adopt")
    assert result.code == 0 and "Nothing to adopt" in result.out, result.out
    assert repo.git("rev-parse", "HEAD") == head


def test_without_a_bot_key_it_says_how_to_set_one_up(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    without_key(repo)
    repo.commit_all("No key")
    result = run_cli(capsys, "-C", str(repo.work), "adopt")
    assert result.code == 2
    assert "ailoop.yaml on HEAD has no spec.bot.signingKey" in result.err
    assert "Traceback" not in result.err
