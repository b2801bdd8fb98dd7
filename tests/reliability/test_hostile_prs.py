"""Hostile pull requests: lowering a gate through policies, the project file, the CI
workflows or a threshold; fork PRs (parse only: no code, no secrets, no customer data);
code that runs at import. Approvals come from a GitHub REST stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.yamlio import parse_yaml
from pipeline.model.scalars import typed
from tests.acceptance.approvals_support import approvals_repo, customer_yaml, write_evidence
from tests.acceptance.github_fake import REPO, TOKEN, FakeGitHub, changed_file, pull, serve
from tests.acceptance.test_approvals_github import PR, Pr, approved, gate
from tests.acceptance.test_dry_run_cli import write_priority
from tests.reliability.support import at, ready_repo, run_forked
from tests.support import ROOT, GitRepo, candidate_stage, minimal_repo, run_cli

KEY = "acme/triage"
MARKER = "ran-at-import.txt"
WORKFLOWS = ROOT / ".github" / "workflows"


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with serve(FakeGitHub()) as running:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", running.url)
        yield running


def open_pr(repo: GitRepo, fake: FakeGitHub, author: str,
            edits: dict[str, str]) -> Pr:
    """A PR (branch `feature`) that writes `edits` and fresh evidence for the priority."""
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    for rel, text in edits.items():
        (repo.work / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo.work / rel).write_text(text)
    ev = write_evidence(repo.work)
    head = repo.commit_all("A change")
    fake.pulls[PR] = pull(PR, author, head, base)
    fake.files[PR] = [changed_file(f) for f in
                      [*edits, f"customers/acme/triage/evidence/{ev}.json"]]
    return Pr(repo, fake, base, head)


def _text(rel: str, repo: GitRepo) -> str:
    return (repo.work / rel).read_text()


# name -> (file, how the PR changes it) — each tries to lower a gate.
LOWERING: dict[str, tuple[str, Any]] = {
    "delete-a-policy-rule": ("policies/house-rules.yaml", lambda t: t.split("    - id:")[0]),
    "add-a-waiver": ("policies/waivers/everything.yaml",
                     lambda _t: "apiVersion: ailoop.dev/v1\nkind: Waiver\nmetadata:\n"
                                "  name: everything\nspec: {}\n"),
    "shorten-the-high-risk-bake-time": ("ailoop.yaml", lambda t: t + "  minBakeTimeHighRisk: 1m\n"),
    "switch-approvals-to-files": ("ailoop.yaml",
                                  lambda t: t.replace("source: git-signed", "source: file")),
    "drop-the-reconcile-guard": (".github/workflows/reconcile.yml", lambda _t: "on: push\n"),
    "edit-codeowners": ("CODEOWNERS", lambda _t: "* @eve-dev\n"),
    "replace-allowed-signers": (".ailoop/allowed_signers",
                                lambda _t: "eve ssh-ed25519 AAAAC3Nza\n"),
}


@pytest.mark.parametrize("name", sorted(LOWERING))
def test_a_pr_lowering_a_gate_needs_a_policy_owner(name: str, tmp_path: Path,
                                                   github: FakeGitHub,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rel, change = LOWERING[name]
    repo = approvals_repo(tmp_path, customer_yaml())
    repo.work.joinpath("policies").mkdir(exist_ok=True)
    old = (repo.work / rel).read_text() if (repo.work / rel).exists() else ""
    if rel == "policies/house-rules.yaml":
        old = (ROOT / rel).read_text()
        (repo.work / rel).write_text(old)
        repo.commit_all("House rules")
    pr = open_pr(repo, github, "eve-dev", {rel: change(old)})
    # Every priority gate approved by the right people, and the author approves too.
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               approved(pr, 3, "eve-dev"))
    result = gate(capsys, pr)
    assert result.code == 1, result.out + result.err
    assert ("governance files: waiting\n  - needs 1 more policy-owner (governance files "
            f"changed ({rel}): a policy-owner must approve)\n") in result.out
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               approved(pr, 4, "pat-policy"))
    assert gate(capsys, pr).code == 0


def test_a_pr_that_is_its_own_policy_owner_cannot_approve_itself(
        tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    repo = approvals_repo(tmp_path, customer_yaml())
    pr = open_pr(repo, github, "pat-policy", {"ailoop.yaml": _text("ailoop.yaml", repo)
                                              + "  minBakeTimeHighRisk: 1m\n"})
    pr.reviews(approved(pr, 1, "ann-acme"), approved(pr, 2, "raj-risk"),
               approved(pr, 3, "pat-policy"))
    result = gate(capsys, pr)
    assert result.code == 1
    assert "not counted: review by pat-policy: the author of a pull request cannot approve it" \
        in result.out


@pytest.fixture(scope="module")
def in_shadow(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    repo = ready_repo(tmp_path_factory.mktemp("prs") / "t", ("triage",))
    from pipeline.cli.main import main

    assert run_forked(lambda: main(["-C", str(repo.work), "reconcile", "--now", at(1)])) == 0
    return repo


def _plan_row(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, Any]:
    result = run_cli(capsys, "-C", str(root), "plan", "--format", "json", "--no-cache",
                     "--now", at(62))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    rows = data["priorities"] if isinstance(data, dict) else data
    row: dict[str, Any] = next(p for p in rows if p["priority"] == KEY)
    return row


EVIDENCE_BOUND = {
    "lower-the-pass-rate": ("priority.yaml", lambda t: t.replace(
        "      passRate: 1.0\n", "      passRate: 0.01\n")),
    "add-an-easy-case": ("dataset.jsonl", lambda t: t + '{"id": "easy", "input": {}}\n'),
    "change-the-workflow": ("workflow.py", lambda t: t + "# always say support\n"),
}


@pytest.mark.parametrize("edit", sorted(EVIDENCE_BOUND))
def test_a_merged_edit_to_the_gate_inputs_invalidates_the_evidence_and_holds(
        edit: str, in_shadow: GitRepo, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Evidence and approvals are bound to the spec, dataset and workflow: changing any of
    them makes a new candidate, whose traffic goes back to the serving version, and it
    needs a dry run; nothing promotes on the old approvals."""
    import shutil

    root = Path(shutil.copytree(in_shadow.work, tmp_path / "w", symlinks=True))
    name, change = EVIDENCE_BOUND[edit]
    path = root / "customers/acme/triage" / name
    path.write_text(change(path.read_text()))
    row = _plan_row(capsys, root)
    assert all(a["kind"] != "promote" for a in row["actions"])
    assert candidate_stage(row) is None
    assert [a["kind"] for a in row["actions"]][:2] == ["replace", "dry-run-needed"]


ROLLOUT_EDITS = {
    "raise-the-monitoring-threshold": lambda t: t.replace("threshold: 0.05", "threshold: 0.9"),
    "shorten-the-bake-time": lambda t: t.replace("bakeTime: 1d", "bakeTime: 1m"),
    "jump-the-target-to-full": lambda t: t.replace("target: canary", "target: full"),
}


@pytest.mark.parametrize("edit", sorted(ROLLOUT_EDITS))
def test_a_pr_editing_rollout_or_monitoring_needs_the_stage_approvers(
        edit: str, tmp_path: Path, github: FakeGitHub,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Rollout and monitoring are not part of the evidence id (raising a target must not
    force a new dry run), so the PR that changes them is what the approvers review."""
    repo = approvals_repo(tmp_path, customer_yaml())
    rel = "customers/acme/triage/priority.yaml"
    pr = open_pr(repo, github, "eve-dev", {rel: ROLLOUT_EDITS[edit](_text(rel, repo))})
    pr.reviews(approved(pr, 1, "eve-dev"))
    result = gate(capsys, pr)
    assert result.code == 1, result.out + result.err
    assert "acme/triage stage canary: waiting\n" in result.out
    assert "not counted: review by eve-dev: the author of a pull request cannot approve it" \
        in result.out


def test_a_pr_removing_a_stages_only_approval_does_not_crash_the_gate(
        tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    """Was an internal error (exit 4): a stage asking for nobody had no requirement."""
    repo = approvals_repo(tmp_path, customer_yaml())
    rel = "customers/acme/triage/priority.yaml"
    text = _text(rel, repo).replace("        approvals:\n          - role: customer-reviewer\n",
                                    "", 1)
    pr = open_pr(repo, github, "eve-dev", {rel: text})
    pr.reviews()
    result = gate(capsys, pr)
    assert result.code == 1, result.out + result.err
    assert "acme/triage stage canary: waiting" in result.out


def test_a_pr_removing_a_stages_approvals_still_needs_the_base_approvers(
        tmp_path: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    repo = approvals_repo(tmp_path, customer_yaml())
    rel = "customers/acme/triage/priority.yaml"
    text = _text(rel, repo).replace("        approvals:\n          - role: customer-reviewer\n",
                                    "", 1)
    pr = open_pr(repo, github, "eve-dev", {rel: text})
    pr.reviews()
    result = gate(capsys, pr)
    assert "acme/triage stage shadow: waiting" in result.out


def test_forged_passing_evidence_in_a_pr_is_overwritten_by_the_ci_dry_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Anyone can compute an evidence id; the PR's required dry-run job recomputes it."""
    root = minimal_repo(tmp_path / "repo")
    key = write_priority(root, "forged", [{"id": "a", "input": {"mode": "ok", "want": "b"},
                                           "expected": {"label": "a"}}])
    from pipeline.documents.evidence import fingerprint
    from pipeline.documents.load import load_document

    doc, _ = load_document(str(root), f"customers/{key}/priority.yaml")
    assert doc is not None
    fp = fingerprint(str(root), key, doc.model)
    folder = root / "customers" / key / "evidence"
    folder.mkdir()
    (folder / f"{fp.evidence_id}.json").write_text(json.dumps({
        "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
        "priority": key, "created": "2026-11-20T09:00:00Z", "passed": True,
        "fingerprint": fp.as_dict(), "provider": "python",
        "summary": {"cases": 1, "passed": 1, "failed": 0, "passRate": 1.0},
        "cases": [], "failureCategories": {}, "edgeCases": []}))
    result = run_cli(capsys, "-C", str(root), "dry-run", key, "--now", "2026-11-20T10:00:00Z",
                     "--no-cache")
    assert result.code == 1
    assert json.loads((folder / f"{fp.evidence_id}.json").read_text())["passed"] is False


# --- fork PRs: parse only --------------------------------------------------------------------

def _workflow(name: str) -> dict[str, Any]:
    loaded = typed(parse_yaml((WORKFLOWS / name).read_bytes(), f".github/workflows/{name}").data)
    assert isinstance(loaded, dict)
    return loaded


FORK_ONLY = "github.event.pull_request.head.repo.full_name == github.repository"


def test_pr_workflow_runs_no_fork_code_with_secrets_or_data() -> None:
    wf = _workflow("pr.yml")
    assert "pull_request_target" not in wf["on"]
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    for name, job in jobs.items():
        steps = job["steps"]
        uses_secret = any("secrets." in json.dumps(s) for s in steps)
        runs_code = any("dry-run" in str(s.get("run", "")) for s in steps)
        writes = set((job.get("permissions") or {}).values()) & {"write"}
        if uses_secret or runs_code or writes:
            assert FORK_ONLY in str(job.get("if", "")), name
        for step in steps:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False, name
    # The validate job (the only one forks get) parses; it has no secret and reads only.
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert "if" not in jobs["validate"]
    assert "secrets." not in json.dumps(jobs["validate"])


def test_no_workflow_checks_out_pr_code_with_a_privileged_trigger() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        wf = _workflow(path.name)
        triggers = wf["on"] if isinstance(wf["on"], dict | list) else [wf["on"]]
        assert "pull_request_target" not in triggers, path.name
        assert "workflow_run" not in triggers, path.name
        assert wf.get("permissions") == {}, path.name  # every job asks for its own


IMPORT_BOMB = f"""
import os, pathlib
pathlib.Path(os.environ.get("AILOOP_MARKER_DIR", "/nonexistent"), "{MARKER}").write_text(
    repr(sorted(os.environ)))
def run(input):
    return {{"label": os.environ.get("GITHUB_TOKEN", "no-token")}}
"""


CI_NAMES = ("GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "AILOOP_BOT_SIGNING_KEY")
CREDENTIAL_READER = f"""
import os
SEEN = [name for name in {CI_NAMES!r} if name in os.environ]
def run(input):
    return {{"label": os.environ.get("GITHUB_TOKEN", "no-token") if not SEEN else repr(SEEN)}}
"""


@pytest.mark.parametrize("verb", [
    ("validate",), ("plan", "--now", "2026-11-20T10:00:00Z"), ("status",),
    ("policy", "test"), ("comment", "--print", "--base", "HEAD~1"),
])
def test_parse_only_verbs_never_run_pr_code(verb: tuple[str, ...], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """What a fork PR gets (validate, policy test, plan, status, the comment text) never
    imports its workflow, a conftest.py or a sitecustomize.py."""
    from tests.support import make_repo

    repo = make_repo(tmp_path, fill=lambda work: minimal_repo(work))
    folder = repo.work / "customers/acme/triage"
    for name in ("workflow.py", "conftest.py", "sitecustomize.py", "__init__.py"):
        (folder / name).write_text(IMPORT_BOMB)
    (repo.work / "sitecustomize.py").write_text(IMPORT_BOMB)
    (repo.work / "conftest.py").write_text(IMPORT_BOMB)
    repo.commit_all("Fork PR with code that runs at import")
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("AILOOP_MARKER_DIR", str(markers))
    result = run_cli(capsys, "-C", str(repo.work), *verb)
    assert "Traceback" not in result.out + result.err
    assert list(markers.iterdir()) == []


def test_pr_workflow_code_gets_no_ci_credentials(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A same-repo PR's workflow runs in the dry run; it must not see the CI's tokens."""
    root = minimal_repo(tmp_path / "repo")
    key = write_priority(root, "bomb", [{"id": "a", "input": {"mode": "ok", "want": "x"},
                                         "expected": {"label": "no-token"}}],
                         wf=CREDENTIAL_READER)
    token = "ghp_" + "Q" * 36
    for name in CI_NAMES:
        monkeypatch.setenv(name, token)
    result = run_cli(capsys, "-C", str(root), "dry-run", key, "--now", "2026-11-20T10:00:00Z",
                     "--no-cache")
    assert result.code == 0, result.out + result.err  # the label says no name was seen
    produced = "".join(p.read_text() for p in (root / "customers" / key / "evidence").iterdir())
    assert token not in produced + result.out + result.err
    assert os.environ["GITHUB_TOKEN"] == token  # the parent keeps its own environment
