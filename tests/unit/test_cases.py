"""Per-kind valid and invalid documents, as folders, picked up automatically.

Layout: tests/cases/{valid,invalid}/<Kind>/<name>/. Each case is laid over a copy of
tests/cases/base/ (a tiny valid repo: ailoop.yaml, customer `acme`, priority `acme/triage`):
  * `document.yaml` is placed where its kind lives by default (PLACES below);
  * every other file is copied at its repo-relative path (it may replace a base file);
  * invalid cases have `expected.txt`: the exact finding lines `ailoop validate` prints
    (without the summary line). Valid cases must validate clean.
  * a case with a status.yaml is committed by the bot (a signed commit), as the reconciler
    would leave it: its content is what the case is about, not its trust.
To add a case, create a folder; no code change is needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.model import KINDS
from tests.support import CASES, committed_by_bot, minimal_repo, run_cli

PLACES = {
    "Project": "ailoop.yaml",
    "Customer": "customers/acme/customer.yaml",
    "Priority": "customers/acme/triage/priority.yaml",
    "Feedback": "customers/acme/triage/events/feedback.yaml",
    "Incident": "customers/acme/triage/events/incident.yaml",
    "ReviewRequest": "customers/acme/triage/events/review.yaml",
    "Status": "customers/acme/triage/status.yaml",
    "Policy": "policies/policy.yaml",
    "Waiver": "policies/waivers/waiver.yaml",
    "Lessons": "customers/acme/lessons.yaml",
    "HumanReview": "customers/acme/triage/reviews/canary-ev-0123456789abcdef.yaml",
}
_META = {"expected.txt", "README.md"}


def _cases(group: str) -> list[Path]:
    return sorted(p for p in (CASES / group).glob("*/*") if p.is_dir())


def build_case(case: Path, dest: Path) -> Path:
    """The base repo with the case's files laid over it."""
    minimal_repo(dest)
    kind = case.parent.name
    for src in sorted(case.rglob("*")):
        rel = src.relative_to(case).as_posix()
        if src.is_dir() or rel in _META:
            continue
        target = dest / (PLACES[kind] if rel == "document.yaml" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    if (dest / PLACES["Status"]).exists():  # as the reconciler left it: a signed bot commit
        committed_by_bot(dest)
    return dest


def _needs_tools(case: Path) -> None:
    """A case with a segment (`targeting:`) is checked by flagd's validator (Node.js and
    the npm package `make` installs): without them it skips, as the other flagd tests do."""
    if any("targeting:" in p.read_text(encoding="utf-8", errors="replace")
           for p in case.rglob("*.yaml")):
        from tests.flagd import need_npm_flagd_core

        need_npm_flagd_core()


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases are about documents, not about where validate runs: under CI it also
    warns about approval files (tests/acceptance/test_validate_ci_approval_files.py)."""
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


VALID = _cases("valid")
INVALID = _cases("invalid")


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_case_has_no_findings(case: Path, tmp_path: Path, capsys: object) -> None:
    _needs_tools(case)
    repo = build_case(case, tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("All ") and result.out.endswith(" files valid.\n")


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid_case_reports_exact_findings(case: Path, tmp_path: Path,
                                             capsys: object) -> None:
    _needs_tools(case)
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    repo = build_case(case, tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    assert result.code == 1, result.out + result.err
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[:-1] == expected
    assert " error" in lines[-1]


def test_every_kind_has_valid_and_invalid_cases() -> None:
    for group in (VALID, INVALID):
        kinds = {case.parent.name for case in group}
        assert kinds == set(KINDS), sorted(set(KINDS) - kinds)


def test_every_invalid_case_pins_its_findings() -> None:
    for case in INVALID:
        text = (case / "expected.txt").read_text(encoding="utf-8")
        assert text.strip(), f"{case} has an empty expected.txt"
    for case in VALID:
        assert not (case / "expected.txt").exists(), f"{case} is valid but has expected.txt"


def test_base_repository_is_valid(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(minimal_repo(tmp_path / "base")), "validate",
                     "--no-cache")
    assert (result.code, result.out) == (0, "All 3 files valid.\n")
