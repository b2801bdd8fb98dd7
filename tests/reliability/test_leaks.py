"""Leaks: planted personal data and planted secrets never appear in anything ailoop writes
or prints. One repository goes through the loop (validate, dry run with an OpenAI-style
endpoint that echoes the API key in its errors, plan, reconcile, status, update, site, the
PR comment and gate against a GitHub stand-in, a crash) and every file, every output and
every request body the stand-ins received is searched for every planted value."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance import github_fake
from tests.acceptance.approvals_support import approvals_repo, customer_yaml
from tests.acceptance.github_fake import REPO, FakeGitHub, changed_file, pull, serve
from tests.reliability.support import files_under, hits, read_all
from tests.support import GitRepo, run_cli

NOW = "2026-11-20T10:00:00Z"
GITHUB_TOKEN = "ghp_" + "C4n4ryT0k3nXyZ" + "a" * 22  # the shape of a GitHub token
OPENAI_KEY = "sk-proj-CANARY" + "k" * 40
OTHER_SECRET = "AKIACANARYSECRET7777"
PERSONAL = {
    "name": "Quintessa Canarywood",
    "email": "quintessa.canary7331@example.org",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "card": "4111 1111 1111 1111",
    "phone": "+44 20 7946 0958",
}
NEEDLES = [GITHUB_TOKEN, OPENAI_KEY, OTHER_SECRET, *PERSONAL.values(),
           PERSONAL["iban"].replace(" ", ""), PERSONAL["card"].replace(" ", ""),
           "Canarywood", OPENAI_KEY[8:]]
REPORT: dict[str, int] = {}

CHAT_PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: chat
spec:
  goal: Answer claims questions.
  owner: ann
  inputData:
    source: helpdesk
    personalData: true
    redaction:
      fields: [name]
  expectedOutput:
    description: a label
    format: json
  risk: low
  workflow:
    provider: openai
    version: "1.0.0"
    openai:
      baseUrl: {url}/v1
      model: test-model
      apiKeyEnv: CANARY_OPENAI_KEY
      promptTemplate: "{{{{ text }}}} from {{{{ name }}}}"
      maxRetries: 1
  dryRun:
    dataset: dataset.jsonl
    assertions:
      - type: field-equals
        field: label
    thresholds:
      passRate: 0.9
  rollout:
    target: shadow
    stages:
      - name: shadow
        percent: 0
        bakeTime: 1h
        approvals:
          - role: customer-reviewer
"""


class _Chat(BaseHTTPRequestHandler):
    """Echoes the prompt; 'KEY-ECHO' answers 401 quoting the bearer token, as some
    providers do; 'KEY-500' answers 500 with the key in the body."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        key = self.headers.get("Authorization", "")
        if "KEY-ECHO" in prompt:
            status, reply = 401, {"error": {"message": f"Incorrect API key provided: {key}"}}
        elif "KEY-500" in prompt:
            status, reply = 500, {"error": {"message": f"upstream failed for {key}"}}
        else:
            status, reply = 200, {"choices": [{"message": {"content": json.dumps(
                {"label": "claim", "echo": prompt})}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def chat() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setattr(github_fake, "TOKEN", GITHUB_TOKEN)
    with serve(FakeGitHub()) as running:
        monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", running.url)
        yield running


def _cases() -> list[dict[str, Any]]:
    p = PERSONAL
    return [
        {"id": "c1", "input": {"text": f"mail {p['email']} iban {p['iban']}", "name": p["name"]},
         "expected": {"label": "claim"}},
        {"id": "c2", "input": {"text": f"card {p['card']} phone {p['phone']}", "name": p["name"]},
         "expected": {"label": "claim"}},
        {"id": "c3", "input": {"text": "KEY-ECHO", "name": p["name"]},
         "expected": {"label": "claim"}},
        {"id": "c4", "input": {"text": "KEY-500", "name": p["name"]},
         "expected": {"label": "claim"}},
    ]


def _plant(repo: GitRepo, url: str) -> str:
    """The PR: a new priority with personal data in its dataset, an incident and feedback
    quoting a customer; returns the base sha."""
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    folder = repo.work / "customers/acme/chat"
    (folder / "events").mkdir(parents=True)
    (folder / "priority.yaml").write_text(CHAT_PRIORITY.format(url=url))
    (folder / "dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in _cases()))
    p = PERSONAL
    (folder / "events" / "inc-1.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Incident\nmetadata:\n  name: inc-1\nspec:\n"
        "  severity: low\n  reportedBy: ann\n  time: 2026-11-20T08:00:00Z\n"
        f"  summary: Claim of {p['email']} (IBAN {p['iban']}) was misrouted.\n")
    return base


def _run(capsys: pytest.CaptureFixture[str], outputs: dict[str, str], repo: GitRepo,
         *args: str) -> int:
    result = run_cli(capsys, "-C", str(repo.work), *args)
    outputs[f"stdout of {' '.join(args)}"] = result.out
    outputs[f"stderr of {' '.join(args)}"] = result.err
    assert "Traceback" not in result.out + result.err
    return result.code


def test_planted_values_never_leave(tmp_path: Path, chat: str, github: FakeGitHub,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    crash_dir = tmp_path / "tmp"
    crash_dir.mkdir()
    monkeypatch.setenv("TMPDIR", str(crash_dir))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setenv("CANARY_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", OTHER_SECRET)
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    repo = approvals_repo(tmp_path, customer_yaml())
    base = _plant(repo, chat)
    out = tmp_path / "out"
    outputs: dict[str, str] = {}
    key = "acme/chat"
    assert _run(capsys, outputs, repo, "validate") in (0, 1)
    assert _run(capsys, outputs, repo, "dry-run", key, "--now", NOW, "--junit",
                str(out / "junit.xml"), "--markdown", str(out / "summary.md")) == 1
    head = repo.commit_all("Add acme/chat")
    github.pulls[7] = pull(7, "eve-dev", head, base)
    github.files[7] = [changed_file(p) for p in repo.git("diff", "--name-only", base,
                                                         head).splitlines()]
    for args in (("plan", "--now", NOW), ("plan", "--format", "md", "--now", NOW),
                 ("plan", "--format", "json", "--now", NOW), ("status", "--now", NOW),
                 ("reconcile", "--now", NOW), ("gate", "--pr", "7"),
                 ("comment", "--pr", "7", "--base", base, "--now", NOW),
                 ("update", key, "--now", NOW), ("update", key, "--format", "html",
                                                 "--now", NOW),
                 ("update", key, "--out", str(out / "update.md"), "--now", NOW),
                 ("site", "--out", str(out / "site"), "--now", NOW),
                 ("review", key, "--now", NOW), ("lessons", "search", "claim")):
        assert _run(capsys, outputs, repo, *args) in (0, 1, 2, 3), outputs
    assert outputs[f"stdout of update {key} --now {NOW}"].startswith("wrote ")
    assert outputs[f"stdout of site --out {out / 'site'} --now {NOW}"].startswith("wrote ")
    # A crash whose exception quotes a secret: the crash log must not keep it.
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"client failed with headers {{'Authorization': 'Bearer "
                           f"{OPENAI_KEY}', 'token': '{GITHUB_TOKEN}'}}")

    monkeypatch.setattr("pipeline.reconcile.apply.make_plan", boom)
    assert _run(capsys, outputs, repo, "plan", "--now", NOW) == 4
    crash_logs = list(crash_dir.glob("ailoop-crash-*.log"))
    assert len(crash_logs) == 1 and "RuntimeError" in crash_logs[0].read_text()

    produced = files_under(repo.work, out, crash_dir, skip=(".git",))
    produced += files_under(repo.work / ".git" / "ailoop-cache") \
        if (repo.work / ".git" / "ailoop-cache").exists() else []
    produced += [summary] if summary.exists() else []
    planted = {"dataset.jsonl", "inc-1.yaml", "priority.yaml", "customer.yaml"}  # inputs
    texts = read_all(p for p in produced if p.name not in planted)
    texts.update(outputs)
    sent = {f"comment {c['id']}": c["body"] for cs in github.comments.values() for c in cs}
    sent.update({f"status {i}": json.dumps(s) for i, (_sha, s) in enumerate(github.statuses)})
    texts.update(sent)
    texts["git log"] = repo.git("log", "--all", "--format=%B")
    assert sent, "the PR comment was posted"
    assert any("dry run" in t.lower() for t in sent.values())
    found = hits(NEEDLES, texts)
    REPORT.update(planted=len(NEEDLES), places=len(texts), found=len(found))
    assert found == []
    # The redaction is visible, so the check above is not vacuous.
    evidence = "".join(t for k, t in texts.items() if "/evidence/ev-" in k)
    assert "[redacted:email]" in evidence and "[redacted:iban]" in evidence
    assert "[redacted:secret]" in evidence


def test_secrets_in_provider_errors_are_redacted_in_every_field(
        tmp_path: Path, chat: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPENAI_KEY", OPENAI_KEY)
    repo = approvals_repo(tmp_path, customer_yaml())
    _plant(repo, chat)
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", "acme/chat", "--now", NOW)
    assert result.code == 1
    [path] = (repo.work / "customers/acme/chat/evidence").glob("ev-*[0-9a-f].json")
    cases = {c["id"]: c for c in json.loads(path.read_text())["cases"]}
    assert cases["c3"]["fault"]["reason"] == \
        "HTTP 401: Incorrect API key provided: Bearer [redacted:secret]"
    assert OPENAI_KEY not in path.read_text() + result.out + result.err


def test_the_github_token_never_reaches_a_pr_comment_or_the_terminal_on_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], github: FakeGitHub,
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = approvals_repo(tmp_path, customer_yaml())
    base = repo.git("rev-parse", "HEAD")
    github.pulls[7] = pull(7, "eve-dev", base, base)
    github.files[7] = []
    github.fail[("reviews", 1)] = 401
    outputs: dict[str, str] = {}
    for args in (("gate", "--pr", "7"), ("comment", "--pr", "7", "--base", base)):
        assert _run(capsys, outputs, repo, *args) in (1, 2, 3)
    monkeypatch.setenv("GITHUB_API_URL", f"http://user:{GITHUB_TOKEN}@127.0.0.1:9")
    _run(capsys, outputs, repo, "gate", "--pr", "7")
    assert hits([GITHUB_TOKEN, GITHUB_TOKEN[4:20]], outputs) == []


def test_credentials_in_a_base_url_never_reach_the_evidence(
        tmp_path: Path, chat: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPENAI_KEY", OPENAI_KEY)
    repo = approvals_repo(tmp_path, customer_yaml())
    _plant(repo, chat.replace("http://", f"http://user:{OTHER_SECRET}@"))
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", "acme/chat", "--now", NOW,
                     "--junit", str(tmp_path / "junit.xml"))
    assert result.code == 1, result.err
    texts = read_all(files_under(repo.work / "customers/acme/chat/evidence",
                                 tmp_path / "junit.xml"))
    texts.update(out=result.out, err=result.err)
    assert hits([OTHER_SECRET, OPENAI_KEY], texts) == []


def test_credentials_in_an_unreachable_base_url_never_reach_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_OPENAI_KEY", OPENAI_KEY)
    repo = approvals_repo(tmp_path, customer_yaml())
    _plant(repo, f"http://user:{OTHER_SECRET}@127.0.0.1:9")
    result = run_cli(capsys, "-C", str(repo.work), "dry-run", "acme/chat", "--now", NOW)
    assert result.code == 3, result.err
    assert "cannot reach" in result.out + result.err or "unreachable" in result.err
    assert hits([OTHER_SECRET, OPENAI_KEY], {"out": result.out, "err": result.err}) == []
