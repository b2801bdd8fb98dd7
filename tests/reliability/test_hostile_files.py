"""Hostile files beyond tests/acceptance/test_hostile_input.py (which covers the priority
YAML): unsafe tags in every kind of document, YAML 1.1 coercions, hostile datasets (deep
nesting, NUL bytes, bad encodings, FIFOs), hostile workflow output, symlinks that would make
the reconciler write outside the repository, and submodules. Each is a finding or a clean
refusal: never a traceback, never code run, never a write outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline.documents.load import load_document
from tests.acceptance.test_dry_run_cli import write_priority
from tests.reliability.support import at, ready_repo, run_forked
from tests.support import git, make_repo, minimal_repo, run_cli

PRIORITY = "customers/acme/triage/priority.yaml"
DATASET = "customers/acme/triage/dataset.jsonl"
MARKER = "pwned.txt"


def _validate(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert "Traceback" not in result.out + result.err
    assert "internal error" not in result.err
    return result.code, result.out + result.err


# --- unsafe tags in every kind of document ----------------------------------------------------

DOCUMENTS = {
    "project": ("ailoop.yaml", "apiVersion: ailoop.dev/v1\nkind: Project\nmetadata:\n"
                               "  name: x\nspec: {tag}\n"),
    "customer": ("customers/acme/customer.yaml", "apiVersion: ailoop.dev/v1\nkind: Customer\n"
                                                 "metadata:\n  name: acme\nspec: {tag}\n"),
    "policy": ("policies/p.yaml", "apiVersion: ailoop.dev/v1\nkind: Policy\nmetadata:\n"
                                  "  name: p\nspec: {tag}\n"),
    "event": ("customers/acme/triage/events/e.yaml", "apiVersion: ailoop.dev/v1\n"
              "kind: Incident\nmetadata:\n  name: e\nspec: {tag}\n"),
    "status": ("customers/acme/triage/status.yaml", "apiVersion: ailoop.dev/v1\n"
               "kind: Status\nmetadata:\n  name: triage\nstatus: {tag}\n"),
}
TAG = "!!python/object/apply:os.system ['touch {marker}']"


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_unsafe_tags_are_refused_in_every_document(kind: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    rel, template = DOCUMENTS[kind]
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / MARKER
    (root / rel).write_text(template.format(tag=TAG.format(marker=marker)))
    code, out = _validate(capsys, root)
    assert code == 1, out
    assert f"{rel}:" in out
    assert "unsupported YAML tag '!!python/object/apply:os.system'" in out
    plan = run_cli(capsys, "-C", str(root), "plan", "--now", "2026-11-20T10:00:00Z")
    assert "Traceback" not in plan.out + plan.err
    assert not marker.exists()


def test_alias_bomb_in_the_project_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    bomb = "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n"
                   for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    (root / "ailoop.yaml").write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\n' + bomb)
    code, out = _validate(capsys, root)
    assert code in (1, 2)
    assert "ailoop.yaml:" in out and "refusing to load it" in out


# --- YAML 1.1 coercions ------------------------------------------------------------------------

def test_yaml_11_words_stay_strings_where_the_schema_says_string(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    path = root / PRIORITY
    text = path.read_text().replace('version: "1.0"', "version: 1.10") \
        .replace("owner: ann", "owner: no").replace("name: shadow", "name: on") \
        .replace("percent: 25", "percent: 025")
    path.write_text(text.replace("target: canary", "target: on"))
    doc, findings = load_document(str(root), PRIORITY)
    assert doc is not None, findings
    spec = doc.model.spec
    assert spec.workflow.version == "1.10"  # not the float 1.1
    assert spec.owner == "no"  # not False
    assert spec.rollout.stages[0].name == "on" and spec.rollout.target == "on"  # not True
    assert spec.rollout.stages[1].percent == 25  # YAML 1.2: not octal 21


@pytest.mark.parametrize(("field", "value"), [
    ("risk: low", "risk: yes"), ("percent: 0", "percent: .nan"), ("percent: 0", "percent: .inf"),
    ("bakeTime: 1h", "bakeTime: 0x10"), ("threshold: 0.05", "threshold: .NaN"),
])
def test_yaml_11_values_where_the_schema_wants_something_else_are_findings(
        field: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    path = root / PRIORITY
    path.write_text(path.read_text().replace(field, value, 1))
    code, out = _validate(capsys, root)
    assert code == 1, out
    assert out.startswith(f"{PRIORITY}:")


# --- hostile datasets ---------------------------------------------------------------------------

DATASETS = {
    "deep-nesting": (b'{"id": "a", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
                     "1:1: line nests too deeply to be a dataset case"),
    "nul-bytes": (b'{"id": "a", "input": {}}\n\0\0\n', "2:1: line is not valid JSON"),
    "invalid-utf8": (b'{"id": "a", "input": {"x": "\xff"}}\n', "1:1: dataset is not valid UTF-8"),
    "not-an-object": (b"[1, 2, 3]\n", "1:1:"),
    "empty": (b"", ""),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_hostile_datasets_are_findings(name: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    content, finding = DATASETS[name]
    root = minimal_repo(tmp_path / "repo")
    (root / DATASET).write_bytes(content)
    code, out = _validate(capsys, root)
    assert code == 1, out
    assert f"{DATASET}:{finding}" in out or (not finding and "dataset" in out)
    dry = run_cli(capsys, "-C", str(root), "dry-run", "acme/triage", "--no-cache")
    assert dry.code == 2 and "Traceback" not in dry.out + dry.err
    assert not (root / "customers/acme/triage/evidence").exists()


def test_a_fifo_dataset_does_not_hang(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    (root / DATASET).unlink()
    os.mkfifo(root / DATASET)
    exe = Path(os.sys.executable).parent / "ailoop"
    proc = subprocess.run([str(exe), "-C", str(root), "validate", "--no-cache"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "spec.dryRun.dataset" in proc.stdout


HOSTILE_OUTPUT = '''
def run(inp):
    mode = inp["mode"]
    if mode == "deep-text":
        return "[" * 100000 + "]" * 100000
    if mode == "deep-object":
        x = []
        for _ in range(5000):
            x = [x]
        return x
    if mode == "nan":
        return {"label": float("nan")}
    if mode == "bytes":
        return "\\udcff\\x00"
    return {"label": "a"}
'''


def test_hostile_workflow_output_fails_the_case_not_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    modes = ("deep-text", "deep-object", "nan", "bytes", "ok")
    key = write_priority(root, "hostile", [{"id": m, "input": {"mode": m},
                                            "expected": {"label": "a"}} for m in modes],
                         wf=HOSTILE_OUTPUT)
    result = run_cli(capsys, "-C", str(root), "dry-run", key, "--no-cache",
                     "--now", "2026-11-20T10:00:00Z")
    assert result.code == 1, result.err
    assert "Traceback" not in result.out + result.err
    [path] = (root / "customers" / key / "evidence").glob("ev-*[0-9a-f].json")
    cases = {c["id"]: c for c in json.loads(path.read_text())["cases"]}
    assert cases["ok"]["passed"]
    assert cases["deep-text"]["fault"] == {"category": "malformed JSON",
                                           "reason": "output nests too deeply"}
    assert all(not cases[m]["passed"] for m in modes[:-1])


# --- symlinks and paths leaving the repository ------------------------------------------------

def test_a_status_symlink_out_of_the_repo_is_never_written_through(tmp_path: Path) -> None:
    repo = ready_repo(tmp_path / "t", ("triage",))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    status = repo.work / "customers/acme/triage/status.yaml"
    status.symlink_to(victim)
    flags = repo.work / "customers/acme/flags.flagd.json"
    flags.symlink_to(tmp_path / "victim-flags.json")
    repo.commit_all("Hostile symlinks")
    from pipeline.cli.main import main

    run_forked(lambda: main(["-C", str(repo.work), "reconcile", "--now", at(1)]))
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "victim-flags.json").exists()


@pytest.mark.parametrize("entrypoint", ["../../../outside.py:run", "/tmp/outside.py:run",
                                        "link.py:run"])
def test_a_workflow_entrypoint_outside_the_priority_folder_is_refused(
        entrypoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    marker = tmp_path / MARKER
    outside = tmp_path / "outside.py"
    outside.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef run(i):\n    return 1\n")
    (root / "customers/acme/triage/link.py").symlink_to(outside)
    path = root / PRIORITY
    path.write_text(path.read_text().replace("entrypoint: workflow.py:run",
                                             f"entrypoint: {entrypoint}"))
    code, out = _validate(capsys, root)
    assert code == 1, out
    dry = run_cli(capsys, "-C", str(root), "dry-run", "acme/triage", "--no-cache")
    assert dry.code == 2, dry.out + dry.err
    assert not marker.exists()


def test_an_events_folder_symlinked_out_of_the_repo_is_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    outside = tmp_path / "outside-events"
    outside.mkdir()
    (outside / "x.yaml").write_text("apiVersion: ailoop.dev/v1\nkind: Incident\nmetadata:\n"
                                    "  name: x\nspec:\n  severity: critical\n  reportedBy: ann\n"
                                    "  time: 2026-11-20T08:00:00Z\n  summary: SECRET-OUTSIDE\n")
    (root / "customers/acme/triage/events").symlink_to(outside)
    code, out = _validate(capsys, root)
    assert code in (0, 1)
    assert "SECRET-OUTSIDE" not in out
    status = run_cli(capsys, "-C", str(root), "status", "--now", "2026-11-20T10:00:00Z")
    assert "SECRET-OUTSIDE" not in status.out + status.err
    assert "Traceback" not in status.out + status.err
    plan = run_cli(capsys, "-C", str(root), "plan", "--format", "json",
                   "--now", "2026-11-20T10:00:00Z")
    # The critical incident outside was never read; the unreadable folder holds instead.
    assert "severity critical" not in plan.out and "SECRET-OUTSIDE" not in plan.out


# --- submodules --------------------------------------------------------------------------------

def test_a_submodule_is_neither_fetched_nor_trusted(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A PR that adds a submodule under customers/: ailoop never fetches it, and an
    uninitialised one (what CI checks out) is an empty folder with no priority in it."""
    (tmp_path / "vendor").mkdir()
    (tmp_path / "main").mkdir()
    vendor = make_repo(tmp_path / "vendor", fill=lambda w: minimal_repo(w))
    repo = make_repo(tmp_path / "main", fill=lambda w: minimal_repo(w))
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q",
             str(vendor.remote), "customers/acme/vendored")
    repo.commit_all("Vendor someone else's priorities")
    repo.git("push", "-q", "origin", "main")
    clone = tmp_path / "ci-checkout"
    git(tmp_path, "clone", "-q", str(repo.remote), str(clone))
    assert list((clone / "customers/acme/vendored").iterdir()) == []
    for args in (("validate", "--no-cache"), ("plan", "--now", "2026-11-20T10:00:00Z"),
                 ("reconcile", "--now", "2026-11-20T10:00:00Z")):
        result = run_cli(capsys, "-C", str(clone), *args)
        assert result.code in (0, 1), result.out + result.err
        assert "Traceback" not in result.out + result.err
        assert "vendored" not in result.out
    assert list((clone / "customers/acme/vendored").iterdir()) == []
    assert git(clone, "submodule", "status").startswith("-")  # still not initialised
