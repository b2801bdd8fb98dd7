from __future__ import annotations

from pathlib import Path

from pipeline.documents.load import load_document
from pipeline.policy.data import plain, plain_values
from pipeline.policy.governance import is_governance_file
from pipeline.policy.paths import parse_field_path

ROOT = Path(__file__).resolve().parents[3]


def test_governance_files_are_the_rules_the_roles_and_the_tool_itself() -> None:
    governance = ["ailoop.yaml", "policies/house-rules.yaml", "policies/waivers/w.yaml",
                  "policies/tests/house-rules.yaml", "customers/acme/customer.yaml",
                  "pipeline/policy/guardrails.py", "runtime/ailoop_runtime/guard.py",
                  ".github/workflows/ailoop-pr.yml", ".github/CODEOWNERS", "CODEOWNERS",
                  "docs/CODEOWNERS", "action.yml", "pyproject.toml", "Makefile", ".ci/run",
                  "requirements-dev.txt", ".ailoop/allowed_signers"]
    other = ["customers/acme/triage/priority.yaml", "customers/acme/lessons.yaml",
             "customers/acme/triage/workflow.py", "README.md", "docs/security.md",
             "tests/test_x.py", "customers/acme/pipeline/priority.yaml"]
    assert [p for p in governance + other if is_governance_file(p)] == governance


def test_the_pathspecs_find_what_is_governance_file_says(tmp_path: Path) -> None:
    import subprocess

    from pipeline.policy.governance import governance_pathspecs

    paths = ["ailoop.yaml", "policies/a.yaml", "customers/acme/customer.yaml",
             "customers/acme/triage/priority.yaml", "pipeline/x.py", ".github/workflows/a.yml",
             "action.yml", "requirements-dev.txt", "docs/CODEOWNERS", "docs/security.md",
             "README.md", "runtime/r.py", "Makefile"]
    for rel in paths:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run(["git", "ls-files", "--others", "--", *governance_pathspecs()],
                            cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert sorted(listed.split()) == sorted(p for p in paths if is_governance_file(p))


def test_the_fast_dump_keeps_durations_and_equals_the_general_walk() -> None:
    doc, _ = load_document(str(ROOT), "customers/northwind-insurance/claims-intake/priority.yaml")
    assert doc is not None
    data = plain(doc.model)
    assert data == plain_values(doc.model)
    assert data["spec"]["rollout"]["stages"][0]["bakeTime"].total_seconds() > 0


def test_field_paths() -> None:
    assert parse_field_path("spec.rollout.stages[1].approvals") == (
        "spec", "rollout", "stages", 1, "approvals")
