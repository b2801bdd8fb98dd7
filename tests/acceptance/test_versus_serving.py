"""Candidate versus serving (issue 23, item 4): a dry run also runs the serving version on
the same cases, from the commit that recorded its trusted evidence, and reports what the
candidate improved and regressed; `noRegressionOn` makes a regression block. Real git
repositories, real bot-signed commits, the real CLI and real workflow subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_document
from tests.support import GitRepo, commit_evidence, git, run_cli
from tests.unit.providers.chat_server import ChatServer
from tests.unit.reconciler.builders import KEY, evidence_id, make_tree

NOW = "2026-11-20T10:00:00Z"
FOLDER = Path("customers") / KEY
STATUS = FOLDER / "status.yaml"
GATE = "no regression on critical"

# Four cases: the candidate breaks a critical one that serving passed (regressed), fixes
# one serving failed (improved); one passes on both, one fails on both.
DATASET = [
    {"id": "water-leak", "input": {"text": "water"}, "expected": "urgent", "critical": True},
    {"id": "no-body", "input": {"text": ""}, "expected": "triage"},
    {"id": "hello", "input": {"text": "hi"}, "expected": "support"},
    {"id": "riddle", "input": {"text": "?"}, "expected": "nobody-knows"},
]
SERVING = """\
def run(input):
    text = input["text"]
    if not text:
        raise ValueError("no body")
    return {"water": "urgent", "hi": "support"}.get(text, "unknown")
"""
CANDIDATE = """\
def run(input):
    text = input.get("text") or ""
    if not text:
        return "triage"
    return {"hi": "support"}.get(text, "unknown")
"""


def set_version(work: Path, version: str, workflow: str) -> None:
    (work / FOLDER / "workflow.py").write_text(workflow)
    spec = work / FOLDER / "priority.yaml"
    text = spec.read_text()
    old = text.split('version: "', 1)[1].split('"', 1)[0]
    spec.write_text(text.replace(f'version: "{old}"', f'version: "{version}"'))


def workflow_digest(work: Path) -> str:
    doc, findings = load_document(str(work), f"{FOLDER}/priority.yaml")
    assert doc is not None, findings
    return fingerprint(str(work), KEY, doc.model).workflow


def write_status(work: Path, version: str, ev: str, digest: str) -> None:
    (work / STATUS).write_text(
        "apiVersion: ailoop.dev/v1\nkind: Status\nmetadata:\n  name: triage\nstatus:\n"
        "  phase: complete\n  serving:\n"
        f'    version: "{version}"\n    evidenceId: {ev}\n    workflowDigest: {digest}\n'
        "    since: 2026-11-20T09:30:00Z\n")


def dry_run(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str
            ) -> tuple[int, str, dict[str, Any]]:
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", KEY, "--now", NOW, *args)
    assert "Traceback" not in result.err, result.err
    ev = evidence_id(repo.work)
    evidence = json.loads((repo.work / FOLDER / "evidence" / f"{ev}.json").read_text())
    return result.code, result.out, evidence


def gate(evidence: dict[str, Any]) -> dict[str, Any]:
    found = [g for g in evidence["thresholds"] if g["name"] == GATE]
    assert len(found) == 1, evidence["thresholds"]
    return found[0]


def make(tmp_path: Path, *, no_regression: bool = True) -> GitRepo:
    """acme/triage with the four cases, noRegressionOn: [critical] (no criticalMustPass, so
    that only the comparison can block), v1.1.1's workflow; nothing serving yet."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = make_tree(tmp_path / "work")
    (work / FOLDER / "dataset.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in DATASET))
    spec = work / FOLDER / "priority.yaml"
    extra = "      noRegressionOn: [critical]\n" if no_regression else ""
    spec.write_text(spec.read_text().replace(
        "      passRate: 1.0\n",
        f"      passRate: 0.25\n      criticalMustPass: false\n{extra}").replace(
        "      threshold: 0.9\n", "      threshold: 0.25\n"))
    set_version(work, "1.1.1", SERVING)
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(remote))
    repo = GitRepo(work, remote)
    repo.commit_all("acme/triage v1.1.1")
    return repo


def serve(capsys: pytest.CaptureFixture[str], repo: GitRepo, digest: str | None = None,
          *, by_bot: bool = True, passes: bool = True) -> str:
    """v1.1.1's trusted run (its evidence committed by the bot), then the status the bot
    writes when it completes: v1.1.1 is serving. Returns its evidence id."""
    code, _, evidence = dry_run(capsys, repo)
    assert code == (0 if passes else 1), evidence["thresholds"]
    if by_bot:
        commit_evidence(repo.work)
    else:
        repo.commit_all("Evidence committed by a person")
    write_status(repo.work, "1.1.1", evidence["id"], digest or workflow_digest(repo.work))
    repo.bot_commit("ailoop: acme/triage v1.1.1 completes: it is the serving version")
    return str(evidence["id"])


def candidate(repo: GitRepo) -> None:
    """A pull request: v1.2.0 handles an e-mail with no body and loses the water keyword."""
    set_version(repo.work, "1.2.0", CANDIDATE)
    repo.commit_all("acme/triage v1.2.0: e-mails with no body")


def test_a_regression_on_a_critical_case_fails_the_dry_run_by_name(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serving = serve(capsys, repo)
    candidate(repo)
    code, out, evidence = dry_run(capsys, repo)
    assert code == 1 and evidence["passed"] is False
    versus = evidence["versusServing"]
    assert versus == {
        "version": "1.1.1", "evidenceId": serving, "workflowDigest": versus["workflowDigest"],
        "compared": True, "cases": 4, "improved": ["no-body"], "regressed": ["water-leak"],
        "unchanged": 2, "unchangedPass": 1, "unchangedFail": 1, "pValue": 1.0}
    assert gate(evidence) | {"value": None} == {
        "name": GATE, "passed": False, "value": None,
        "required": f"no critical case passing on serving v1.1.1 ({serving}) fails",
        "actual": "case water-leak passed on serving v1.1.1 and fails on v1.2.0"}
    # every other gate passes: the comparison alone blocks
    assert all(g["passed"] for g in evidence["thresholds"] if g["name"] != GATE)
    assert f"FAIL {GATE}: case water-leak passed on serving v1.1.1 and fails on v1.2.0" in out
    assert (f"v1.2.0 versus serving v1.1.1 ({serving}) on 4 cases: 1 improved, 1 regressed, "
            "2 unchanged") in out
    assert "  improved: no-body\n  regressed: water-leak" in out


def test_the_candidate_fingerprint_does_not_depend_on_what_is_serving(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Approvals bind to the evidence id: the comparison is a fact in it, never a part."""
    repo = make(tmp_path)
    candidate(repo)
    alone = evidence_id(repo.work)
    repo.git("reset", "-q", "--hard", "HEAD~1")
    serve(capsys, repo)
    candidate(repo)
    _, _, evidence = dry_run(capsys, repo)
    assert "versusServing" in evidence and evidence["id"] == alone


def test_an_improvement_alone_passes_and_is_reported(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serve(capsys, repo)
    set_version(repo.work, "1.2.0", SERVING.replace(
        '        raise ValueError("no body")', '        return "triage"'))
    repo.commit_all("acme/triage v1.2.0")
    code, out, evidence = dry_run(capsys, repo)
    assert code == 0, out
    assert evidence["versusServing"]["improved"] == ["no-body"]
    assert evidence["versusServing"]["regressed"] == []
    assert gate(evidence)["passed"] is True
    assert gate(evidence)["actual"].startswith("none regressed against serving v1.1.1")


def test_nothing_serving_passes_the_gate_and_records_no_comparison(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    code, _, evidence = dry_run(capsys, repo)
    assert code == 0
    assert "versusServing" not in evidence
    assert gate(evidence)["passed"] is True
    assert gate(evidence)["actual"] == "nothing serving to compare with"


def test_without_the_setting_a_regression_is_reported_but_does_not_block(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path, no_regression=False)
    serve(capsys, repo)
    candidate(repo)
    code, out, evidence = dry_run(capsys, repo)
    assert code == 0, out
    assert evidence["versusServing"]["regressed"] == ["water-leak"]
    assert not [g for g in evidence["thresholds"] if g["name"] == GATE]


def test_a_workflow_digest_that_does_not_match_fails_closed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serve(capsys, repo, digest="0" * 64)
    candidate(repo)
    code, out, evidence = dry_run(capsys, repo)
    assert code == 1
    assert evidence["versusServing"]["compared"] is False
    reason = evidence["versusServing"]["reason"]
    assert "does not hash to the workflow digest the status records" in reason
    assert gate(evidence)["passed"] is False
    assert gate(evidence)["actual"] == f"not compared: {reason}"
    assert "not compared with serving v1.1.1" in out


def test_serving_code_missing_from_history_fails_closed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The status names evidence no commit recorded (or a person did): nothing is run."""
    repo = make(tmp_path)
    serve(capsys, repo, by_bot=False)
    candidate(repo)
    code, _, evidence = dry_run(capsys, repo)
    assert code == 1
    assert "is not a trusted run's" in evidence["versusServing"]["reason"]
    assert gate(evidence)["passed"] is False


def test_a_pull_request_cannot_choose_what_serving_runs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The author drops the serving version from status.yaml (and could point it anywhere):
    the comparison follows what the bot last wrote, and still names the regression."""
    repo = make(tmp_path)
    serving = serve(capsys, repo)
    candidate(repo)
    write_status(repo.work, "0.0.1", "ev-0000000000000000", "0" * 64)
    (repo.work / STATUS).write_text((repo.work / STATUS).read_text().split("  serving:")[0])
    repo.commit_all("Nothing is serving, honestly")
    code, _, evidence = dry_run(capsys, repo)
    assert code == 1
    assert evidence["versusServing"]["evidenceId"] == serving
    assert evidence["versusServing"]["regressed"] == ["water-leak"]


def test_a_pull_request_cannot_pass_off_other_settings_as_serving(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The serving evidence file's newest commit is the PR's (it touched the file and put it
    back, with the serving code beside another spec): the code hashes right, but the files
    there do not make the serving evidence id, so nothing runs as serving."""
    repo = make(tmp_path)
    serving = serve(capsys, repo)
    evidence = repo.work / FOLDER / "evidence" / f"{serving}.json"
    original = evidence.read_bytes()
    evidence.write_bytes(original + b" ")
    repo.commit_all("Touch the serving evidence")
    evidence.write_bytes(original)
    spec = repo.work / FOLDER / "priority.yaml"
    spec.write_text(spec.read_text().replace('version: "1.1.1"', 'version: "1.1.1-other"'))
    repo.commit_all("Put it back, beside another spec")
    candidate(repo)
    code, _, result = dry_run(capsys, repo)
    assert code == 1
    reason = result["versusServing"]["reason"]
    assert "make evidence ev-" in reason and reason.endswith(f", not {serving}")
    assert gate(result)["passed"] is False


def test_a_serving_version_unreachable_for_every_case_fails_closed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """v1.1.1 called a model whose endpoint is gone: nothing to compare, the gate fails."""
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-test")
    server = ChatServer().start()
    repo = make(tmp_path)
    spec = repo.work / FOLDER / "priority.yaml"
    python = spec.read_text()
    spec.write_text(python.replace("    entrypoint: workflow.py:run\n", "").replace(
        "    provider: python\n",
        f"    provider: openai\n    openai:\n      baseUrl: {server.url}\n"
        "      model: test-model\n      apiKeyEnv: TEST_CHAT_KEY\n"
        '      promptTemplate: "{{ text }}"\n      maxRetries: 0\n'))
    repo.commit_all("acme/triage v1.1.1 on a model")
    try:
        serve(capsys, repo, passes=False)  # a model that only echoes fails every case
    finally:
        server.stop()
    spec.write_text(python)
    candidate(repo)
    code, _, evidence = dry_run(capsys, repo)
    assert code == 1
    assert evidence["versusServing"]["reason"] == ("its openai provider was unreachable for "
                                                   "every case")
    assert gate(evidence)["passed"] is False


def test_a_status_that_cannot_be_read_fails_closed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The bot wrote a status no model reads (an older ailoop, a broken write): what is
    serving cannot be told, so the gate fails instead of assuming nothing serves."""
    repo = make(tmp_path)
    serve(capsys, repo)
    (repo.work / STATUS).write_text("apiVersion: ailoop.dev/v1\nkind: Status\nstatus: [\n")
    repo.bot_commit("ailoop: a status no model reads")
    candidate(repo)
    code, _, evidence = dry_run(capsys, repo)
    assert code == 1
    assert evidence["versusServing"]["reason"] == (
        "the serving version cannot be told: customers/acme/triage/status.yaml cannot be "
        "read as a status")
    assert gate(evidence)["passed"] is False


def test_the_serving_outputs_are_cached_under_their_own_run_key(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make(tmp_path)
    serve(capsys, repo)
    candidate(repo)
    _, first, _ = dry_run(capsys, repo)
    assert "serving runs reused from cache 0" in first
    _, again, evidence = dry_run(capsys, repo)
    assert "reused from cache 4" in again and "serving runs reused from cache 4" in again
    assert evidence["versusServing"]["regressed"] == ["water-leak"]
    _, fresh, _ = dry_run(capsys, repo, "--no-cache")
    assert "serving runs reused from cache 0" in fresh
    # a trusted run reads no cache, for the serving version either (both run in the sandbox)
    _, trusted, evidence = dry_run(capsys, repo, "--trusted")
    assert "reused from cache 0" in trusted and "serving runs reused from cache 0" in trusted
    assert evidence["provider"]["sandbox"] == "bubblewrap"
    assert evidence["versusServing"]["regressed"] == ["water-leak"]
