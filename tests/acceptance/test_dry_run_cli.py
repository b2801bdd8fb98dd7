"""`ailoop dry-run` end to end: real worker subprocesses, a real HTTP endpoint on
127.0.0.1, real files; exit codes, evidence, JUnit, the rerun loop and redaction."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.documents.evidence import current_evidence, fingerprint, read_evidence
from pipeline.documents.load import load_document
from tests.support import GitRepo, run_cli
from tests.unit.providers.chat_server import ChatServer

NOW = "2026-11-20T10:00:00Z"
LATER = "2026-11-20T11:00:00Z"

PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: {name}
spec:
  goal: Test the dry run.
  owner: hannah
  inputData:
    source: test
    personalData: true
    redaction:
      fields: [name]
  expectedOutput:
    description: a label
    format: json
  risk: low
  workflow:
{workflow}
  dryRun:
    dataset: dataset.jsonl
    assertions:
      - type: field-equals
        field: label
    thresholds:
      passRate: {pass_rate}
      criticalMustPass: true
  rollout:
    target: shadow
    stages:
      - name: shadow
        percent: 0
        bakeTime: 1h
"""

PYTHON_WORKFLOW = """\
    provider: python
    version: "1"
    entrypoint: wf.py:run
    timeoutSeconds: 1"""

WF = '''
import os, time

def run(inp):
    mode = inp.get("mode", "ok")
    if mode == "raise":
        raise KeyError("missing " + inp.get("name", ""))
    if mode == "hang":
        time.sleep(30)
    if mode == "crash":
        os.kill(os.getpid(), 9)
    if mode == "text":
        return "not { json"
    if mode == "echo":
        return {"label": "x", "said": inp}
    return {"label": inp["want"]}
'''


def write_priority(root: Path, name: str, cases: list[dict[str, object]],
                   workflow: str = PYTHON_WORKFLOW, wf: str = WF, pass_rate: float = 1.0) -> str:
    folder = root / "customers" / "test-co" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "priority.yaml").write_text(
        PRIORITY.format(name=name, workflow=workflow, pass_rate=pass_rate))
    (folder / "dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (folder / "wf.py").write_text(wf)
    return f"test-co/{name}"


def case(id: str, mode: str = "ok", want: str = "a", **extra: object) -> dict[str, object]:
    return {"id": id, "input": {"mode": mode, "want": want, **extra},
            "expected": {"label": "a"}, **({"critical": True} if id.startswith("crit") else {})}


def dry_run(capsys: pytest.CaptureFixture[str], root: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(capsys, "-C", str(root), "dry-run", *args)


def evidence_files(root: Path, key: str) -> list[str]:
    folder = root / "customers" / key / "evidence"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_faults_do_not_stop_the_run(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = write_priority(example, "faults", [
        case("ok"), case("raise", "raise"), case("hang", "hang"), case("crash", "crash"),
        case("text", "text"), case("wrong", want="b"), case("after")])
    result = dry_run(capsys, example, key, "--now", NOW)
    assert result.code == 1
    ev_id = evidence_files(example, key)[0].removesuffix(".intoto.json")
    evidence = json.loads((example / f"customers/{key}/evidence/{ev_id}.json").read_text())
    by_id = {c["id"]: c for c in evidence["cases"]}
    assert by_id["ok"]["passed"] and by_id["after"]["passed"]
    assert by_id["raise"]["fault"] == {"category": "exception", "reason": "KeyError: 'missing '"}
    assert by_id["hang"]["fault"] == {"category": "timeout",
                                      "reason": "no answer within 1 s (worker replaced)"}
    assert by_id["crash"]["fault"] == {"category": "crash", "reason": "worker crashed (signal 9)"}
    assert by_id["text"]["fault"]["category"] == "malformed JSON"
    assert by_id["wrong"]["checks"][0]["message"] == 'label: expected "a", got "b"'
    assert evidence["summary"] | {"perTag": {}, "latencyMs": {}} == {
        "cases": 7, "passed": 2, "failed": 5, "passRate": 0.285714, "errors": 4, "perTag": {},
        "critical": {"cases": 0, "failing": []}, "latencyMs": {}, "cost": 0.0,
        "tokens": {"input": 0, "output": 0}}
    assert [c["category"] for c in evidence["failureCategories"]] == [
        "crash", "exception: KeyError", "field-equals:label", "malformed JSON", "timeout"]
    assert "dry run test-co/faults: FAILED" in result.out
    assert "  FAIL pass rate: 28.6% (required >= 100.0%)" in result.out


def test_evidence_is_bound_idempotent_and_junit(repo: GitRepo, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    key = write_priority(root, "good", [case("a1"), case("crit1"), case("a2", want="b")],
                         pass_rate=0.6)
    repo.commit_all("add priority")
    junit = tmp_path / "junit.xml"
    first = dry_run(capsys, root, key, "--now", NOW, "--junit", str(junit),
                    "--markdown", str(tmp_path / "s.md"))
    assert first.code == 0, first.err
    doc, _ = load_document(str(root), f"customers/{key}/priority.yaml")
    fp = fingerprint(str(root), key, doc.model)  # type: ignore[union-attr]
    current = current_evidence(str(root), key, fp)
    assert current is not None and current.passed and (current.cases, current.failed) == (3, 1)
    assert f"evidence {fp.evidence_id} (written)" in first.out
    statement = json.loads((root / f"customers/{key}/evidence/{fp.evidence_id}.intoto.json")
                           .read_text())
    assert statement["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    assert statement["predicate"]["failedTests"] == ["a2"]
    assert {s["name"] for s in statement["subject"]} == {
        f"customers/{key}/priority.yaml#spec", f"customers/{key}/dataset.jsonl",
        f"customers/{key}/wf.py"}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "1")
    assert "✅ passed" in (tmp_path / "s.md").read_text()
    # Cache lives in .git, the work tree only gains the evidence.
    assert os.listdir(root / ".git" / "ailoop-cache" / "dryrun")
    assert repo.git("status", "--porcelain", "--untracked-files=all").splitlines() == [
        f"?? customers/{key}/evidence/{fp.evidence_id}.intoto.json",
        f"?? customers/{key}/evidence/{fp.evidence_id}.json"]
    before = (root / current.path).read_bytes()
    second = dry_run(capsys, root, key, "--now", LATER)
    assert second.code == 0
    assert f"evidence {fp.evidence_id} (unchanged)" in second.out
    assert "reused from cache 3" in second.out
    assert (root / current.path).read_bytes() == before


def test_fix_and_rerun_shows_the_diff(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = write_priority(example, "loop", [case("a"), case("b", want="b"), case("c", want="c")])
    assert dry_run(capsys, example, key, "--now", NOW).code == 1
    (first_id,) = [s.evidence_id for s in read_evidence(str(example), key)]
    wf = example / "customers" / key / "wf.py"
    wf.write_text(WF.replace('return {"label": inp["want"]}',
                             'return {"label": "a" if inp["want"] == "b" else inp["want"]}'))
    second = dry_run(capsys, example, key, "--now", LATER)
    assert second.code == 1
    assert f"compared with {first_id}: 0 newly failing, 1 fixed, 1 still failing" in second.out
    assert "  fixed: b" in second.out
    third = dry_run(capsys, example, key, "--now", LATER, "--since", first_id)
    assert f"compared with {first_id}: 0 newly failing, 1 fixed" in third.out
    bad = dry_run(capsys, example, key, "--since", "ev-0000000000000000")
    assert bad.code == 2
    assert f"--since: no evidence 'ev-0000000000000000' for {key}; evidence: " in bad.err


def test_bad_priority_key_names_what_exists(example: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    result = dry_run(capsys, example, "nope/x")
    assert result.code == 2
    assert result.err.startswith("error: no priority 'nope/x' (write CUSTOMER/PRIORITY); "
                                 "priorities: ")
    assert "northwind-insurance/claims-intake" in result.err
    assert "Traceback" not in result.err


def test_canary_personal_data_never_leaves_the_dataset(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canaries = {"name": "Zelda Quarkbottom", "email": "zelda.canary@example.org",
                "phone": "+44 20 7946 0958", "iban": "GB82 WEST 1234 5698 7654 32",
                "card": "4111 1111 1111 1111"}
    root = repo.work
    cases = [case("p1", "echo", **canaries), case("p2", "raise", name=canaries["name"]),
             case("p3", want=canaries["email"], note=canaries["card"])]
    key = write_priority(root, "canary", cases)
    junit, md = tmp_path / "out" / "junit.xml", tmp_path / "out" / "summary.md"
    result = dry_run(capsys, root, key, "--now", NOW, "--junit", str(junit),
                     "--markdown", str(md))
    assert result.code == 1
    produced = [root / f"customers/{key}/evidence" / n for n in evidence_files(root, key)]
    produced += [junit, md, *(root / ".git" / "ailoop-cache").rglob("*.json")]
    texts = [p.read_text() for p in produced] + [result.out, result.err]
    assert len(produced) == 5
    needles = [*canaries.values(), canaries["iban"].replace(" ", ""), "Quarkbottom"]
    for text in texts:
        for needle in needles:
            assert needle not in text
    evidence = json.loads(produced[1].read_text())
    assert evidence["cases"][0]["output"]["said"]["email"] == "[redacted:email]"
    assert evidence["cases"][0]["output"]["said"]["name"] == "[redacted:name]"
    assert evidence["cases"][1]["fault"]["reason"] == "KeyError: 'missing [redacted:name]'"


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


def openai_workflow(url: str) -> str:
    return f"""\
    provider: openai
    version: "1"
    openai:
      baseUrl: {url}
      model: test-model
      apiKeyEnv: TEST_CHAT_KEY
      promptTemplate: "{{{{ text }}}}"
      maxRetries: 2"""


def test_openai_provider_end_to_end(example: Path, chat: ChatServer,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-test")
    cases: list[dict[str, object]] = [
        {"id": "a", "input": {"text": "RATE-LIMIT"}, "expected": {"echo": "RATE-LIMIT"}},
        {"id": "b", "input": {"text": "NOT-JSON"}},
        {"id": "c", "input": {"text": "SERVER-ERROR"}},
        {"id": "d", "input": {"text": "REFUSE"}},
        {"id": "e", "input": {"text": "TOOL-CALL"}},
        {"id": "f", "input": {"text": "NULL-CONTENT"}},
        {"id": "g", "input": {"text": "TOO-LONG"}}]
    key = write_priority(example, "chat", cases, openai_workflow(chat.url), wf="")
    (example / "customers" / key / "priority.yaml").write_text(
        (example / "customers" / key / "priority.yaml").read_text()
        .replace("field: label", "field: echo"))
    result = dry_run(capsys, example, key, "--now", NOW)
    assert result.code == 1, result.err
    evidence = json.loads(next((example / "customers" / key / "evidence").glob("ev-*[0-9a-f].json"))
                          .read_text())
    by_id = {c["id"]: c for c in evidence["cases"]}
    assert by_id["a"]["passed"] and by_id["a"]["tokens"] == {"input": 1, "output": 7}
    assert by_id["b"]["fault"]["category"] == "malformed JSON"
    assert by_id["c"]["fault"] == {
        "category": "http error",
        "reason": "HTTP 500 server_error after 3 attempts: The server had an error while "
                  "processing your request."}
    assert {i: by_id[i]["fault"]["category"] for i in "defg"} == {
        "d": "refusal", "e": "tool calls", "f": "empty answer", "g": "http error"}
    assert by_id["g"]["fault"]["reason"].startswith("HTTP 400 context_length_exceeded")
    assert "Traceback" not in result.out + result.err
    assert chat.invalid == []
    assert evidence["provider"]["model"] == "test-model"
    assert "sk-test" not in json.dumps(evidence) + result.out + result.err


def test_unreachable_provider_exits_3_and_writes_nothing(
        example: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-test")
    key = write_priority(example, "down", [{"id": "a", "input": {"text": "x"}}],
                         openai_workflow("http://127.0.0.1:9/v1").replace("maxRetries: 2",
                                                                           "maxRetries: 0"), wf="")
    result = dry_run(capsys, example, key, "--now", NOW)
    assert result.code == 3
    assert result.err.endswith("error: the openai provider was unreachable for every case; "
                               "no evidence was written\n")
    assert evidence_files(example, key) == []


def test_replay_provider(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = '    provider: replay\n    version: "1"\n    replay: recorded.jsonl'
    key = write_priority(example, "replay", [case("a"), case("b")], workflow, wf="")
    (example / "customers" / key / "recorded.jsonl").write_text(
        '{"id": "a", "output": {"label": "a"}}\n')
    result = dry_run(capsys, example, key, "--now", NOW)
    assert result.code == 1
    assert "  no recording: 1 (b)" in result.out


def test_bundled_examples_run_offline(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("northwind-insurance/claims-intake", "helio-saas/ticket-triage",
                "helio-saas/refund-requests"):
        result = dry_run(capsys, example, key, "--now", NOW)
        assert result.code in (0, 1), result.err
        doc, _ = load_document(str(example), f"customers/{key}/priority.yaml")
        fp = fingerprint(str(example), key, doc.model)  # type: ignore[union-attr]
        summary = current_evidence(str(example), key, fp)
        assert summary is not None and summary.passed is (result.code == 0)
        assert summary.cases > 20
