"""What a workflow reads beyond its own folder is declared (spec.workflow.inputs), exists
inside the repository and is part of the fingerprint; a dataset outside the priority folder
must be one of the declared inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_priority
from tests.acceptance.test_dry_run_cli import NOW, case, dry_run, write_priority
from tests.support import GitRepo, run_cli


def declare(root: Path, key: str, *lines: str) -> None:
    path = root / "customers" / key / "priority.yaml"
    text = path.read_text()
    path.write_text(text.replace("    timeoutSeconds: 1\n",
                                 "    timeoutSeconds: 1\n" + "".join(f"{x}\n" for x in lines)))


def test_a_changed_file_in_a_declared_input_changes_the_evidence_id(
        repo: GitRepo) -> None:
    root = repo.work
    (root / "lib" / "routing").mkdir(parents=True)
    (root / "lib" / "routing" / "rules.txt").write_text("billing\n")
    key = write_priority(root, "fp", [case("c1")])
    before = fingerprint(str(root), key, load_priority(str(root), key))
    declare(root, key, "    inputs: [lib/routing/]")
    declared = fingerprint(str(root), key, load_priority(str(root), key))
    assert declared.evidence_id != before.evidence_id
    (root / "lib" / "routing" / "rules.txt").write_text("refunds\n")
    changed = fingerprint(str(root), key, load_priority(str(root), key))
    assert changed.evidence_id != declared.evidence_id
    assert (changed.spec, changed.dataset) == (declared.spec, declared.dataset)
    (root / "lib" / "routing" / "rules.txt").write_text("billing\n")
    assert fingerprint(str(root), key, load_priority(str(root), key)) == declared


def test_a_dataset_outside_the_folder_must_be_declared(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "shared-data", [case("c1")])
    shared = root / "customers" / "test-co" / "shared"
    shared.mkdir()
    (shared / "x.jsonl").write_text(json.dumps(case("c1")) + "\n")
    path = root / "customers" / key / "priority.yaml"
    path.write_text(path.read_text().replace("dataset: dataset.jsonl",
                                             "dataset: ../shared/x.jsonl"))
    repo.commit_all("A dataset outside the priority folder")
    message = ("spec.dryRun.dataset: 'customers/test-co/shared/x.jsonl' is outside the "
               "priority folder: declare it (or its folder) in spec.workflow.inputs")
    validated = run_cli(capsys, "-C", str(root), "validate")
    assert validated.code == 1
    assert f"customers/{key}/priority.yaml:" in validated.out and message in validated.out
    refused = dry_run(capsys, root, key, "--now", NOW)
    assert refused.code == 2
    assert f"customers/{key}/priority.yaml: {message}" in refused.err
    declare(root, key, "    inputs: [customers/test-co/shared/]")
    assert message not in run_cli(capsys, "-C", str(root), "validate").out
    assert dry_run(capsys, root, key, "--now", NOW).code == 0


def test_declared_inputs_must_exist_inside_the_repository(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "bad-inputs", [case("c1")])
    declare(root, key, "    inputs: [lib/missing/, ../outside]")
    validated = run_cli(capsys, "-C", str(root), "validate")
    assert validated.code == 1
    assert (f"customers/{key}/priority.yaml:22:28: spec.workflow.inputs[1]: '../outside' "
            "must not contain '..'") in validated.out
    declare_only = root / "customers" / key / "priority.yaml"
    declare_only.write_text(declare_only.read_text().replace(", ../outside", ""))
    validated = run_cli(capsys, "-C", str(root), "validate")
    assert "spec.workflow.inputs[0]: 'lib/missing' does not exist" in validated.out
    refused = dry_run(capsys, root, key, "--now", NOW)
    assert refused.code == 2
    assert (f"customers/{key}/priority.yaml: spec.workflow.inputs[0]: 'lib/missing' does "
            "not exist") in refused.err




def test_an_input_may_not_hold_what_changes_with_every_run(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "overlap", [case("c1")])
    (root / "customers" / key / "evidence").mkdir()
    declare(root, key, "    inputs: [customers/test-co/, customers/test-co/overlap/evidence]")
    out = run_cli(capsys, "-C", str(root), "validate").out
    where = f"customers/{key}/priority.yaml"
    assert (f"{where}:22:14: spec.workflow.inputs[0]: 'customers/test-co' holds the priority "
            "folder itself, whose evidence changes with every run: name the files or folders "
            "the workflow reads") in out
    assert (f"{where}:22:34: spec.workflow.inputs[1]: 'customers/test-co/overlap/evidence' "
            "changes with every run; a workflow does not read it") in out
    refused = dry_run(capsys, root, key, "--now", NOW)
    assert refused.code == 2 and f"{where}: spec.workflow.inputs[0]: " in refused.err
