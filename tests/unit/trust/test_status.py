"""pipeline.trust.status on real git repositories: who last wrote status.yaml, and whether
the bot signed it. Every way around the rule is tried."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.trust.status import RULE, untrusted_statuses
from tests.support import GitRepo, bot_key, git, make_repo, minimal_repo, signed_commit

STATUS = "customers/acme/triage/status.yaml"
BOT = ("ailoop-bot", "ailoop-bot@users.noreply.github.com")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """A repo whose status the bot wrote (v1), in a signed bot commit."""
    repo = make_repo(tmp_path, fill=minimal_repo)
    (repo.work / STATUS).write_text("v1\n")
    repo.bot_commit("ailoop: promote acme/triage")
    return repo


@pytest.fixture
def other_key(tmp_path: Path) -> Path:
    from pipeline.trust.botkey import generate_key_pair

    key = tmp_path / "mallory"
    generate_key_pair(str(key), "mallory")
    return key


Found = dict[str, tuple[str, str, bytes | None]]


def check(repo: GitRepo, *paths: str, contents: bool = False) -> Found:
    found = untrusted_statuses(str(repo.work), list(paths or [STATUS]), contents=contents)
    return {p: (u.problem, u.release, u.last_trusted) for p, u in found.items()}


def hand_edit(repo: GitRepo, text: str, key: Path | None = None,
              who: tuple[str, str] = BOT) -> str:
    (repo.work / STATUS).write_text(text)
    repo.git("add", "-A")
    signed_commit(repo.work, "Fix the status", key, who)
    return repo.git("rev-parse", "HEAD")


def test_a_status_the_bot_wrote_is_trusted(repo: GitRepo) -> None:
    assert check(repo) == {}


def test_a_status_that_never_existed_is_nothing_to_trust(repo: GitRepo) -> None:
    assert check(repo, "customers/acme/other/status.yaml") == {}


def test_a_priority_removed_and_added_again_starts_without_a_status(repo: GitRepo) -> None:
    folder = repo.work / "customers/acme/triage"
    spec = (folder / "priority.yaml").read_text()
    repo.git("rm", "-r", "-q", "customers/acme/triage")
    repo.git("commit", "-q", "-m", "Retire acme/triage")
    folder.mkdir()
    (folder / "priority.yaml").write_text(spec)
    repo.commit_all("acme/triage again, from scratch")
    assert check(repo) == {}


def test_an_unsigned_commit_in_the_bots_name_is_refused(repo: GitRepo) -> None:
    sha = hand_edit(repo, "percent: 150\n")
    assert check(repo, contents=True) == {STATUS: (
        f"{RULE}: last changed by commit {sha[:7]} (ailoop-bot "
        "<ailoop-bot@users.noreply.github.com>), not a signed ailoop bot commit",
        f"revert the edit: git revert {sha[:7]}", b"v1\n")}


def test_a_commit_signed_by_another_valid_key_is_refused(repo: GitRepo,
                                                         other_key: Path) -> None:
    sha = hand_edit(repo, "stage: full\n", other_key)
    assert "-----BEGIN SSH SIGNATURE-----" in repo.git("cat-file", "commit", sha)
    problem, _, _ = check(repo)[STATUS]
    assert problem == (f"{RULE}: last changed by commit {sha[:7]} (ailoop-bot "
                       "<ailoop-bot@users.noreply.github.com>), not a signed ailoop bot commit")


def test_an_uncommitted_edit_is_refused(repo: GitRepo) -> None:
    (repo.work / STATUS).write_text("v2\n")
    assert check(repo, contents=True) == {STATUS: (
        f"{RULE}: it has uncommitted changes", f"discard that: git checkout HEAD -- {STATUS}",
        b"v1\n")}


def test_an_untracked_status_is_refused(repo: GitRepo) -> None:
    other = "customers/acme/other/status.yaml"
    (repo.work / other).parent.mkdir()
    (repo.work / other).write_text("v1\n")
    assert check(repo, other) == {other: (f"{RULE}: it is not committed",
                                          f"remove it (rm {other})", None)}


def test_an_uncommitted_deletion_is_refused(repo: GitRepo) -> None:
    (repo.work / STATUS).unlink()
    problem, _, _ = check(repo)[STATUS]
    assert problem == f"{RULE}: it was deleted and the deletion is not committed"


def test_a_deletion_by_a_person_is_refused(repo: GitRepo) -> None:
    repo.git("rm", "-q", STATUS)
    repo.git("commit", "-q", "-m", "Drop the status")
    sha = repo.git("rev-parse", "HEAD")
    assert check(repo, contents=True) == {STATUS: (
        f"{RULE}: deleted by commit {sha[:7]} (Test Engineer <engineer@example.test>), not a "
        "signed ailoop bot commit", f"revert the edit: git revert {sha[:7]}", b"v1\n")}


def test_a_replay_of_an_older_bot_status_is_refused(repo: GitRepo) -> None:
    first = repo.git("rev-parse", "HEAD")
    (repo.work / STATUS).write_text("v2\n")
    repo.bot_commit("ailoop: promote acme/triage again")
    second = repo.git("rev-parse", "HEAD")
    repo.git("show", f"{first}:{STATUS}")
    sha = hand_edit(repo, "v1\n", who=("Test Engineer", "engineer@example.test"))
    assert check(repo, contents=True) == {STATUS: (
        f"{RULE}: last changed by commit {sha[:7]} (Test Engineer <engineer@example.test>), "
        "not a signed ailoop bot commit", f"revert the edit: git revert {sha[:7]}", b"v2\n")}
    assert second != sha


def test_a_pull_request_merged_with_a_merge_commit_is_refused(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "-b", "pr")
    (repo.work / STATUS).write_text("percent: 150\n")
    repo.bot_commit("signed by the bot key on a branch: not the default branch's history")
    repo.git("checkout", "-q", "main")
    (repo.work / "customers/acme/triage/notes.md").write_text("meanwhile on main\n")
    repo.commit_all("Meanwhile")
    repo.git("merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #7")
    merge = repo.git("rev-parse", "HEAD")
    problem, release, last = check(repo, contents=True)[STATUS]
    assert problem.startswith(f"{RULE}: last changed by commit {merge[:7]} (Test Engineer")
    assert release == (f"restore what the bot last wrote: git checkout "
                       f"{repo.git('rev-parse', 'HEAD~1~1')[:7]} -- {STATUS}, then commit")
    assert last == b"v1\n"


def test_a_pull_request_that_swaps_the_bot_key_for_its_own_is_refused(
        repo: GitRepo, other_key: Path) -> None:
    from tests.support import with_bot_key

    repo.git("checkout", "-q", "-b", "pr")
    project = repo.work / "ailoop.yaml"
    text = project.read_text().replace(f"    signingKey: {bot_key().public}\n", "")
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(other_key)], capture_output=True,
                            text=True, check=True).stdout.strip()
    project.write_text(with_bot_key(text, public))
    (repo.work / STATUS).write_text("stage: full\n")
    repo.git("add", "-A")
    signed_commit(repo.work, "New bot key", other_key, BOT)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #8")
    assert STATUS in check(repo)


def test_a_revert_restores_trust(repo: GitRepo) -> None:
    sha = hand_edit(repo, "percent: 150\n")
    repo.git("revert", "--no-edit", sha)
    assert check(repo) == {}


def test_several_edits_are_released_by_restoring_what_the_bot_wrote(repo: GitRepo) -> None:
    bot = repo.git("rev-parse", "HEAD")
    hand_edit(repo, "v2\n")
    hand_edit(repo, "v3\n")
    _, release, _ = check(repo)[STATUS]
    assert release == (f"restore what the bot last wrote: git checkout {bot[:7]} -- {STATUS}, "
                       "then commit")
    repo.git("checkout", bot, "--", STATUS)
    repo.commit_all("Restore the status")
    assert check(repo) == {}


def test_a_status_no_bot_ever_wrote_has_no_trusted_content(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, fill=minimal_repo)
    sha = hand_edit(repo, "percent: 150\n")
    assert check(repo, contents=True) == {STATUS: (
        f"{RULE}: last changed by commit {sha[:7]} (ailoop-bot "
        "<ailoop-bot@users.noreply.github.com>), not a signed ailoop bot commit",
        f"revert the edit: git revert {sha[:7]}", None)}
    repo.git("revert", "--no-edit", sha)
    assert check(repo) == {}


def test_the_key_comes_from_heads_ailoop_yaml_not_the_work_tree(repo: GitRepo,
                                                               other_key: Path) -> None:
    project = repo.work / "ailoop.yaml"
    project.write_text(project.read_text().replace(bot_key().public, "ssh-ed25519 AAAA"))
    assert check(repo) == {}


def test_a_rotated_key_keeps_the_statuses_it_signed_while_listed(repo: GitRepo,
                                                                 other_key: Path) -> None:
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(other_key)], capture_output=True,
                            text=True, check=True).stdout.strip()
    project = repo.work / "ailoop.yaml"
    old = bot_key().public
    project.write_text(project.read_text().replace(
        f"signingKey: {old}\n", f"signingKey: {public}\n    previousSigningKeys:\n"
        f"      - {old}\n"))
    repo.commit_all("Rotate the bot key")
    assert check(repo) == {}
    project.write_text(project.read_text().replace(f"    previousSigningKeys:\n      - {old}\n",
                                                   ""))
    repo.commit_all("Retire the old key")
    assert STATUS in check(repo)


def test_without_a_bot_key_nothing_can_be_verified(repo: GitRepo) -> None:
    project = repo.work / "ailoop.yaml"
    project.write_text(project.read_text().replace(f"    signingKey: {bot_key().public}\n",
                                                   "    name: ailoop-bot\n"))
    repo.commit_all("No key")
    assert check(repo) == {STATUS: (
        f"{RULE}: it cannot be verified: ailoop.yaml on HEAD has no spec.bot.signingKey",
        "set up the bot key (README.md, 'The bot identity')", None)}


def test_outside_git_a_status_cannot_be_verified(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "plain")
    (root / STATUS).write_text("v1\n")
    found = untrusted_statuses(str(root), [STATUS, "customers/acme/x/status.yaml"])
    assert {p: u.problem for p, u in found.items()} == {
        STATUS: f"{RULE}: it cannot be verified: it is not in a git repository"}


def test_a_shallow_clone_cannot_vouch_for_a_status(repo: GitRepo, tmp_path: Path) -> None:
    (repo.work / "customers/acme/triage/notes.md").write_text("later\n")
    repo.commit_all("Later")
    repo.git("push", "-q", "origin", "main")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.remote}", str(shallow))
    found = untrusted_statuses(str(shallow), [STATUS])
    assert found[STATUS].problem.startswith(f"{RULE}: it cannot be verified in a shallow clone")


def test_many_paths_are_checked_in_one_walk(repo: GitRepo) -> None:
    paths = [f"customers/acme/p{i}/status.yaml" for i in range(80)]
    for path in paths[:40]:
        (repo.work / path).parent.mkdir()
        (repo.work / path).write_text("v1\n")
    repo.bot_commit("ailoop: reconcile 40 priorities")
    (repo.work / paths[3]).write_text("edited\n")
    sha = hand_edit(repo, "edited\n")
    found = untrusted_statuses(str(repo.work), [STATUS, *paths])
    assert sorted(found) == sorted([STATUS, paths[3]])
    assert found[STATUS].problem.endswith(f"commit {sha[:7]} (ailoop-bot "
                                          "<ailoop-bot@users.noreply.github.com>), not a "
                                          "signed ailoop bot commit")


def test_a_commit_found_good_is_checked_once(repo: GitRepo, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.git as g

    asked: list[set[str]] = []
    real = g.check_commits
    monkeypatch.setattr(g, "check_commits",
                        lambda root, shas, signers: asked.append(set(shas)) or
                        real(root, shas, signers))
    cache = tmp_path / "cache"
    bot = repo.git("rev-parse", "HEAD")
    assert untrusted_statuses(str(repo.work), [STATUS], cache=str(cache)) == {}
    assert untrusted_statuses(str(repo.work), [STATUS], cache=str(cache)) == {}
    assert asked == [{bot}]
    sha = hand_edit(repo, "v2\n")  # a commit that is not good is never remembered
    for _ in range(2):
        assert STATUS in untrusted_statuses(str(repo.work), [STATUS], cache=str(cache))
    assert asked[1:] == [{sha}, {sha}]
    assert [p.read_text() for p in cache.iterdir()] == [f"{bot}\n"]
