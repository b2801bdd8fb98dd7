"""`ailoop init` and `ailoop new`: the scaffolds validate clean and never overwrite."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline.documents.dataset import read_dataset
from pipeline.documents.load import load_document
from pipeline.scaffold.create import project_name, rollout_stages
from tests.support import ailoop_subprocess, git, run_cli


def _init(tmp_path: Path, capsys: object) -> Path:
    root = tmp_path / "new-repo"
    result = run_cli(capsys, "init", str(root))
    assert result.code == 0, result.err
    return root


def _validate(root: Path, capsys: object) -> str:
    result = run_cli(capsys, "-C", str(root), "validate")
    assert result.code == 0, result.out + result.err
    return result.out


def _passes(root: Path, key: str) -> tuple[int, int]:
    """(passed, cases) of the priority's workflow on its dataset: output schema + fields."""
    rel = f"customers/{key}/priority.yaml"
    doc, findings = load_document(str(root), rel)
    assert doc is not None, findings
    spec = doc.model.spec
    folder = root / "customers" / key
    file, function = spec.workflow.entrypoint.split(":")
    module_spec = importlib.util.spec_from_file_location(f"scaffolded_{key.replace('/', '_')}",
                                                         folder / file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    cases = read_dataset(str(folder / spec.dry_run.dataset), spec.dry_run.dataset)
    passed = 0
    for case in cases:
        output: Any = getattr(module, function)(dict(case.input))
        jsonschema.validate(output, spec.expected_output.schema_)
        passed += all(output[k] == v for k, v in case.expected.items())
    return passed, len(cases)


def test_init_creates_a_repository_that_validates_clean(tmp_path: Path, capsys: object) -> None:
    root = tmp_path / "new-repo"
    result = run_cli(capsys, "init", str(root))
    assert result.code == 0, result.err
    assert result.out.startswith(f"Initialised an ailoop repository in {os.path.relpath(root)}\n")
    assert "  created customers/acme/email-triage/workflow.py\n" in result.out
    assert "  created schemas/ (11 JSON Schemas)\n" in result.out
    assert result.out.endswith("`ailoop dry-run acme/email-triage`\n")
    for rel in ("ailoop.yaml", "README.md", ".gitignore", "policies/README.md",
                "schemas/priority.schema.json", "customers/acme/customer.yaml",
                "customers/acme/email-triage/dataset.jsonl"):
        assert (root / rel).is_file(), rel
    assert _validate(root, capsys) == "All 3 files valid.\n"
    assert run_cli(capsys, "-C", str(root), "schemas", "--check").code == 0


def test_init_writes_yaml_with_the_schema_header(tmp_path: Path, capsys: object) -> None:
    root = _init(tmp_path, capsys)
    headers = {
        "ailoop.yaml": "schemas/project.schema.json",
        "customers/acme/customer.yaml": "../../schemas/customer.schema.json",
        "customers/acme/email-triage/priority.yaml": "../../../schemas/priority.schema.json",
    }
    for rel, schema in headers.items():
        first = (root / rel).read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema={schema}"
        assert (root / rel).parent.joinpath(schema).resolve().is_file()


def test_init_priority_passes_its_own_dataset(tmp_path: Path, capsys: object) -> None:
    root = _init(tmp_path, capsys)
    assert _passes(root, "acme/email-triage") == (10, 10)
    lines = (root / "customers/acme/email-triage/dataset.jsonl").read_text().splitlines()
    tags = {t for line in lines for t in json.loads(line)["tags"]}
    assert {"edge-case", "de", "personal-data"} <= tags


def test_init_priority_passes_the_real_dry_run(tmp_path: Path, capsys: object) -> None:
    root = _init(tmp_path, capsys)
    result = run_cli(capsys, "-C", str(root), "dry-run", "acme/email-triage")
    assert result.code == 0, result.out + result.err
    assert "dry run acme/email-triage: PASSED" in result.out + result.err
    assert list((root / "customers/acme/email-triage/evidence").glob("ev-*.json"))


def test_init_through_the_console_script(tmp_path: Path) -> None:
    result = ailoop_subprocess("init", "fresh", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("Initialised an ailoop repository in fresh\n")
    result = ailoop_subprocess("validate", cwd=tmp_path / "fresh")
    assert (result.code, result.out) == (0, "All 3 files valid.\n")


def test_init_into_the_current_folder_of_a_fresh_git_repo(tmp_path: Path, capsys: object,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "init", "--customer", "globex", "--priority", "intake")
    assert result.code == 0, result.err
    assert result.out.endswith("Next: run `ailoop validate`, then "
                               "`ailoop dry-run globex/intake`\n")
    assert "metadata:\n  name: " + project_name(str(tmp_path)) in (
        tmp_path / "ailoop.yaml").read_text()
    _validate(tmp_path, capsys)
    git(tmp_path, "add", "-A")
    assert "customers/globex/intake/priority.yaml" in git(tmp_path, "status", "--short")


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, capsys: object) -> None:
    root = tmp_path / "repo"
    (root / "customers/acme").mkdir(parents=True)
    (root / "README.md").write_text("mine\n")
    result = run_cli(capsys, "init", str(root))
    assert result.code == 2
    assert result.err == "error: refusing to overwrite existing files: README.md\n"
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "customers"]
    assert (root / "README.md").read_text() == "mine\n"


def test_init_refuses_when_run_twice(tmp_path: Path, capsys: object) -> None:
    root = _init(tmp_path, capsys)
    result = run_cli(capsys, "init", str(root))
    assert result.code == 2
    assert result.err == ("error: refusing to overwrite existing files: "
                          ".ailoop/bot_signing_key, .github/CODEOWNERS, "
                          ".github/workflows/pr.yml and 22 more\n")


def test_init_generates_the_bot_key_and_keeps_its_private_half_out_of_git(
        tmp_path: Path, capsys: object) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    result = run_cli(capsys, "init", str(tmp_path / "repo"))
    assert result.code == 0, result.err
    assert ("Store the private half as the CI secret AILOOP_BOT_SIGNING_KEY in a protected "
            "environment that only default-branch jobs can use") in result.out
    root = tmp_path / "repo"
    private = root / ".ailoop" / "bot_signing_key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert not (root / ".ailoop" / "bot_signing_key.pub").exists()
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True,
                            text=True, check=True).stdout.split()[:2]
    project = (root / "ailoop.yaml").read_text()
    assert f'    signingKey: "{public[0]} {public[1]} ailoop-bot"\n' in project
    assert git(root, "check-ignore", ".ailoop/bot_signing_key") == ".ailoop/bot_signing_key"
    git(root, "add", "-A")
    assert ".ailoop" not in git(root, "status", "--short")


def test_init_without_a_bot_key(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "init", "--no-bot-key", str(tmp_path / "repo"))
    assert result.code == 0, result.err
    assert "No bot key (--no-bot-key)" in result.out
    assert not (tmp_path / "repo" / ".ailoop").exists()
    assert "signingKey" not in (tmp_path / "repo" / "ailoop.yaml").read_text()
    _validate(tmp_path / "repo", capsys)


def test_init_rejects_an_invalid_customer_name(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "init", str(tmp_path / "r"), "--customer", "Acme Corp")
    assert result.code == 2
    assert result.err == ("error: invalid customer name 'Acme Corp': use lower-case letters, "
                          "digits and dashes, starting and ending with a letter or digit "
                          "(at most 63)\n")
    assert not (tmp_path / "r").exists()


def test_new_customer_and_priority_validate_clean(tmp_path: Path, capsys: object) -> None:
    root = _init(tmp_path, capsys)
    result = run_cli(capsys, "-C", str(root), "new", "customer", "globex",
                     "--display-name", 'Globex "Intl": Ltd')
    assert result.code == 0, result.err
    assert result.out == (
        "Added customer 'globex'\n"
        "  created customers/globex/customer.yaml\n"
        "Next: replace the placeholder people in customers/globex/customer.yaml, then run "
        "`ailoop new priority globex NAME`\n")
    text = (root / "customers/globex/customer.yaml").read_text()
    assert "displayName: \"Globex \\\"Intl\\\": Ltd\"\n" in text
    assert "email: owner@globex.example.com\n" in text
    result = run_cli(capsys, "-C", str(root), "new", "priority", "globex", "invoice-check",
                     "--risk", "high")
    assert result.code == 0, result.err
    assert result.out == (
        "Added priority 'globex/invoice-check' (risk high)\n"
        "  created customers/globex/invoice-check/dataset.jsonl\n"
        "  created customers/globex/invoice-check/priority.yaml\n"
        "  created customers/globex/invoice-check/workflow.py\n"
        "Next: describe the priority in customers/globex/invoice-check/priority.yaml, "
        "then run `ailoop dry-run globex/invoice-check`\n")
    assert _validate(root, capsys) == "All 5 files valid.\n"
    assert _passes(root, "globex/invoice-check") == (10, 10)


@pytest.mark.parametrize("risk", ["low", "medium", "high", "critical"])
def test_new_priority_for_each_risk_validates_against_the_example_customers(
        example: Path, capsys: object, risk: str) -> None:
    for customer in ("northwind-insurance", "helio-saas"):
        result = run_cli(capsys, "-C", str(example), "new", "priority", customer,
                         f"new-{risk}", "--risk", risk)
        assert result.code == 0, result.err
    _validate(example, capsys)
    doc, _ = load_document(str(example), f"customers/helio-saas/new-{risk}/priority.yaml")
    assert doc is not None
    assert doc.model.spec.owner == "grace"  # helio's customer-owner
    assert [s.percent for s in doc.model.spec.rollout.stages] == [0, 5, 25, 100]
    needs_risk_officer = risk in ("high", "critical")
    roles = {a.role for s in doc.model.spec.rollout.stages for a in s.approvals}
    assert ("risk-officer" in roles) is needs_risk_officer


def test_new_priority_with_an_explicit_owner(example: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(example), "new", "priority", "northwind-insurance",
                     "home-claims", "--owner", "mei")
    assert result.code == 0, result.err
    text = (example / "customers/northwind-insurance/home-claims/priority.yaml").read_text()
    assert "\n  owner: mei\n" in text


@pytest.mark.parametrize(("args", "message"), [
    (["new", "priority", "nobody", "triage"],
     "customer 'nobody' does not exist (no customers/nobody/customer.yaml); "
     "create it with `ailoop new customer nobody`"),
    (["new", "priority", "helio-saas", "Bad_Name"],
     "invalid priority name 'Bad_Name': use lower-case letters, digits and dashes, "
     "starting and ending with a letter or digit (at most 63)"),
    (["new", "priority", "helio-saas", "--", "-triage"],
     "invalid priority name '-triage': use lower-case letters, digits and dashes, "
     "starting and ending with a letter or digit (at most 63)"),
    (["new", "priority", "helio-saas", "ticket-triage"],
     "priority 'helio-saas/ticket-triage' already exists: customers/helio-saas/ticket-triage"),
    (["new", "priority", "helio-saas", "chat", "--owner", "zed"],
     "owner 'zed' is not a person of customer 'helio-saas' "
     "(people: grace, tomas, elin, farid, noor, ben)"),
    (["new", "customer", "helio-saas"],
     "customer 'helio-saas' already exists: customers/helio-saas/customer.yaml"),
    (["new", "customer", "x" * 64],
     f"invalid customer name '{'x' * 64}': use lower-case letters, digits and dashes, "
     "starting and ending with a letter or digit (at most 63)"),
])
def test_new_refuses_bad_input(example: Path, capsys: object, args: list[str],
                               message: str) -> None:
    before = sorted(str(p) for p in example.rglob("*"))
    result = run_cli(capsys, "-C", str(example), *args)
    assert (result.code, result.err) == (2, f"error: {message}\n")
    assert sorted(str(p) for p in example.rglob("*")) == before


def test_new_outside_a_repository(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(tmp_path), "new", "customer", "globex")
    assert result.code == 2
    assert result.err == (f"error: {tmp_path} is not an ailoop repository (no ailoop.yaml); "
                          "run `ailoop init` first or pass -C REPO\n")


def test_new_priority_for_a_broken_customer_file(example: Path, capsys: object) -> None:
    (example / "customers/helio-saas/customer.yaml").write_text("kind: [\n")
    result = run_cli(capsys, "-C", str(example), "new", "priority", "helio-saas", "chat")
    assert result.code == 2
    assert result.err.startswith("error: cannot read the customer's people: "
                                 "customers/helio-saas/customer.yaml:2:1: invalid YAML")
    assert not (example / "customers/helio-saas/chat").exists()


def test_unknown_risk_is_a_usage_error(example: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(example), "new", "priority", "helio-saas", "chat",
                     "--risk", "extreme")
    assert result.code == 2
    assert "Invalid value for '--risk': 'extreme' is not one of" in result.err


def test_project_name_and_stages() -> None:
    assert project_name("/tmp/My Repo_2") == "my-repo-2"
    assert project_name("/tmp/___") == "ailoop-repo"
    assert [s.bake for s in rollout_stages("critical")] == ["24h", "48h", "7d", "7d"]
    assert rollout_stages("low")[-1].roles == ("customer-owner",)


def test_init_writes_ci_pinned_to_a_commit_and_can_leave_it_out(
        tmp_path: Path, capsys: object) -> None:
    with_ci = run_cli(capsys, "init", str(tmp_path / "ci"), "--approvals", "github",
                      "--action", "acme/ailoop@" + "a" * 40)
    assert with_ci.code == 0, with_ci.err
    pr = (tmp_path / "ci/.github/workflows/pr.yml").read_text()
    assert "uses: acme/ailoop@" + "a" * 40 in pr
    assert "source: github" in (tmp_path / "ci/ailoop.yaml").read_text()
    assert "/policies/" in (tmp_path / "ci/.github/CODEOWNERS").read_text()
    without = run_cli(capsys, "init", str(tmp_path / "none"), "--ci", "none")
    assert without.code == 0, without.err
    assert not (tmp_path / "none/.github").exists()
    bad = run_cli(capsys, "init", str(tmp_path / "bad"), "--action", "ailoop")
    assert bad.code == 2 and "give the action as OWNER/REPO@REF" in bad.err
    assert not (tmp_path / "bad").exists()
