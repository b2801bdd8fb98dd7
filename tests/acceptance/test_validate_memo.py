"""A full `ailoop validate` with nothing new answers from the last full run (see
pipeline.validate.memo), and anything new of what that answer was computed from is seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cache import stat_index
from tests.support import GitRepo, make_repo, minimal_repo, run_cli

REUSED = "cache: nothing changed since the last full run: its answer reused"
PRIORITY = "customers/acme/triage/priority.yaml"
DATASET = "customers/acme/triage/dataset.jsonl"
NOW_RULE = """apiVersion: ailoop.dev/v1
kind: Policy
metadata:
  name: clock
spec:
  rules:
    - id: house/clock
      description: A rule that reads the clock.
      condition: now.getFullYear() < 2000
      field: spec.owner
      message: "the clock says {{ now }}"
"""


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    # Every file counts as settled at once (no 2-second racy window to wait out).
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1e9)
    return make_repo(tmp_path, fill=minimal_repo)


def _validate(capsys: object, repo: GitRepo) -> tuple[int, str, bool]:
    result = run_cli(capsys, "-C", str(repo.work), "validate", "-v")
    return result.code, result.out, REUSED in result.err


def test_a_second_full_run_with_nothing_new_reuses_the_answer(
        repo: GitRepo, capsys: object) -> None:
    first = _validate(capsys, repo)
    second = _validate(capsys, repo)
    assert first[:2] == second[:2] == (0, "All 3 files valid.\n")
    assert (first[2], second[2]) == (False, True)


@pytest.mark.parametrize("change", ["edit", "new file", "dataset", "commit", "index"])
def test_anything_new_is_seen(repo: GitRepo, capsys: object, change: str) -> None:
    _validate(capsys, repo)
    assert _validate(capsys, repo)[2] is True
    work = repo.work
    if change == "edit":
        (work / PRIORITY).write_text((work / PRIORITY).read_text().replace(
            "risk: low", "risk: lowish"))
    elif change == "new file":
        (work / "customers/acme/triage/events").mkdir()
        (work / "customers/acme/triage/events/note.yaml").write_text("kind: Nonsense\n")
    elif change == "dataset":
        (work / DATASET).write_text("{not json\n")
    elif change == "commit":  # a status a person committed: the trust verdict is asked again
        (work / "customers/acme/triage/status.yaml").write_text(
            "apiVersion: ailoop.dev/v1\nkind: Status\nmetadata:\n  name: triage\n"
            "status:\n  phase: pending\n")
        repo.commit_all("A status by hand")
    elif change == "index":
        (work / "customers/acme/triage/status.yaml").write_text(
            "apiVersion: ailoop.dev/v1\nkind: Status\nmetadata:\n  name: triage\n"
            "status:\n  phase: pending\n")
        _validate(capsys, repo)
        repo.git("add", "-A")  # the same content, now tracked: another verdict
    code, out, reused = _validate(capsys, repo)
    assert not reused
    assert code == 1, out
    assert out == run_cli(capsys, "-C", str(work), "validate", "--no-cache").out


def test_a_run_whose_rules_read_the_clock_keeps_no_answer(
        repo: GitRepo, capsys: object) -> None:
    (repo.work / "policies").mkdir()
    (repo.work / "policies/clock.yaml").write_text(NOW_RULE)
    repo.commit_all("A rule that reads the clock")
    _validate(capsys, repo)
    assert _validate(capsys, repo)[2] is False


def test_a_partial_run_neither_keeps_nor_uses_an_answer(repo: GitRepo, capsys: object) -> None:
    _validate(capsys, repo)
    partial = run_cli(capsys, "-C", str(repo.work), "validate", "-v", PRIORITY)
    assert REUSED not in partial.err
    assert _validate(capsys, repo)[2] is True
