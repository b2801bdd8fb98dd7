"""`ailoop dry-run --all --missing` (the reconcile workflow's hourly trusted run) also reruns
a priority whose trusted evidence compared the candidate with another serving version than
the one the bot's status serves now: its noRegressionOn pass proves nothing against the
new one, and the reconciler holds until a rerun. Real git repositories, bot-signed commits,
the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.reconcile.trusted_run import without_trusted_evidence
from tests.acceptance.test_versus_serving import (
    SERVING,
    STATUS,
    dry_run,
    make,
    serve,
    set_version,
    workflow_digest,
    write_status,
)
from tests.support import GitRepo, commit_evidence, run_cli
from tests.unit.reconciler.builders import KEY

NOW = "2026-11-20T10:00:00Z"
OTHER = "ev-1111111111111111"


def improved(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> str:
    """v1.2.0 only fixes a case; its trusted run compares it with what serves now."""
    set_version(repo.work, "1.2.0", SERVING.replace(
        '        raise ValueError("no body")', '        return "triage"'))
    repo.commit_all("acme/triage v1.2.0")
    return trusted_run(capsys, repo)


def trusted_run(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> str:
    """The candidate's trusted run, its evidence committed by the bot: the serving evidence
    id it was compared with ("" when nothing was serving)."""
    code, out, evidence = dry_run(capsys, repo)
    assert code == 0, out
    commit_evidence(repo.work)
    return str(evidence.get("versusServing", {}).get("evidenceId", ""))


def missing(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", "--all", "--missing", "--now",
                     NOW)
    assert "Traceback" not in result.err, result.err
    return result.out


def serve_other(repo: GitRepo, *, by_bot: bool = True, nothing: bool = False) -> None:
    write_status(repo.work, "1.1.2", OTHER, workflow_digest(repo.work))
    if nothing:
        (repo.work / STATUS).write_text((repo.work / STATUS).read_text().split("  serving:")[0])
    if by_bot:
        repo.bot_commit("ailoop: acme/triage v1.1.2 completes: it is the serving version")
    else:
        repo.commit_all("Another version serves, says a pull request")


def test_a_new_serving_version_makes_missing_rerun_the_candidate(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serving = serve(capsys, repo)
    assert improved(capsys, repo) == serving
    assert missing(capsys, repo).strip() == "No priority to dry-run."
    serve_other(repo)
    assert without_trusted_evidence(str(repo.work), [KEY]) == [KEY]
    out = missing(capsys, repo)
    assert f"dry run {KEY}" in out and f"serving v1.1.2 ({OTHER})" in out
    # the rerun's evidence, once committed, compared with what serves now: nothing to rerun
    commit_evidence(repo.work)
    assert missing(capsys, repo).strip() == "No priority to dry-run."


def test_nothing_serving_now_reruns_a_comparison_with_a_version(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serve(capsys, repo)
    improved(capsys, repo)
    serve_other(repo, nothing=True)
    assert without_trusted_evidence(str(repo.work), [KEY]) == [KEY]


def test_a_comparison_with_nothing_reruns_once_a_version_serves(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    assert trusted_run(capsys, repo) == ""  # nothing serving: compared with nothing
    assert without_trusted_evidence(str(repo.work), [KEY]) == []
    serve_other(repo)
    assert without_trusted_evidence(str(repo.work), [KEY]) == [KEY]


def test_a_pull_request_editing_the_status_reruns_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Only the status the bot wrote counts: a hand edit cannot make the hourly job spend."""
    repo = make(tmp_path)
    serve(capsys, repo)
    improved(capsys, repo)
    serve_other(repo, by_bot=False)
    assert without_trusted_evidence(str(repo.work), [KEY]) == []


def test_without_no_regression_on_the_comparison_gates_nothing_and_reruns_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path, no_regression=False)
    serve(capsys, repo)
    improved(capsys, repo)
    serve_other(repo)
    assert without_trusted_evidence(str(repo.work), [KEY]) == []
