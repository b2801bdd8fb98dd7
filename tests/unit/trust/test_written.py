"""pipeline.trust.written on real git repositories with a bare remote: the one trust check of
every bot-written file, here evidence next to status.yaml. Only a trusted bot commit on the
default branch's first-parent history vouches for evidence; a name or e-mail never does."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.trust.written import EVIDENCE_RULE, STATUS_RULE, rule_of, untrusted_files
from tests.support import GitRepo, make_repo, minimal_repo, signed_commit

STATUS = "customers/acme/triage/status.yaml"
EVIDENCE = "customers/acme/triage/evidence/ev-0123456789abcdef.json"
STATEMENT = "customers/acme/triage/evidence/ev-0123456789abcdef.intoto.json"
BOT = ("ailoop-bot", "ailoop-bot@users.noreply.github.com")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The bot wrote the status (a signed bot commit); nobody wrote evidence yet."""
    repo = make_repo(tmp_path, fill=minimal_repo)
    (repo.work / STATUS).write_text("v1\n")
    repo.bot_commit("ailoop: promote acme/triage")
    repo.git("push", "-q", "origin", "main")
    return repo


def write_evidence(repo: GitRepo, text: str = '{"passed": true}\n') -> None:
    folder = repo.work / "customers/acme/triage/evidence"
    folder.mkdir(exist_ok=True)
    (repo.work / EVIDENCE).write_text(text)
    (repo.work / STATEMENT).write_text('{"_type": "statement"}\n')


def problems(repo: GitRepo, *paths: str) -> dict[str, str]:
    found = untrusted_files(str(repo.work), list(paths or [STATUS, EVIDENCE, STATEMENT]))
    return {p: u.problem for p, u in found.items()}


def test_each_file_names_the_rule_it_breaks() -> None:
    assert rule_of(STATUS) == STATUS_RULE
    assert rule_of(EVIDENCE) == rule_of(STATEMENT) == EVIDENCE_RULE


def test_evidence_the_bot_committed_is_trusted(repo: GitRepo) -> None:
    write_evidence(repo)
    repo.bot_commit("ailoop: evidence of acme/triage")
    assert problems(repo) == {}


def test_evidence_the_pull_request_author_committed_is_not(repo: GitRepo) -> None:
    write_evidence(repo)
    sha = repo.commit_all("Dry-run evidence")
    expected = (f"{EVIDENCE_RULE}: last changed by commit {sha[:7]} (Test Engineer "
                "<engineer@example.test>), not a signed ailoop bot commit")
    assert problems(repo) == {EVIDENCE: expected, STATEMENT: expected}


def test_evidence_in_the_bots_name_but_unsigned_is_not(repo: GitRepo) -> None:
    write_evidence(repo)
    repo.git("add", "-A")
    signed_commit(repo.work, "ailoop: evidence of acme/triage", None, BOT)
    sha = repo.git("rev-parse", "HEAD")
    assert problems(repo, EVIDENCE) == {EVIDENCE: (
        f"{EVIDENCE_RULE}: last changed by commit {sha[:7]} (ailoop-bot "
        "<ailoop-bot@users.noreply.github.com>), not a signed ailoop bot commit")}


def test_evidence_signed_by_the_bot_on_a_branch_and_merged_is_not(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "-b", "pr")
    write_evidence(repo)
    repo.bot_commit("a leaked signature on a pull request's branch")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #9")
    assert set(problems(repo)) == {EVIDENCE, STATEMENT}


def test_a_pull_request_that_rewrites_trusted_evidence_is_not_trusted(repo: GitRepo) -> None:
    write_evidence(repo, '{"passed": false}\n')
    repo.bot_commit("ailoop: evidence of acme/triage")
    write_evidence(repo, '{"passed": true}\n')
    sha = repo.commit_all("Better results")
    found = untrusted_files(str(repo.work), [EVIDENCE], contents=True)
    assert found[EVIDENCE].problem.startswith(f"{EVIDENCE_RULE}: last changed by commit "
                                              f"{sha[:7]}")
    assert found[EVIDENCE].last_trusted == b'{"passed": false}\n'


def test_uncommitted_evidence_is_not_trusted(repo: GitRepo) -> None:
    write_evidence(repo)
    assert problems(repo, EVIDENCE) == {EVIDENCE: f"{EVIDENCE_RULE}: it is not committed"}


def test_status_and_evidence_are_judged_in_one_call(repo: GitRepo) -> None:
    write_evidence(repo)
    repo.bot_commit("ailoop: evidence of acme/triage")
    (repo.work / STATUS).write_text("percent: 100\n")
    sha = repo.commit_all("Skip the stages")
    assert problems(repo) == {STATUS: (
        f"{STATUS_RULE}: last changed by commit {sha[:7]} (Test Engineer "
        "<engineer@example.test>), not a signed ailoop bot commit")}


def test_many_evidence_files_are_checked_in_one_walk(repo: GitRepo) -> None:
    paths = [f"customers/acme/p{i}/evidence/ev-{i:016x}.json" for i in range(70)]
    for path in paths:
        (repo.work / path).parent.mkdir(parents=True)
        (repo.work / path).write_text("{}\n")
    repo.bot_commit("ailoop: evidence of 70 priorities")
    (repo.work / paths[5]).write_text('{"passed": true}\n')
    repo.commit_all("A forged result")
    assert set(problems(repo, STATUS, *paths)) == {paths[5]}


def test_bot_signed_checks_each_commit_once_with_a_cache(
        repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signature never changes: with a cache folder a second look spawns no check."""
    from pipeline import git
    from pipeline.trust.written import bot_at_head, bot_signed

    (repo.work / "notes.md").write_text("hand-written\n")
    repo.git("add", "-A")
    signed_commit(repo.work, "A person's commit", None, BOT)  # the bot's name, unsigned
    shas = repo.git("log", "--format=%H").split()
    bot = bot_at_head(str(repo.work))
    assert not isinstance(bot, str)
    cache = tmp_path / "cache"
    cache.mkdir()
    signed = bot_signed(str(repo.work), bot, shas, str(cache))
    assert signed == {repo.git("log", "-1", "--format=%H", "--grep", "promote acme/triage")}
    monkeypatch.setattr(git, "check_commits", lambda *a: pytest.fail("checked again"))
    assert bot_signed(str(repo.work), bot, list(signed), str(cache)) == signed
