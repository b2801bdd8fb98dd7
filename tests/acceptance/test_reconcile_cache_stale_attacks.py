"""Ways the reconcile cache (pipeline.reconcile.state, one entry per priority folder keyed
by the (name, mtime, size) of its files) could plan differently from `--no-cache` on the
same tree: each test changes the tree the way a developer or a tool might, then asks that
the cached plan is the uncached one. Most would expand a rollout the uncached plan holds."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.cache import stat_index
from tests.acceptance.test_reconcile import make_git_repo, ready
from tests.acceptance.test_serving_candidate import walk_to
from tests.acceptance.test_validate_cache import edit
from tests.support import GitRepo, run_cli
from tests.unit.reconciler.builders import KEY, T0, incident, iso

FOLDER = Path("customers/acme/triage")


@pytest.fixture(autouse=True)
def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edit counts as past the racy window: the cache keeps each folder it reads."""
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)


def plan(capsys: pytest.CaptureFixture[str], repo: GitRepo, minutes: int,
         *extra: str) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "plan", "--format", "json", "--now",
                     iso(T0 + timedelta(minutes=minutes)), *extra)
    return result.out


def actions(out: str) -> list[tuple[str, str]]:
    return [(a["kind"], a["reason"]) for p in json.loads(out)["priorities"]
            for a in p["actions"]]


def same_as_uncached(capsys: pytest.CaptureFixture[str], repo: GitRepo, minutes: int) -> str:
    cached = plan(capsys, repo, minutes)
    uncached = plan(capsys, repo, minutes, "--no-cache")
    assert actions(cached) == actions(uncached)
    assert cached == uncached
    return cached


def test_a_declared_input_outside_the_folder_changes_the_evidence_id(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """spec.workflow.inputs are in the fingerprint, but not in the folder's signature: the
    cached evidence id stayed the old one, and the old evidence promoted the new input."""
    repo = make_git_repo(tmp_path)
    shared = repo.work / "shared" / "x.py"
    shared.parent.mkdir()
    shared.write_text("X = 1\n", encoding="utf-8")
    edit(repo.work / FOLDER / "priority.yaml", "    entrypoint: workflow.py:run\n",
         "    entrypoint: workflow.py:run\n    inputs: [shared/x.py]\n")
    repo.commit_all("A shared input")
    ready(repo)
    walk_to(capsys, repo, "shadow")
    assert '"kind": "promote"' in same_as_uncached(capsys, repo, 62)
    shared.write_text("X = 2\n", encoding="utf-8")
    repo.commit_all("The shared input changes: the evidence no longer describes it")
    out = same_as_uncached(capsys, repo, 62)
    assert '"kind": "promote"' not in out


@pytest.mark.parametrize("name", ["dataset.jsonl", "workflow.py"])
def test_a_file_linked_from_elsewhere_in_the_repo_changes_the_evidence_id(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    """The signature holds the link's own stat, the fingerprint what it points at (held
    either way: the evidence chain check refuses the link; but the plans differ)."""
    repo = make_git_repo(tmp_path)
    linked = repo.work / FOLDER / name
    shared = repo.work / "shared" / name
    shared.parent.mkdir()
    shutil.copyfile(linked, shared)
    linked.unlink()
    linked.symlink_to(os.path.relpath(shared, linked.parent))
    repo.commit_all("A shared file")
    ev = ready(repo)
    assert ev in same_as_uncached(capsys, repo, 1)
    shared.write_text(shared.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    repo.commit_all("The shared file changes: the evidence no longer describes it")
    assert ev not in same_as_uncached(capsys, repo, 1)


def test_a_same_size_edit_whose_mtime_is_restored_is_read_again(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """As `cp -a`, `rsync -a` or `tar x` leave it: only ctime (and maybe the inode) tell."""
    repo = make_git_repo(tmp_path, target="canary")
    ready(repo)
    walk_to(capsys, repo, "shadow")
    assert '"kind": "promote"' in same_as_uncached(capsys, repo, 62)
    spec = repo.work / FOLDER / "priority.yaml"
    st = spec.stat()
    edit(spec, "    target: canary\n", "    target: shadow\n")
    os.utime(spec, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert '"kind": "promote"' not in same_as_uncached(capsys, repo, 62)


def test_an_incident_in_a_linked_events_folder_is_seen(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A folder symlink is signed as one file (its lstat): the events read through it are
    not, and a new incident there left the cached plan promoting."""
    repo = make_git_repo(tmp_path)
    shared = repo.work / "shared" / "events"
    shared.mkdir(parents=True)
    (shared / ".keep").write_text("", encoding="utf-8")
    (repo.work / FOLDER / "events").symlink_to(os.path.relpath(shared, repo.work / FOLDER))
    repo.commit_all("Events kept in a shared folder")
    ready(repo)
    walk_to(capsys, repo, "shadow")
    assert '"kind": "promote"' in same_as_uncached(capsys, repo, 62)
    incident(repo.work, KEY, "inc-1", "high")
    repo.commit_all("Report incident inc-1")
    assert '"kind": "promote"' not in same_as_uncached(capsys, repo, 62)


CASE = {"id": "regression-inc-1", "input": {"text": "the system is down"},
        "expected": "urgent", "regression": {"incident": "inc-1"}}
EVE = "Eve Engineer <eve@acme.example>"  # not in customer.yaml: her cases are by "?"


def _authors(repo: GitRepo, *, use_cache: bool) -> list[tuple[str, ...]]:
    from pipeline.reconcile.state import load_repo

    state = load_repo(str(repo.work), use_cache=use_cache)
    return [r.authors for local in state.locals for r in local.regression]


def _same_authors(repo: GitRepo) -> list[tuple[str, ...]]:
    cached = _authors(repo, use_cache=True)
    assert cached == _authors(repo, use_cache=False)
    return cached


@pytest.mark.parametrize("change", ["customer", "amend"])
def test_who_wrote_a_regression_case_is_asked_again(tmp_path: Path, change: str) -> None:
    """A case's authors are what git and customer.yaml say, both outside the folder: the one
    who wrote it never confirms it (pipeline.reconcile.plan, CONFIRMING_ROLE)."""
    repo = make_git_repo(tmp_path)
    dataset = repo.work / FOLDER / "dataset.jsonl"
    dataset.write_text(dataset.read_text(encoding="utf-8") + json.dumps(CASE) + "\n",
                       encoding="utf-8")
    repo.git("add", "-A")
    repo.git("commit", "-q", f"--author={EVE}", "-m", "A regression case")
    assert _same_authors(repo) == [("?",)]
    if change == "customer":  # eve joins the customer as its reviewer
        edit(repo.work / "customers/acme/customer.yaml", "  people:\n",
             "  people:\n    - {id: eve, name: Eve Engineer, email: eve@acme.example, "
             "roles: [customer-reviewer]}\n")
        repo.commit_all("Eve joins")
    else:  # the commit is amended: rita wrote it (the dataset file is not rewritten)
        repo.git("commit", "-q", "--amend", "--no-edit",
                 "--author=Rita Reviewer <rita@acme.example>")
    assert _same_authors(repo) != [("?",)]

