"""PR author -> evidence: only a trusted run's evidence counts. A pull request's author can
compute any evidence id and write `passed: true`; on real git repositories with a bare
remote, such evidence is shown ("from the PR, not yet verified") and never promotes. The
trusted run (a dry run from the default branch, committed by `ailoop evidence commit`)
promotes, whatever the PR's run showed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.model.evidence import UNVERIFIED
from tests.acceptance.test_reconcile import make_git_repo, reconcile
from tests.support import (
    BOT_WHO,
    GitRepo,
    candidate_stage,
    commit_evidence,
    git,
    run_cli,
    signed_commit,
)
from tests.unit.reconciler.builders import (
    KEY,
    T0,
    approve_all,
    evidence_id,
    healthy_hourly,
    iso,
    make_tree,
    write_evidence,
)

WORKFLOW = "customers/acme/triage/workflow.py"
STATUS = "customers/acme/triage/status.yaml"


def pr_with_forged_evidence(repo: GitRepo, *, passed: bool = True) -> str:
    """A PR that changes the workflow and commits evidence naming the new fingerprint, with
    every approval for it; merged into main with a merge commit. Returns the evidence id."""
    repo.git("checkout", "-q", "-b", "feature")
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    ev = write_evidence(repo.work, passed=passed)
    approve_all(repo.work, KEY, ev)
    healthy_hourly(repo.work, KEY, T0, 12)
    repo.commit_all("Better workflow, with its dry run")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #12")
    repo.git("push", "-q", "origin", "main")
    return ev


def stage(repo: GitRepo) -> str | None:
    """The candidate's stage in the committed status (None: no traffic)."""
    from pipeline.documents.yamlio import parse_yaml
    from pipeline.model.scalars import typed

    path = repo.work / STATUS
    if not path.exists():
        return None
    data = typed(parse_yaml(path.read_bytes(), STATUS).data)
    assert isinstance(data, dict) and isinstance(data["status"], dict)
    return candidate_stage(data["status"])


def trusted_run(repo: GitRepo, tmp: Path, capsys: pytest.CaptureFixture[str],
                *extra: str) -> str:
    """The dry-run job (its own clone, no bot key needed) and then the commit job."""
    job = tmp / "dry-run-job"
    git(tmp, "clone", "-q", str(repo.remote), str(job))
    result = run_cli(capsys, "-C", str(job), "dry-run", KEY, "--no-cache", "--now",
                     iso(T0))
    assert result.code == 0, result.out + result.err
    repo.git("pull", "-q", "--ff-only", "origin", "main")
    done = run_cli(capsys, "-C", str(repo.work), "evidence", "commit",
                   str(job / "customers/acme/triage/evidence"), *extra)
    assert done.code == 0, done.err
    return done.out


def test_forged_passing_evidence_from_a_pr_never_promotes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    ev = pr_with_forged_evidence(repo)
    out = reconcile(capsys, repo, 30)
    assert stage(repo) is None
    plan = run_cli(capsys, "-C", str(repo.work), "plan", "--now", iso(T0))
    assert (f"needs a dry run: no evidence for {ev} (v1.0.0) from a trusted run; evidence "
            f"{ev} is {UNVERIFIED} (passed, 1 of 1 cases) and does not count") in plan.out
    for minutes in (90, 300, 600):
        out = reconcile(capsys, repo, minutes)
        assert "promote" not in out
    assert stage(repo) is None


def test_the_trusted_run_promotes_whatever_the_prs_run_showed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    ev = pr_with_forged_evidence(repo, passed=False)
    reconcile(capsys, repo, 30)
    assert stage(repo) is None
    committed = trusted_run(repo, tmp_path, capsys, "--push")
    assert f"{KEY}: dry run {ev} passed -> customers/acme/triage/evidence/{ev}.json" \
        in committed
    assert "Pushed to origin (attempt 1)." in committed
    message = repo.git("log", "-1", "--format=%an <%ae>%n%B")
    assert message.startswith(f"ailoop-bot <ailoop-bot@users.noreply.github.com>\n"
                              f"ailoop: evidence of {KEY} ({ev}, passed)")
    assert f"Ailoop-Action: evidence\nAiloop-Evidence: {ev}\nAiloop-Result: passed" in message
    assert "-----BEGIN SSH SIGNATURE-----" in repo.git("cat-file", "commit", "HEAD")
    assert "to shadow (0%)" in reconcile(capsys, repo, 60)
    assert stage(repo) == "shadow"


def test_evidence_in_the_bots_name_but_unsigned_never_promotes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    repo.commit_all("Better workflow")
    ev = write_evidence(repo.work)
    repo.git("add", "-A")
    signed_commit(repo.work, f"ailoop: evidence of {KEY} ({ev}, passed)\n\n"
                  "Ailoop-Action: evidence", None, BOT_WHO)
    approve_all(repo.work, KEY, ev)
    healthy_hourly(repo.work, KEY, T0, 12)
    repo.commit_all("Approvals and readings")
    for minutes in (30, 90, 300):
        assert "promote" not in reconcile(capsys, repo, minutes)
    assert stage(repo) is None


def test_the_pr_comment_labels_evidence_nobody_trusted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    ev = write_evidence(repo.work)
    repo.commit_all("Better workflow, with its dry run")
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base", base,
                     "--now", iso(T0))
    assert result.code == 0, result.err
    assert f"### Dry run `{KEY}`: ✅ passed ({UNVERIFIED})" in result.out
    assert f"### Dry run `{KEY}`: ✅ passed\n" not in result.out
    assert f"evidence {ev} is {UNVERIFIED}" in result.out


def test_the_pr_comment_shows_both_when_a_pr_rewrites_trusted_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    write_evidence(repo.work, passed=False)
    from tests.support import commit_evidence

    commit_evidence(repo.work)
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    write_evidence(repo.work, passed=True)
    repo.commit_all("It passes now, trust me")
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base", base,
                     "--now", iso(T0))
    assert result.code == 0, result.err
    assert f"### Dry run `{KEY}`: ❌ failed (from a trusted run)" in result.out
    assert f"### Dry run `{KEY}`: ✅ passed ({UNVERIFIED})" in result.out


def test_minimal_evidence_is_shown_not_a_crash(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Only the four summary fields a gate needs: every detail is optional."""
    repo = make_git_repo(tmp_path)
    base = repo.git("rev-parse", "HEAD")
    ev = write_evidence(repo.work)
    rel = repo.work / f"customers/acme/triage/evidence/{ev}.json"
    data = json.loads(rel.read_text())
    rel.write_text(json.dumps({k: v for k, v in data.items()
                               if k not in ("cases", "failureCategories", "edgeCases")}))
    repo.commit_all("Minimal evidence")
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base", base,
                     "--now", iso(T0))
    assert result.code == 0, result.err
    assert f"1/1 cases passed (100.0%), 0 errors. Evidence `{ev}`" in result.out


def test_malformed_evidence_is_a_finding_naming_file_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    base = repo.git("rev-parse", "HEAD")
    ev = write_evidence(repo.work)
    rel = f"customers/acme/triage/evidence/{ev}.json"
    data = json.loads((repo.work / rel).read_text())
    data["summary"]["passRate"] = "100%"
    (repo.work / rel).write_text(json.dumps(data))
    repo.commit_all("Broken evidence")
    result = run_cli(capsys, "-C", str(repo.work), "comment", "--print", "--base", base,
                     "--now", iso(T0))
    assert result.code == 0, result.err
    assert (f"`{KEY}`: evidence skipped: `{rel}: summary.passRate: Input should be a valid "
            "number`.") in result.out


def test_evidence_commit_refuses_a_run_of_other_inputs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    handed = tmp_path / "handed"
    (tmp_path / "elsewhere").mkdir()
    job = make_git_repo(tmp_path / "elsewhere").work
    (job / WORKFLOW).write_text("def run(input):\n    return 'support'  # not on main\n")
    ev = write_evidence(job)
    (handed).mkdir()
    for name in (f"{ev}.json", f"{ev}.intoto.json"):
        (handed / name).write_bytes((job / "customers/acme/triage/evidence" / name).read_bytes())
    head = repo.git("rev-parse", "HEAD")
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(handed))
    assert result.code == 2
    assert f"{handed}/{ev}.json: id: {ev} is not the fingerprint of {KEY} on HEAD" in result.err
    assert "nothing was committed" in result.err
    assert repo.git("rev-parse", "HEAD") == head


def test_evidence_commit_refuses_malformed_evidence_and_a_missing_statement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    handed = tmp_path / "handed"
    handed.mkdir()
    (handed / "ev-0000000000000000.json").write_text('{"apiVersion": "ailoop.dev/v1", '
                                                     '"kind": "Evidence"}')
    (handed / "ev-0000000000000000.intoto.json").write_text("{}")
    (handed / "ev-1111111111111111.json").write_text("{}")
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(handed))
    assert result.code == 2
    assert (f"{handed}/ev-1111111111111111.intoto.json: missing (the dry run writes it next "
            "to its evidence)") in result.err
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(handed))
    (handed / "ev-1111111111111111.json").unlink()
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(handed))
    assert result.code == 2
    assert f"{handed}/ev-0000000000000000.json: id: is required" in result.err
    assert "Traceback" not in result.err


def dry_run_job(repo: GitRepo, tmp: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The dry-run job's own clone of the default branch, after its dry run."""
    job = tmp / "dry-run-job"
    git(tmp, "clone", "-q", str(repo.remote), str(job))
    assert run_cli(capsys, "-C", str(job), "dry-run", KEY, "--no-cache").code == 0
    return job


def test_evidence_commit_retries_a_rejected_push_on_the_new_head(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    job = dry_run_job(repo, tmp_path, capsys)
    other = repo.clone(tmp_path / "someone")
    (other.work / "notes.md").write_text("meanwhile\n")
    other.commit_all("Meanwhile")
    other.git("push", "-q", "origin", "main")
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit",
                     str(job / "customers/acme/triage/evidence"), "--push")
    assert result.code == 0, result.err
    assert "Pushed to origin (attempt 2)." in result.out
    assert git(repo.remote, "log", "-2", "--format=%s", "main").splitlines()[1] == "Meanwhile"


def test_a_trusted_run_that_agrees_with_the_prs_copy_still_makes_it_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dry run keeps a file that already says what it found, so the trusted run hands
    over the PR's bytes: the commit job sets that copy aside first, then commits its own."""
    repo = make_git_repo(tmp_path)
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    assert run_cli(capsys, "-C", str(repo.work), "dry-run", KEY, "--no-cache", "--now",
                   iso(T0)).code == 0
    repo.commit_all("v2 with its dry run")
    ev = evidence_id(repo.work)
    assert (repo.work / f"customers/acme/triage/evidence/{ev}.json").is_file()
    approve_all(repo.work, KEY, ev)
    healthy_hourly(repo.work, KEY, T0, 12)
    repo.commit_all("Approvals and readings")
    repo.git("push", "-q", "origin", "main")
    assert "promote" not in reconcile(capsys, repo, 30)
    trusted_run(repo, tmp_path, capsys, "--push")
    subjects = repo.git("log", "-3", "--format=%s").splitlines()
    assert subjects[0].startswith(f"ailoop: evidence of {KEY}")
    assert subjects[1].startswith(f"ailoop: set aside the unverified copy of {KEY}")
    assert "to shadow (0%)" in reconcile(capsys, repo, 60)


def _statement(repo: GitRepo, ev: str) -> Path:
    return repo.work / f"customers/acme/triage/evidence/{ev}.intoto.json"


def _tamper(path: Path) -> None:
    """Every subject digest zeroed and the result flipped to what the attacker wants."""
    statement = json.loads(path.read_text())
    for subject in statement["subject"]:
        subject["digest"]["sha256"] = "0" * 64
    statement["predicate"]["result"] = "FAILED"
    path.write_text(json.dumps(statement))


def promotable_after_trusted_run(repo: GitRepo, tmp: Path,
                                 capsys: pytest.CaptureFixture[str]) -> str:
    ev = pr_with_forged_evidence(repo, passed=False)
    trusted_run(repo, tmp, capsys, "--push")
    return ev


@pytest.mark.parametrize("edit", ["tamper", "delete"])
def test_a_pr_that_tampers_with_or_deletes_the_statement_promotes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str) -> None:
    """Files -> chain: the evidence is the trusted run's, its in-toto statement is not."""
    repo = make_git_repo(tmp_path)
    ev = promotable_after_trusted_run(repo, tmp_path, capsys)
    path = _statement(repo, ev)
    _tamper(path) if edit == "tamper" else path.unlink()
    repo.commit_all("Tidy the statement")
    assert "promote" not in reconcile(capsys, repo, 60)
    assert stage(repo) is None


def test_evidence_commit_refuses_a_statement_that_disagrees_with_the_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    job = dry_run_job(repo, tmp_path, capsys)
    folder = job / "customers/acme/triage/evidence"
    _tamper(next(folder.glob("*.intoto.json")))
    head = repo.git("rev-parse", "HEAD")
    result = run_cli(capsys, "-C", str(repo.work), "evidence", "commit", str(folder))
    assert result.code == 2
    assert "its in-toto statement's result disagrees with the evidence" in result.err
    assert repo.git("rev-parse", "HEAD") == head


def test_a_bot_commit_whose_statement_names_other_files_holds_with_the_broken_link(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Defence in depth: even a signed bot commit promotes only when the statement's
    digests are the files of the commit the run recorded."""
    repo = make_git_repo(tmp_path)
    (repo.work / WORKFLOW).write_text("def run(input):\n    return 'support'  # v2\n")
    repo.commit_all("Better workflow")
    ev = write_evidence(repo.work)
    path = _statement(repo, ev)
    statement = json.loads(path.read_text())
    workflow = next(s for s in statement["subject"] if s["name"] == WORKFLOW)
    workflow["digest"]["sha256"] = "0" * 64
    path.write_text(json.dumps(statement))
    assert commit_evidence(repo.work)
    approve_all(repo.work, KEY, ev)
    healthy_hourly(repo.work, KEY, T0, 12)
    repo.commit_all("Approvals and readings")
    assert "promote" not in reconcile(capsys, repo, 30)
    out = run_cli(capsys, "-C", str(repo.work), "plan", "--format", "json", "--now",
                  iso(T0)).out  # whole reasons: the text table cuts them to the terminal
    assert f"evidence {ev} does not verify: {WORKFLOW} at " in out
    assert "does not hash to the digest the dry run recorded" in out


def test_dry_run_missing_runs_only_what_has_no_trusted_evidence_of_its_inputs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reconcile workflow's dry-run job: the PR's copy does not count, so the priority
    runs; once the commit job committed the trusted run, nothing is left to run."""
    repo = make_git_repo(tmp_path)
    ev = pr_with_forged_evidence(repo)
    job = tmp_path / "dry-run-job"
    git(tmp_path, "clone", "-q", str(repo.remote), str(job))
    first = run_cli(capsys, "-C", str(job), "dry-run", "--all", "--missing", "--no-cache",
                    "--now", iso(T0))
    assert first.code == 0, first.out + first.err
    assert (job / f"customers/acme/triage/evidence/{ev}.json").is_file()
    assert ev in first.out
    repo.git("pull", "-q", "--ff-only", "origin", "main")
    done = run_cli(capsys, "-C", str(repo.work), "evidence", "commit",
                   str(job / "customers/acme/triage/evidence"), "--push")
    assert done.code == 0, done.err
    again = tmp_path / "next-dry-run-job"
    git(tmp_path, "clone", "-q", str(repo.remote), str(again))
    second = run_cli(capsys, "-C", str(again), "dry-run", "--all", "--missing", "--now",
                     iso(T0))
    assert second.code == 0, second.out + second.err
    assert second.out.strip() == "No priority to dry-run."


def test_dry_run_missing_needs_a_selection(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_git_repo(tmp_path)
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", "--missing")
    assert result.code == 2
    assert "--missing" in result.err and "--all" in result.err


def test_one_broken_priority_does_not_stop_the_evidence_of_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dry-run job hands over every evidence folder: the older, committed runs of a
    priority that cannot be read now are left as they are, not a reason to refuse all."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = make_tree(tmp_path / "work", names=("triage", "billing"))
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("Add acme/triage and acme/billing")
    write_evidence(work, "acme/billing")
    commit_evidence(work)
    (work / "customers/acme/billing/priority.yaml").write_text("spec: [\n")
    repo.commit_all("A broken priority")
    repo.git("push", "-q", "-u", "origin", "main")
    job = tmp_path / "dry-run-job"
    git(tmp_path, "clone", "-q", str(remote), str(job))
    ran = run_cli(capsys, "-C", str(job), "dry-run", "--all", "--missing", "--no-cache",
                  "--now", iso(T0))
    assert ran.code == 2 and "acme/billing:" in ran.err
    done = run_cli(capsys, "-C", str(work), "evidence", "commit", str(job / "customers"),
                   "--push")
    assert done.code == 0, done.err
    assert f"{KEY}: dry run {evidence_id(work)} passed" in done.out
    assert "acme/billing" not in done.out
