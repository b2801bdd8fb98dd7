"""status.yaml is written by the reconciler only (DESIGN.md, "Trust"): every way a person
could change it, on real git repositories with a bare remote, through the real CLI. The
priority stands at canary (5%), written there by two signed bot commits; at minute 200 the
reconciler would promote it to early, so anything that is acted on shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_reconcile import FLAGS, STATUS, make_git_repo, ready, reconcile
from tests.acceptance.test_serving_candidate import walk_to
from tests.support import (
    GitRepo,
    bot_key,
    committed_by_bot,
    minimal_repo,
    run_cli,
    signed_commit,
)
from tests.unit.reconciler.builders import T0, iso

RULE = "status.yaml is written by the reconciler only"
BOT = ("ailoop-bot", "ailoop-bot@users.noreply.github.com")
# As printed: every output goes through the one redactor (pipeline/redact.py).
BOT_AUTHOR = "ailoop-bot <[redacted:email]>"
ENGINEER = "Test Engineer <[redacted:email]>"
LATER = 200  # minutes: canary has baked; a trusted status would be promoted to early
CANDIDATE = "    stage: canary\n    percent: 5.0\n"


def _entry(frm: str, to: str, percent: float) -> str:
    return (f"  - time: '2026-11-20T11:00:00Z'\n    from: {frm}\n    to: {to}\n"
            f"    percent: {percent}\n    action: promote\n    reason: looks right\n"
            "    version: 1.0.0\n")


def _moved(stage: str, percent: float, entry: str = "") -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert CANDIDATE in text and "  terminal:\n" in text
        text = text.replace(CANDIDATE, f"    stage: {stage}\n    percent: {percent}\n")
        return text.replace("  terminal:\n", entry + "  terminal:\n")
    return edit


EDITS = {
    "percent 150": _moved("canary", 150.0),
    "stage full": _moved("full", 5.0),
    "a skipped stage": _moved("full", 100.0, _entry("canary", "full", 100.0)),
    # One stage up, within the stage's percent, the history consistent: no bound catches it.
    "a well-formed promotion": _moved("early", 25.0, _entry("canary", "early", 25.0)),
}


@pytest.fixture
def at_canary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> GitRepo:
    repo = make_git_repo(tmp_path)
    ready(repo)
    walk_to(capsys, repo, "canary")
    return repo


def edit_status(repo: GitRepo, edit: Callable[[str], str]) -> None:
    path = repo.work / STATUS
    path.write_text(edit(path.read_text()))


def commit_in_the_bots_name(repo: GitRepo, key: Path | None = None) -> str:
    repo.git("add", "-A")
    signed_commit(repo.work, "Fix the status", key, BOT)
    return repo.git("rev-parse", "HEAD")


def snapshot(repo: GitRepo) -> tuple[str, str, str]:
    return ((repo.work / STATUS).read_text(), (repo.work / FLAGS).read_text(),
            repo.git("rev-parse", "HEAD"))


def served(repo: GitRepo) -> tuple[str | None, int]:
    """The candidate's stage and share (of 10,000) in the flag production reads."""
    flag: dict[str, Any] = json.loads((repo.work / FLAGS).read_text())["flags"]["triage"]
    stage = flag["variants"].get("candidate", {}).get("stage")
    share = flag.get("targeting", {}).get("fractional", [[None, 0]])[0][1]
    return stage, share


def assert_refused(capsys: pytest.CaptureFixture[str], repo: GitRepo, problem: str,
                   release: str, *, changed_since: str = "HEAD~1") -> None:
    """validate refuses the status; reconcile holds it and acts on nothing; plan and
    status show the hold and how to release it."""
    line = f"customers/acme/triage/status.yaml:1:1: {problem}\n"
    full = run_cli(capsys, "-C", str(repo.work), "validate", "--no-cache")
    assert full.code == 1 and line in full.out, full.out
    pr = run_cli(capsys, "-C", str(repo.work), "validate", "--changed-since", changed_since)
    assert pr.code == 1 and line in pr.out, pr.out
    before = snapshot(repo)
    assert reconcile(capsys, repo, LATER) == "No changes\n"
    assert snapshot(repo) == before  # the status is not rewritten, the flags do not move
    hold = f"{problem}; to release the hold, {release}"
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=LATER)))
    assert "acme/triage: holds: " in plan.out and hold in plan.out, plan.out
    status = run_cli(capsys, "-C", str(repo.work), "status", "--now",
                     iso(T0 + timedelta(minutes=LATER)))
    assert "acme/triage: holds: " in status.out and hold in status.out, status.out


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_hand_edit_in_the_bots_name_is_refused_and_never_acted_on(
        edit: str, at_canary: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    edit_status(at_canary, EDITS[edit])
    sha = commit_in_the_bots_name(at_canary)
    assert_refused(capsys, at_canary,
                   f"{RULE}: last changed by commit {sha[:7]} ({BOT_AUTHOR}), not a signed "
                   "ailoop bot commit", f"revert the edit: git revert {sha[:7]}")
    assert served(at_canary) == ("canary", 500)


def test_a_commit_signed_by_another_key_in_the_bots_name_is_refused(
        at_canary: GitRepo, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    edit_status(at_canary, EDITS["a well-formed promotion"])
    sha = commit_in_the_bots_name(at_canary, keys["mallory"])
    assert "-----BEGIN SSH SIGNATURE-----" in at_canary.git("cat-file", "commit", sha)
    assert_refused(capsys, at_canary,
                   f"{RULE}: last changed by commit {sha[:7]} ({BOT_AUTHOR}), not a signed "
                   "ailoop bot commit", f"revert the edit: git revert {sha[:7]}")


def test_a_pull_request_merged_with_a_merge_commit_is_refused(
        at_canary: GitRepo, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo = at_canary
    bot_wrote = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "pr")
    edit_status(repo, EDITS["a well-formed promotion"])
    commit_in_the_bots_name(repo, keys["mallory"])
    repo.git("checkout", "-q", "main")
    (repo.work / "NOTES.md").write_text("meanwhile on main\n")
    repo.commit_all("Meanwhile")
    repo.git("merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #12")
    merge = repo.git("rev-parse", "HEAD")
    assert_refused(capsys, repo,
                   f"{RULE}: last changed by commit {merge[:7]} ({ENGINEER}), not a signed "
                   "ailoop bot commit",
                   f"restore what the bot last wrote: git checkout {bot_wrote[:7]} -- "
                   f"{STATUS}, then commit", changed_since="HEAD^1")


def test_the_flag_of_a_held_priority_follows_what_the_bot_last_wrote(
        at_canary: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    edit_status(at_canary, EDITS["a well-formed promotion"])
    (at_canary.work / FLAGS).unlink()  # the flags must be made again: from what?
    commit_in_the_bots_name(at_canary)
    out = reconcile(capsys, at_canary, LATER)
    assert out.startswith("Committed ") or "Committed " in out
    assert served(at_canary) == ("canary", 500)  # the bot's canary 5%, not the edit's 25%
    assert "    stage: early\n    percent: 25.0\n" in (at_canary.work / STATUS).read_text()


def test_an_uncommitted_edit_is_refused(at_canary: GitRepo,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    edit_status(at_canary, EDITS["a well-formed promotion"])
    problem = f"{RULE}: it has uncommitted changes"
    checked = run_cli(capsys, "-C", str(at_canary.work), "validate", "--changed-since", "HEAD")
    assert checked.code == 1
    assert f"customers/acme/triage/status.yaml:1:1: {problem}\n" in checked.out
    plan = run_cli(capsys, "-C", str(at_canary.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=LATER)))
    assert (f"acme/triage: holds: {problem}; to release the hold, discard that: "
            f"git checkout HEAD -- {STATUS}") in plan.out
    # The reconciler itself puts files it owns back to HEAD before it plans (a killed run
    # leaves them so): the edit is never committed, the bot's canary is what it reads.
    out = reconcile(capsys, at_canary, LATER)
    assert "promote acme/triage to early (25%)" in out
    assert served(at_canary) == ("early", 2500)


def test_a_status_deleted_by_a_person_is_refused(at_canary: GitRepo,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    at_canary.git("rm", "-q", str(STATUS))
    at_canary.git("commit", "-q", "-m", "Start over")
    sha = at_canary.git("rev-parse", "HEAD")
    problem = (f"{RULE}: deleted by commit {sha[:7]} ({ENGINEER}), not a signed ailoop bot "
               "commit")
    line = f"customers/acme/triage/status.yaml:1:1: {problem}\n"
    for args in (["--no-cache"], ["--changed-since", "HEAD~1"]):
        checked = run_cli(capsys, "-C", str(at_canary.work), "validate", *args)
        assert checked.code == 1 and line in checked.out, checked.out
    flags = (at_canary.work / FLAGS).read_text()
    assert reconcile(capsys, at_canary, LATER) == "No changes\n"
    assert not (at_canary.work / STATUS).exists()
    assert (at_canary.work / FLAGS).read_text() == flags
    plan = run_cli(capsys, "-C", str(at_canary.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=LATER)))
    assert f"{problem}; to release the hold, revert the edit: git revert {sha[:7]}" in plan.out


def test_a_status_swapped_for_a_folder_is_refused(at_canary: GitRepo,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """validate learns which status files exist from its own walk of the folders, which
    lists a folder named status.yaml as no document: the swap must still read as a change
    the bot did not make, in every kind of run."""
    status = at_canary.work / STATUS
    status.unlink()
    status.mkdir()
    (status / "status.yaml").write_text("not: the bot's\n")
    line = f"customers/acme/triage/status.yaml:1:1: {RULE}: "
    for args in (["--no-cache"], [], [], ["--changed-since", "HEAD"]):
        checked = run_cli(capsys, "-C", str(at_canary.work), "validate", *args)
        assert checked.code == 1 and line in checked.out, (args, checked.out)


@pytest.mark.parametrize("committed", [False, True])
@pytest.mark.parametrize("empty", [False, True])
def test_a_folder_where_no_status_was_is_refused(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 committed: bool, empty: bool) -> None:
    """Where the bot never wrote a status, a folder named status.yaml (no document, so no
    entry in the walk's document list) is still something the bot did not write: full,
    cached and --changed-since runs refuse it, as the reconciler does (found by review:
    with presence taken from the documents alone, validate passed it)."""
    work = committed_by_bot(minimal_repo(tmp_path / "work"))
    assert run_cli(capsys, "-C", str(work), "validate").code == 0  # a stored walk to reuse
    (work / STATUS).mkdir()
    if not empty or committed:
        (work / STATUS / "a").write_text("x: 1\n")
    if committed:
        GitRepo(work, work).commit_all("A folder where the status goes")
    line = f"{STATUS}:1:1: {RULE}: "
    runs = [["--no-cache"], [], []]
    if not empty or committed:  # git sees no empty folder: nothing changed, for it
        runs.append(["--changed-since", "HEAD~1" if committed else "HEAD"])
    for args in runs:
        checked = run_cli(capsys, "-C", str(work), "validate", *args)
        assert checked.code == 1 and line in checked.out, (args, checked.out)


def test_a_replay_of_an_older_bot_status_is_refused(at_canary: GitRepo,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    repo = at_canary
    canary = repo.git("rev-parse", "HEAD")
    assert "promote acme/triage to early (25%)" in reconcile(capsys, repo, LATER)
    early = repo.git("rev-parse", "HEAD")
    repo.git("checkout", canary, "--", str(STATUS))  # the bot's own words, one move ago
    repo.commit_all("Back to canary")
    sha = repo.git("rev-parse", "HEAD")
    problem = (f"{RULE}: last changed by commit {sha[:7]} ({ENGINEER}), not a signed ailoop "
               "bot commit")
    checked = run_cli(capsys, "-C", str(repo.work), "validate", "--changed-since", "HEAD~1")
    assert checked.code == 1 and problem in checked.out
    assert reconcile(capsys, repo, LATER + 5) == "No changes\n"
    assert served(repo) == ("early", 2500)  # what the bot wrote last, not the replay
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now",
                   iso(T0 + timedelta(minutes=LATER + 5)))
    assert f"{problem}; to release the hold, revert the edit: git revert {sha[:7]}" in plan.out
    assert early != sha


def test_reverting_a_hand_edit_restores_trust(at_canary: GitRepo,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    edit_status(at_canary, EDITS["a well-formed promotion"])
    sha = commit_in_the_bots_name(at_canary)
    assert RULE in run_cli(capsys, "-C", str(at_canary.work), "validate", "--no-cache").out
    at_canary.git("revert", "--no-edit", sha)
    assert RULE not in run_cli(capsys, "-C", str(at_canary.work), "validate", "--no-cache").out
    assert "promote acme/triage to early (25%)" in reconcile(capsys, at_canary, LATER)
    assert served(at_canary) == ("early", 2500)


def test_every_reconciler_commit_is_signed_by_the_bot(at_canary: GitRepo,
                                                      tmp_path: Path) -> None:
    signers = tmp_path / "allowed_signers"
    public = " ".join(bot_key().public.split()[:2])
    signers.write_text(f'ailoop-bot namespaces="git" {public}\n')
    log = at_canary.git("-c", f"gpg.ssh.allowedSignersFile={signers}", "log",
                        "--format=%G? %an <%ae> / %cn <%ce>: %s")
    bot = [line for line in log.splitlines() if ": ailoop: " in line]
    assert len(bot) == 3  # the trusted run's evidence, then shadow and canary
    raw = "ailoop-bot <ailoop-bot@users.noreply.github.com>"
    assert all(line.startswith(f"G {raw} / {raw}: ") for line in bot), log


# --- no bot key: nothing is written -----------------------------------------------------

SETUP = ("See README.md, 'The bot identity': `ailoop init` generates the pair; the private "
         "half is the CI secret AILOOP_BOT_SIGNING_KEY, written to a file whose path the "
         "job puts in AILOOP_BOT_SIGNING_KEY.")


def _no_key(monkeypatch: pytest.MonkeyPatch, repo: GitRepo, keys: dict[str, Path]) -> str:
    monkeypatch.delenv("AILOOP_BOT_SIGNING_KEY")
    return ("error: a state change must be committed, but AILOOP_BOT_SIGNING_KEY is not set: "
            f"set it to the path of the bot's SSH private key. {SETUP}\n")


def _other_key(monkeypatch: pytest.MonkeyPatch, repo: GitRepo, keys: dict[str, Path]) -> str:
    monkeypatch.setenv("AILOOP_BOT_SIGNING_KEY", str(keys["mallory"]))
    return ("error: the key AILOOP_BOT_SIGNING_KEY names is not the bot's: its public half "
            "is not ailoop.yaml's spec.bot.signingKey. Use the private half of that key, or "
            f"rotate the key. {SETUP}\n")


def _unreadable(monkeypatch: pytest.MonkeyPatch, repo: GitRepo, keys: dict[str, Path]) -> str:
    missing = repo.work.parent / "no-such-key"
    monkeypatch.setenv("AILOOP_BOT_SIGNING_KEY", str(missing))
    return ("error: AILOOP_BOT_SIGNING_KEY names a file that cannot be read (No such file or "
            f"directory). {SETUP}\n")


def _no_public_key(monkeypatch: pytest.MonkeyPatch, repo: GitRepo,
                   keys: dict[str, Path]) -> str:
    project = repo.work / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        f"  bot:\n    signingKey: {bot_key().public}\n", ""))
    repo.commit_all("No bot key")
    return ("error: ailoop.yaml: a state change must be committed, but ailoop.yaml has no "
            "spec.bot.signingKey (the bot's SSH public key), so no commit could be trusted. "
            f"{SETUP}\n")


def test_without_a_bot_key_in_ailoop_yaml_no_evidence_counts(
        tmp_path: Path, keys: dict[str, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No key to check a signature against: no commit is a trusted run's, nothing moves."""
    repo = make_git_repo(tmp_path)
    ready(repo)
    _no_public_key(monkeypatch, repo, keys)
    head = repo.git("rev-parse", "HEAD")
    assert reconcile(capsys, repo, 1) == "No changes\n"
    assert repo.git("rev-parse", "HEAD") == head
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now", iso(T0))
    assert "from the PR, not yet verified" in plan.out


@pytest.mark.parametrize("setup", [_no_key, _other_key, _unreadable],
                         ids=["env-unset", "another-key", "unreadable"])
def test_without_the_bot_key_a_state_change_fails_before_writing_anything(
        setup: Callable[..., str], tmp_path: Path, keys: dict[str, Path],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_git_repo(tmp_path)
    ready(repo)
    message = setup(monkeypatch, repo, keys)
    head = repo.git("rev-parse", "HEAD")
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--now",
                     iso(T0 + timedelta(minutes=1)))
    assert (result.code, result.err) == (2, message)
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo.work / STATUS).exists() and not (repo.work / FLAGS).exists()


def test_a_run_with_nothing_to_commit_needs_no_key(at_canary: GitRepo,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AILOOP_BOT_SIGNING_KEY")
    assert reconcile(capsys, at_canary, 70) == "No changes\n"


# --- what the check costs: nothing when no status changed -------------------------------

def test_validate_changed_since_asks_git_about_no_status_when_none_changed(
        at_canary: GitRepo, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.trust.status as check

    asked: list[list[str]] = []
    real = check.untrusted_statuses
    monkeypatch.setattr(check, "untrusted_statuses",
                        lambda root, paths, **kw: asked.append(list(paths)) or real(root, paths))
    spec = at_canary.work / "customers/acme/triage/priority.yaml"
    spec.write_text(spec.read_text().replace("Route support tickets", "Route tickets"))
    result = run_cli(capsys, "-C", str(at_canary.work), "validate", "--changed-since", "HEAD")
    assert result.code == 0, result.out
    assert asked == []
    run_cli(capsys, "-C", str(at_canary.work), "validate", "--no-cache")
    assert asked[-1] == [str(STATUS)]


def test_outside_git_a_status_cannot_be_verified(example: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    status = example / "customers/helio-saas/ticket-triage/status.yaml"
    status.write_text("apiVersion: ailoop.dev/v1\nkind: Status\nmetadata:\n"
                      "  name: ticket-triage\nstatus:\n  phase: pending\n")
    result = run_cli(capsys, "-C", str(example), "validate", "--no-cache")
    assert (result.code, result.out) == (1, (
        "customers/helio-saas/ticket-triage/status.yaml:1:1: status.yaml is written by the "
        "reconciler only: it cannot be verified: it is not in a git repository\n"
        "1 error, 0 warnings in 16 files checked.\n"))
