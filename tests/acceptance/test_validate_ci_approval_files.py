"""In GitHub Actions, `validate` warns that approval files prove nothing (any pull request
author can commit one); on a laptop, where they are for trying ailoop, it says nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import minimal_repo, run_cli


def test_approval_files_are_a_warning_in_ci_only(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = minimal_repo(tmp_path / "repo")
    project = root / "ailoop.yaml"
    text = project.read_text()
    text = text.replace("spec:\n", "spec:\n  approvals:\n    source: file\n", 1) \
        if "approvals:" not in text else text.replace("source: git-signed", "source: file")
    project.write_text(text)
    quiet = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert quiet.code == 0 and "ci/approval-files" not in quiet.out, quiet.out
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    warned = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert warned.code == 0, warned.out  # a warning, not an error
    assert "ailoop.yaml:" in warned.out and "ci/approval-files: spec.approvals.source: " \
        "approvals come from files any pull request author can commit" in warned.out
    assert "(warning)" in warned.out
