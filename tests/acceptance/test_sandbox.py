"""Workflow code is untrusted: attacks from inside a workflow under test, against real git
repositories and the real bubblewrap sandbox. The workflow tries to plant results in the
dry-run cache and the evidence folder, to import and read what it did not declare, and to
read the CI's credentials; a declared input is fingerprinted; a trusted run refuses to run
without the sandbox and never takes a cached result."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import pytest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_priority
from tests.acceptance.test_dry_run_cli import NOW, case, dry_run, write_priority
from tests.acceptance.test_workflow_inputs import declare
from tests.sandbox_support import real_sandbox
from tests.support import GitRepo, run_cli

LATER = "2026-11-20T11:00:00Z"


@pytest.fixture(autouse=True)
def sandbox() -> None:
    real_sandbox()


def evidence_of(root: Path, key: str) -> dict[str, object]:
    folder = root / "customers" / key / "evidence"
    names = [n for n in os.listdir(folder) if not n.endswith(".intoto.json")]
    assert len(names) == 1, names
    return json.loads((folder / names[0]).read_text())  # type: ignore[no-any-return]


def faults(evidence: dict[str, object]) -> dict[str, str]:
    return {c["id"]: c["fault"]["reason"] for c in evidence["cases"]  # type: ignore[attr-defined]
            if c.get("fault")}


def cache_file(root: Path, key: str) -> Path:
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    return root / ".git" / "ailoop-cache" / "dryrun" / f"{name}.json"


PLANTER = '''
import json, os, pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent
FORGED = {"passed": True, "id": "x", "checks": []}

def run(inp):
    target = {"cache": ROOT / inp.get("cache", "-"), "status": HERE / "status.yaml",
              "evidence": HERE / "evidence" / "ev-forged.json", "notes": HERE / "notes.txt",
              "tmp": pathlib.Path("/tmp/scratch.txt")}[inp["mode"]]
    target.write_text(json.dumps(FORGED))
    return {"label": "wrote " + inp["mode"]}
'''


def test_workflow_code_cannot_plant_results_in_the_cache_or_the_evidence(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "planter", [
        case("cache", "cache", cache=str(cache_file(root, "test-co/planter").relative_to(root))),
        case("evidence", "evidence"), case("status", "status"), case("notes", "notes"),
        case("tmp", "tmp")],
        wf=PLANTER, pass_rate=0.0)
    (root / "customers" / key / "evidence").mkdir()
    repo.commit_all("A workflow that forges its own results")
    first = dry_run(capsys, root, key, "--now", NOW)
    assert first.code == 0, first.err
    found = faults(evidence_of(root, key))
    assert found["cache"].startswith("FileNotFoundError: ")
    never = ("is not in the sandbox: workflow code never reaches .git (where the cache is), "
             "evidence, events or status)")
    assert found["cache"].endswith(f"('{cache_file(root, key).relative_to(root)}' {never}")
    assert found["evidence"].endswith(f"('customers/{key}/evidence/ev-forged.json' {never}")
    assert found["status"].endswith(f"('customers/{key}/status.yaml' {never}")
    assert found["notes"].startswith("OSError: [Errno 30] Read-only file system")
    assert found["notes"].endswith(f"('customers/{key}/notes.txt' is read-only in the "
                                   "sandbox: workflow code cannot write the repository; "
                                   "write to /tmp)")
    assert "tmp" not in found  # the private /tmp is writable, and gone afterwards
    assert not (root / "customers" / key / "evidence" / "ev-forged.json").exists()
    assert not (root / "customers" / key / "status.yaml").exists()
    # Only ailoop wrote the cache, and every entry says what it was computed from.
    cached = json.loads(cache_file(root, key).read_text())["entries"].values()
    assert len(cached) == 5
    for entry in cached:
        assert set(entry) == {"fingerprint", "run", "case", "result"}
        assert entry["result"]["passed"] is False
    second = dry_run(capsys, root, key, "--now", LATER)
    assert "reused from cache 5" in second.out  # its own failures; never a forged pass
    assert faults(evidence_of(root, key)) == found


ROUTER = '''
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../lib"))
import routing

def run(inp):
    return {"label": routing.LABEL}
'''


def test_an_undeclared_module_is_refused_and_a_declared_one_is_fingerprinted(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    (root / "lib").mkdir()
    (root / "lib" / "routing.py").write_text('LABEL = "a"\n')
    key = write_priority(root, "router", [case("c1")], wf=ROUTER)
    repo.commit_all("A workflow importing a module from outside its folder")
    refused = dry_run(capsys, root, key, "--now", NOW)
    assert refused.code == 2
    assert refused.err.strip().startswith(f"error: customers/{key}/wf.py: cannot load the "
                                          "workflow: ModuleNotFoundError: No module named "
                                          "'routing' (the sandbox holds only ")
    assert "if module 'routing' is in the repository, declare it in spec.workflow.inputs" \
        in refused.err
    declare(root, key, "    inputs: [lib/]")
    ran = dry_run(capsys, root, key, "--now", NOW)
    assert ran.code == 0, ran.err
    before = evidence_of(root, key)
    assert "lib/routing.py" in {s["name"] for s in json.loads(
        (root / f"customers/{key}/evidence/{before['id']}.intoto.json").read_text())["subject"]}
    (root / "lib" / "routing.py").write_text('LABEL = "b"\n')  # outside the priority folder
    after = fingerprint(str(root), key, load_priority(str(root), key))
    assert after.evidence_id != before["id"]


READER = '''
import os

def run(inp):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), inp["path"])
    with open(path) as fh:
        return {"label": fh.read().strip()}
'''


def test_opening_an_undeclared_file_names_it_and_the_field(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """Outside the folder or next to the code: what the fingerprint does not cover, the
    workflow cannot read."""
    root = repo.work
    (root / "prompts").mkdir()
    (root / "prompts" / "label.txt").write_text("a\n")
    key = write_priority(root, "reader", [case("c1", path="../../../prompts/label.txt"),
                                          case("c2", path="label.txt")],
                         wf=READER, pass_rate=0.0)
    (root / "customers" / key / "label.txt").write_text("a\n")
    result = dry_run(capsys, root, key, "--now", NOW)
    assert result.code == 0, result.err
    found = faults(evidence_of(root, key))
    assert found["c1"].endswith(
        "('prompts/label.txt' is outside the sandbox: declare it in spec.workflow.inputs)")
    assert found["c2"].endswith(f"('customers/{key}/label.txt' is outside the sandbox: "
                                "declare it in spec.workflow.inputs)")
    declare(root, key, f"    inputs: [prompts/label.txt, customers/{key}/label.txt]")
    assert dry_run(capsys, root, key, "--now", LATER).code == 0
    assert faults(evidence_of_newest(root, key)) == {}
    before = evidence_of_newest(root, key)["id"]
    (root / "customers" / key / "label.txt").write_text("b\n")
    assert fingerprint(str(root), key, load_priority(str(root), key)).evidence_id != before


def evidence_of_newest(root: Path, key: str) -> dict[str, object]:
    fp = fingerprint(str(root), key, load_priority(str(root), key))
    path = root / "customers" / key / "evidence" / f"{fp.evidence_id}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


ENV_READER = '''
import os

def run(inp):
    return {"label": "a", "names": sorted(os.environ),
            "token": os.environ.get("GITHUB_TOKEN", ""),
            "key": os.environ.get("AILOOP_BOT_SIGNING_KEY", ""),
            "declared": os.environ.get("ROUTING_SERVICE", "")}
'''


def test_workflow_code_sees_only_the_secrets_its_priority_declares(
        repo: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    root = repo.work
    secret = "ghp_" + "S" * 36
    for name in ("GITHUB_TOKEN", "AILOOP_BOT_SIGNING_KEY", "OPENAI_API_KEY", "UNDECLARED"):
        monkeypatch.setenv(name, secret)
    monkeypatch.setenv("ROUTING_SERVICE", "routing.internal")
    key = write_priority(root, "env", [case("c1", "echo")], wf=ENV_READER)
    declare(root, key, "    secrets: [ROUTING_SERVICE]")
    path = root / "customers" / key / "priority.yaml"
    ran = dry_run(capsys, root, key, "--now", NOW)
    assert ran.code == 0, ran.err
    assert secret not in json.dumps(evidence_of(root, key)) + ran.out + ran.err
    seen = _echo(root, key, capsys)
    assert seen["names"] == ["HOME", "LANG", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE",
                             "PYTHONHASHSEED", "ROUTING_SERVICE"]
    assert (seen["token"], seen["key"], seen["declared"]) == ("", "", "routing.internal")
    declare(root, key, "    secrets: [GITHUB_TOKEN]")
    path.write_text(path.read_text().replace("    secrets: [ROUTING_SERVICE]\n", ""))
    message = (f"customers/{key}/priority.yaml:22:15: spec.workflow.secrets[0]: GITHUB_TOKEN "
               "is a CI credential; workflow code is never handed one")
    refused = dry_run(capsys, root, key, "--now", LATER)
    assert refused.code == 2
    assert message in refused.err
    assert message in run_cli(capsys, "-C", str(root), "validate").out


def _echo(root: Path, key: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """What the workflow returned, seen through the provider itself (evidence is redacted)."""
    from pipeline.documents.dataset import Case
    from pipeline.documents.inputs import declared_inputs
    from pipeline.providers.python import PythonProvider, resolve_entrypoint

    workflow = load_priority(str(root), key).spec.workflow
    entry = resolve_entrypoint(str(root), key, workflow,
                               declared_inputs(str(root), key, workflow))
    provider = PythonProvider(entry, workflow, real_sandbox())
    try:
        out = provider.run(Case(id="x", input={"mode": "echo", "want": "a"}))
    finally:
        provider.close()
    assert out.ok, out.reason
    return out.output  # type: ignore[no-any-return]


def fake_bin(tmp_path: Path, bwrap: str | None) -> str:
    """A PATH holding git (and a bwrap that cannot make namespaces, when asked)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("git",):
        real = next(Path(d) / tool for d in os.environ["PATH"].split(os.pathsep)
                    if (Path(d) / tool).is_file())
        (folder / tool).symlink_to(real)
    if bwrap is not None:
        (folder / "bwrap").write_text(f"#!/bin/sh\necho '{bwrap}' >&2\nexit 1\n")
        (folder / "bwrap").chmod(0o755)
    return str(folder)


@pytest.mark.parametrize(("bwrap", "reason"), [
    (None, "bubblewrap (bwrap) is not installed"),
    ("bwrap: setting up uid map: Permission denied",
     "bubblewrap cannot create a sandbox here: bwrap: setting up uid map: Permission denied"),
])
def test_without_a_sandbox_a_trusted_run_is_refused_and_a_local_run_says_so(
        bwrap: str | None, reason: str, repo: GitRepo, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo.work
    key = write_priority(root, "nosandbox", [case("c1")])
    repo.commit_all("A priority")
    monkeypatch.setenv("PATH", fake_bin(tmp_path, bwrap))
    refused = dry_run(capsys, root, key, "--now", NOW, "--trusted")
    assert refused.code == 2
    assert refused.err.strip() == (
        f"error: a trusted dry run runs workflow code only in a sandbox, and none can be "
        f"made: {reason}. To fix: install bubblewrap (Debian/Ubuntu: sudo apt-get install "
        "bubblewrap); on GitHub-hosted Ubuntu 24.04 runners also allow unprivileged user "
        "namespaces: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    assert not (root / "customers" / key / "evidence").exists()
    local = dry_run(capsys, root, key, "--now", NOW)
    assert local.code == 0, local.err
    assert local.err.count(f"WARNING: NO SANDBOX: {reason}.") == 2  # before and after
    assert evidence_of(root, key)["provider"]["sandbox"] == f"none ({reason})"  # type: ignore[index]


FLIP = '''
def run(inp):
    return {"label": "b"}
'''


def test_a_trusted_run_runs_every_case_and_cache_entries_are_checked_on_read(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "trusted", [case("c1"), case("c2")], wf=FLIP, pass_rate=1.0)
    repo.commit_all("A failing workflow")
    assert dry_run(capsys, root, key, "--now", NOW).code == 1
    # Forge the cache as only someone with write access to .git could: flip to passed.
    path = cache_file(root, key)
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry["result"]["passed"] = True
        entry["result"]["checks"] = []
    path.write_text(json.dumps(data))
    trusted = dry_run(capsys, root, key, "--now", LATER, "--trusted")
    assert trusted.code == 1 and "reused from cache 0" in trusted.out
    # An entry whose recorded fingerprint is not this run's is not used.
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry["result"]["passed"] = True
        entry["fingerprint"] = "ev-0000000000000000"
    path.write_text(json.dumps(data))
    again = dry_run(capsys, root, key, "--now", LATER)
    assert again.code == 1 and "reused from cache 0" in again.out


def test_the_evidence_records_the_installed_version_of_each_requirement(
        repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "reqs", [case("c1")])
    declare(root, key, '    requirements: ["httpx>=0.27"]')
    ran = dry_run(capsys, root, key, "--now", NOW)
    assert ran.code == 0, ran.err
    provider = evidence_of(root, key)["provider"]
    assert provider["requirements"] == {  # type: ignore[index]
        "httpx>=0.27": importlib.metadata.version("httpx")}
    assert provider["sandbox"] == "bubblewrap"  # type: ignore[index]
    missing = write_priority(root, "missing-reqs", [case("c1")])
    declare(root, missing, "    requirements: [ailoop-no-such-package==1.0]")
    refused = dry_run(capsys, root, missing, "--now", NOW)
    assert refused.code == 2
    assert refused.err.strip() == (
        f"error: customers/{missing}/priority.yaml: spec.workflow.requirements[0]: "
        "'ailoop-no-such-package' is not installed (pip install 'ailoop-no-such-package==1.0' "
        "where ailoop runs)")
