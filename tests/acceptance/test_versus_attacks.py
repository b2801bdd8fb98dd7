"""Attacks on `noRegressionOn` by the pull request's author, who controls the candidate's
dataset: the serving version is run on the candidate's cases, so the dataset the serving
version was approved with must still say which cases the gate guards. Real git, real
bot-signed commits, the real CLI (helpers of tests/acceptance/test_versus_serving.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_versus_serving import (
    DATASET,
    FOLDER,
    candidate,
    dry_run,
    gate,
    make,
    serve,
)
from tests.support import GitRepo

# "hello" is critical too (it passes on both versions): without water-leak's flag the gate
# still has critical cases, so only the regression's flag is at stake.
SERVED = [c | {"critical": True} if c["id"] == "hello" else c for c in DATASET]


def write_dataset(repo: GitRepo, cases: list[dict[str, Any]]) -> None:
    (repo.work / FOLDER / "dataset.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in cases))


def serving_with_two_critical_cases(capsys: pytest.CaptureFixture[str], tmp_path: Path
                                    ) -> GitRepo:
    repo = make(tmp_path)
    write_dataset(repo, SERVED)
    repo.commit_all("hello is critical too")
    serve(capsys, repo)
    return repo


def test_removing_the_critical_flag_of_a_regressed_case_does_not_hide_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The attack: the pull request that breaks water-leak also drops its `critical`, so
    the gate (which read the candidate's flags) saw no critical case regress."""
    repo = serving_with_two_critical_cases(capsys, tmp_path)
    candidate(repo)
    write_dataset(repo, [{k: v for k, v in c.items() if k != "critical"}
                         if c["id"] == "water-leak" else c for c in SERVED])
    repo.commit_all("water-leak is not that critical")
    code, out, evidence = dry_run(capsys, repo)
    assert code == 1, out
    assert gate(evidence)["passed"] is False
    assert gate(evidence)["actual"] == \
        "case water-leak passed on serving v1.1.1 and fails on v1.2.0"


def test_removing_a_case_the_serving_dataset_guards_fails_the_gate(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The attack: the pull request deletes the critical case it breaks; the serving
    version is run on the candidate's cases only, so nothing regressed."""
    repo = serving_with_two_critical_cases(capsys, tmp_path)
    candidate(repo)
    write_dataset(repo, [c for c in SERVED if c["id"] != "water-leak"])
    repo.commit_all("drop an old case")
    code, out, evidence = dry_run(capsys, repo)
    assert code == 1, out
    assert gate(evidence)["passed"] is False
    assert gate(evidence)["actual"] == (
        "case water-leak, critical in the dataset of serving v1.1.1, is not in this dataset: "
        "it cannot be compared")
    assert "is not in this dataset" in out


def test_rewriting_the_expected_output_of_a_guarded_case_does_not_hide_its_regression(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The attack: the pull request makes water-leak expect what the candidate now answers;
    serving "fails" it, the candidate "improves" it, and nothing regressed."""
    repo = serving_with_two_critical_cases(capsys, tmp_path)
    candidate(repo)
    write_dataset(repo, [c | {"expected": "unknown"} if c["id"] == "water-leak" else c
                         for c in SERVED])
    repo.commit_all("water-leak: the expected queue was wrong")
    code, out, evidence = dry_run(capsys, repo)
    assert code == 1, out
    assert gate(evidence)["passed"] is False
    assert gate(evidence)["actual"] == (
        "case water-leak, critical in the dataset of serving v1.1.1, has another input or "
        "expected output in this dataset: it cannot be compared")


def test_the_serving_versions_cached_judge_checks_do_not_outlive_the_rubric(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving version's cached results carry the candidate's judge checks: a pull
    request that rewrites the rubric (or the calibration set) must have them graded again,
    or its own run compares a candidate judged by the new rubric with a serving version
    judged by the old one."""
    from tests.acceptance.test_pairwise_judge import candidate as judged_candidate
    from tests.acceptance.test_pairwise_judge import with_judge
    from tests.unit.providers.chat_server import ChatServer

    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-judge-secret")
    chat = ChatServer().start()
    try:
        repo = with_judge(tmp_path, chat.url, calibrated=True)
        serve(capsys, repo)
        judged_candidate(repo)
        _, first, _ = dry_run(capsys, repo)
        assert "serving runs reused from cache 0" in first
        _, again, _ = dry_run(capsys, repo)
        assert "serving runs reused from cache 5" in again
        (repo.work / FOLDER / "rubric.md").write_text("The reply is short.\n")
        repo.commit_all("a stricter rubric")
        _, rubric, _ = dry_run(capsys, repo)
    finally:
        chat.stop()
    assert "serving runs reused from cache 0" in rubric, rubric
