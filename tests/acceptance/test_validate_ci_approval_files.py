"""In CI, `validate` warns that approval files prove nothing (any pull request author can
commit one); on a laptop, where they are for trying ailoop, it says nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.approvals_support import use_approvals_source
from tests.support import minimal_repo, run_cli

WARNING = ("ailoop.yaml:{line}:13: ci/approval-files: spec.approvals.source: approvals come "
           "from files any pull request author can commit, so in CI they prove no approval; "
           "use git-signed or github (README: 'Approval gates') (warning)\n")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    made = minimal_repo(tmp_path / "repo")
    use_approvals_source(made, "file")
    return made


def _source_line(root: Path) -> int:
    lines = (root / "ailoop.yaml").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.strip() == "source: file")


@pytest.mark.parametrize("env", ["CI", "GITHUB_ACTIONS"])
def test_approval_files_are_a_warning_in_ci_only(root: Path, env: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert quiet.code == 0 and "ci/approval-files" not in quiet.out, quiet.out
    monkeypatch.setenv(env, "true")
    warned = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert warned.code == 0, warned.out  # a warning, not an error
    assert WARNING.format(line=_source_line(root)) in warned.out, warned.out


def test_no_warning_for_signed_approvals_in_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    made = minimal_repo(tmp_path / "repo")
    use_approvals_source(made, "git-signed")
    monkeypatch.setenv("CI", "true")
    result = run_cli(capsys, "-C", str(made), "validate", "--no-cache")
    assert result.code == 0 and "ci/approval-files" not in result.out, result.out


def test_the_gate_has_no_pre_merge_check_for_approval_files(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "-C", str(root), "gate")
    assert (result.code, result.err) == (
        2, "error: ailoop.yaml: spec.approvals.source is file: approval files are only for "
           "trying ailoop locally (any pull request author can commit one), so no pre-merge "
           "check trusts them; `ailoop plan` shows what they approve. Use git-signed or "
           "github\n")
