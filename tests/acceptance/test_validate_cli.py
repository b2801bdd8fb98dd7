"""`ailoop validate` end to end, with golden outputs for every format.

The golden files tests/golden/validate.{txt,json,github.txt} hold the exact output for one
deliberately broken repository (tests/cases/base/ with tests/golden/broken/ laid over it).
After an intended change of messages, regenerate them and review the diff:

    AILOOP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/acceptance/test_validate_cli.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support import ROOT, ailoop_subprocess, minimal_repo, run_cli

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("AILOOP_UPDATE_GOLDEN") == "1"
FORMATS = {"text": "validate.txt", "json": "validate.json", "github": "validate.github.txt"}


def broken_repo(dest: Path) -> Path:
    minimal_repo(dest)
    shutil.copytree(GOLDEN / "broken", dest, dirs_exist_ok=True)
    return dest


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden_output(fmt: str, tmp_path: Path, capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache", "--format", fmt)
    assert result.code == 1
    assert result.err == ""
    assert str(tmp_path) not in result.out  # paths are relative to the repository
    golden = GOLDEN / FORMATS[fmt]
    if UPDATE:
        golden.write_text(result.out, encoding="utf-8")
    assert result.out == golden.read_text(encoding="utf-8")


def test_golden_formats_agree(tmp_path: Path, capsys: object) -> None:
    text = (GOLDEN / "validate.txt").read_text(encoding="utf-8").splitlines()
    payload = json.loads((GOLDEN / "validate.json").read_text(encoding="utf-8"))
    github = (GOLDEN / "validate.github.txt").read_text(encoding="utf-8").splitlines()
    assert len(payload["findings"]) == len(text) - 1 == len(github) - 1
    assert text[-1] == github[-1] == "8 errors, 0 warnings in 6 files checked."
    assert payload["summary"] == {"files": 6, "errors": 8, "warnings": 0}


def test_example_repository_is_clean(example: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(example), "validate", "--no-cache")
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("All ") and result.out.endswith(" files valid.\n")


def test_paths_limit_what_is_reported(tmp_path: Path, capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    billing = repo / "customers" / "acme" / "billing"
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache", str(billing))
    assert result.code == 1
    assert result.out == (
        "customers/acme/billing/dataset.jsonl:2:1: unknown case field 'note'; a case has id, "
        "input, expected, tags, critical, regression, repeat\n"
        "1 error, 0 warnings in 1 file checked.\n")
    clean = run_cli(capsys, "-C", str(repo), "validate", "--no-cache", str(repo / "ailoop.yaml"))
    assert (clean.code, clean.out) == (0, "All 1 files valid.\n")


def test_missing_path_is_an_input_error(tmp_path: Path, capsys: object) -> None:
    repo = minimal_repo(tmp_path / "repo")
    missing = str(repo / "customers" / "nobody")
    result = run_cli(capsys, "-C", str(repo), "validate", missing)
    assert result.code == 2
    assert result.err == f"error: path does not exist: {missing}\n"


def test_path_outside_the_repository_is_an_input_error(tmp_path: Path, capsys: object) -> None:
    repo = minimal_repo(tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", str(tmp_path))
    assert result.code == 2
    assert result.err == f"error: path is outside the repository: {tmp_path}\n"


def test_repository_without_project_file(tmp_path: Path, capsys: object) -> None:
    repo = minimal_repo(tmp_path / "repo")
    (repo / "ailoop.yaml").unlink()
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "ailoop.yaml:1:1: repository has no ailoop.yaml (run `ailoop init` to create one)")


def test_cache_gives_the_same_answer_and_sees_edits(tmp_path: Path, capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    cold = run_cli(capsys, "-C", str(repo), "validate")
    warm = run_cli(capsys, "-C", str(repo), "validate")
    assert (cold.code, cold.out) == (warm.code, warm.out)
    assert warm.out == (GOLDEN / "validate.txt").read_text(encoding="utf-8")
    priority = repo / "customers" / "acme" / "triage" / "priority.yaml"
    priority.write_text(priority.read_text().replace("target: 50%", "target: canary"))
    edited = run_cli(capsys, "-C", str(repo), "validate")
    assert "is not a stage" not in edited.out
    assert len(edited.out.splitlines()) == len(warm.out.splitlines()) - 1


def test_console_script_runs_from_a_subfolder(tmp_path: Path) -> None:
    repo = broken_repo(tmp_path / "repo")
    result = ailoop_subprocess("validate", "--no-cache", "--format", "json",
                               cwd=repo / "customers" / "acme")
    assert result.code == 1, result.err
    payload = json.loads(result.out)
    assert payload["summary"]["errors"] == 8
    assert result.err == ""


def test_json_findings_have_a_stable_shape(tmp_path: Path, capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache", "--format", "json")
    payload = json.loads(result.out)
    assert list(payload) == ["version", "findings", "summary"]
    assert payload["version"] == 1
    for finding in payload["findings"]:
        assert list(finding) == ["path", "line", "column", "field", "rule", "severity",
                                 "message"]
        assert not os.path.isabs(finding["path"])
