"""Faults in what ailoop depends on: the model endpoint, monitoring, the git remote, the
disk. Each fails closed: the priority holds (never promotes), the run exits 1, 2 or 3 with a
clear message and no traceback, and nothing is left half-written."""

from __future__ import annotations

import json
import resource
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.evidence import read_evidence
from tests.acceptance.test_dry_run_cli import openai_workflow, write_priority
from tests.reliability.support import (
    at,
    bot_subjects,
    ready_repo,
    run_forked,
    worktree_state,
)
from tests.support import GitRepo, candidate_stage, git, minimal_repo, run_cli
from tests.unit.reconciler.builders import T0

KEY = "acme/triage"
NOW = "2026-11-20T10:00:00Z"


# --- a small HTTP stand-in with one behaviour per test -------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.reply = reply  # (status, headers, body bytes) or a callable raising to drop

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up (timeout) is expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(length)
        reply = self.server.reply
        if reply == "drop":  # close the connection without an answer
            self.close_connection = True
            return
        if reply == "slow":
            time.sleep(3)
            reply = (200, {}, b"{}")
        status, headers, body = reply
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def stand_in() -> Iterator[_Server]:
    server = _Server((200, {}, b"{}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --- model endpoint down, slow, returning garbage -------------------------------------------

GARBAGE = {
    "html": (200, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"),
    "truncated-json": (200, {}, b'{"choices": [{"message": {"content": "par'),
    "no-choices": (200, {}, b'{"choices": []}'),
    "null-content": (200, {}, b'{"choices": [{"message": {"content": null}}]}'),
    "wrong-types": (200, {}, b'{"choices": [{"message": {"content": "x"}}], '
                             b'"usage": {"prompt_tokens": "many"}}'),
    "json-array": (200, {}, b"[1, 2, 3]"),
    "empty-body": (200, {}, b""),
    "error-500": (500, {}, b'{"error": {"message": "overloaded"}}'),
    "dropped-connection": "drop",
    "slow": "slow",
}


@pytest.mark.parametrize("mode", sorted(GARBAGE))
def test_model_endpoint_garbage_fails_the_cases_not_the_tool(
        mode: str, stand_in: _Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in.reply = GARBAGE[mode]
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-test")
    root = minimal_repo(tmp_path / "repo")
    workflow = openai_workflow(f"{stand_in.url}/v1").replace("maxRetries: 2", "maxRetries: 0")
    if mode == "slow":
        workflow += "\n      timeoutSeconds: 1"
    key = write_priority(root, "chat", [{"id": "a", "input": {"text": "hi"}},
                                        {"id": "b", "input": {"text": "ho"}}], workflow, wf="")
    result = run_cli(capsys, "-C", str(root), "dry-run", key, "--now", NOW, "--no-cache")
    assert "Traceback" not in result.out + result.err
    if mode in ("dropped-connection",):
        # Never answered: the endpoint counts as unreachable; nothing is written.
        assert result.code == 3, result.err
        assert result.err.endswith("no evidence was written\n")
        assert read_evidence(str(root), key) == []
        return
    assert result.code == 1, result.err
    [evidence] = read_evidence(str(root), key)
    assert not evidence.passed and evidence.failed == 2
    body = json.loads((root / evidence.path).read_text())
    assert {c["fault"]["category"] for c in body["cases"]} <= {"http error", "timeout",
                                                               "malformed JSON",
                                                               "empty answer"}


# --- monitoring down, empty, NaN, stale ------------------------------------------------------

@pytest.fixture(scope="module")
def at_shadow(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """One priority in its first stage (entered at minute 1, bake time 1h)."""
    repo = ready_repo(tmp_path_factory.mktemp("faults") / "t", ("triage",))
    from pipeline.cli.main import main

    assert run_forked(lambda: main(["-C", str(repo.work), "reconcile", "--now", at(1)])) == 0
    return repo


def _copy(repo: GitRepo, dest: Path) -> Path:
    import shutil

    shutil.copytree(repo.work, dest, symlinks=True)
    return dest


def _plan(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, Any]:
    result = run_cli(capsys, "-C", str(root), "plan", "--format", "json", "--no-cache",
                     "--now", at(62))
    # 3: a monitoring source was unreachable; the plan is still printed, and holds.
    assert result.code in (0, 3), result.err
    assert (result.code == 3) == ("monitoring unavailable" in result.err), result.err
    assert "Traceback" not in result.out + result.err
    data = json.loads(result.out)
    rows = data["priorities"] if isinstance(data, dict) else data
    found: dict[str, Any] = next(p for p in rows if p["priority"] == KEY)
    return found


def _readings(root: Path, lines: list[str]) -> None:
    (root / "monitoring" / "readings.jsonl").write_text("".join(lines))


def _reading(minutes: int, value: Any = 0.005, samples: Any = 500) -> str:
    when = T0.replace(minute=0) + __import__("datetime").timedelta(minutes=minutes)
    return json.dumps({"priority": KEY, "metric": "error_rate", "time": when.isoformat(),
                       "value": value, "samples": samples, "variant": "new"}) + "\n"


MONITORING_FAULTS = {
    "file-missing": lambda root: (root / "monitoring" / "readings.jsonl").unlink(),
    "file-empty": lambda root: _readings(root, []),
    "file-is-a-folder": lambda root: ((root / "monitoring" / "readings.jsonl").unlink(),
                                      (root / "monitoring" / "readings.jsonl").mkdir()),
    "nan-values": lambda root: _readings(root, [_reading(m, float("nan"))
                                                for m in range(0, 70, 5)]),
    "infinite-values": lambda root: _readings(root, [_reading(m, float("inf"))
                                                     for m in range(0, 70, 5)]),
    "stale": lambda root: _readings(root, [_reading(m) for m in range(0, 20, 5)]),
    "too-few-samples": lambda root: _readings(root, [_reading(m, samples=1)
                                                     for m in range(0, 70, 5)]),
    "garbage-lines": lambda root: _readings(root, ["not json\n", "\0\0\0\n", "[]\n",
                                                   '{"priority": "acme/triage"}\n']),
    "negative-samples": lambda root: _readings(root, [_reading(m, samples=-500)
                                                      for m in range(0, 70, 5)]),
    "nan-strings": lambda root: _readings(root, [_reading(m, value="NaN")
                                                 for m in range(0, 70, 5)]),
}


def test_healthy_monitoring_promotes_the_control_case(at_shadow: GitRepo, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(capsys, _copy(at_shadow, tmp_path / "w"))
    assert (candidate_stage(plan), plan["actions"][0]["kind"]) == ("canary", "promote")


@pytest.mark.parametrize("fault", sorted(MONITORING_FAULTS))
def test_monitoring_faults_hold(fault: str, at_shadow: GitRepo, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(at_shadow, tmp_path / "w")
    MONITORING_FAULTS[fault](root)
    plan = _plan(capsys, root)
    assert candidate_stage(plan) == "shadow"
    assert all(a["kind"] != "promote" for a in plan["actions"])
    assert plan["actions"][0]["gate"] == "monitoring"


def _prometheus(root: Path, url: str) -> None:
    project = root / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        "    provider: file\n    file:\n      path: monitoring/readings.jsonl\n",
        f"    provider: prometheus\n    prometheus:\n      url: {url}\n"
        "      timeoutSeconds: 1\n"))


def _matrix(values: list[tuple[float, str]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"priority": KEY}, "values": [[t, v] for t, v in values]}]}}).encode()


def _points(value: str, start_minutes: int = 2, end_minutes: int = 62) -> list[tuple[float,
                                                                                      str]]:
    base = T0.timestamp()
    return [(base + 60 * m, value) for m in range(start_minutes, end_minutes + 1)]


PROMETHEUS_FAULTS: dict[str, Any] = {
    "down": None,
    "slow": "slow",
    "dropped-connection": "drop",
    "html": (200, {"Content-Type": "text/html"}, b"<html>oops</html>"),
    "server-error": (503, {}, b'{"status": "error", "errorType": "unavailable", '
                              b'"error": "overloaded"}'),
    "empty-result": (200, {}, _matrix([])[:0] or json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()),
    "nan": (200, {}, _matrix(_points("NaN"))),
    "inf": (200, {}, _matrix(_points("+Inf"))),
    "stale": (200, {}, _matrix(_points("0.001", 2, 10))),
    "not-a-number": (200, {}, _matrix(_points("zero"))),
}


@pytest.mark.parametrize("fault", sorted(PROMETHEUS_FAULTS))
def test_prometheus_faults_hold(fault: str, at_shadow: GitRepo, tmp_path: Path,
                                stand_in: _Server, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(at_shadow, tmp_path / "w")
    reply = PROMETHEUS_FAULTS[fault]
    _prometheus(root, "http://127.0.0.1:9" if reply is None else stand_in.url)
    stand_in.reply = reply
    plan = _plan(capsys, root)
    assert candidate_stage(plan) == "shadow"
    assert all(a["kind"] != "promote" for a in plan["actions"])
    assert plan["actions"][0]["gate"] == "monitoring"


def test_prometheus_healthy_control_case_promotes(at_shadow: GitRepo, tmp_path: Path,
                                                  stand_in: _Server,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(at_shadow, tmp_path / "w")
    _prometheus(root, stand_in.url)
    stand_in.reply = (200, {}, _matrix(_points("0.001")))
    plan = _plan(capsys, root)
    assert candidate_stage(plan) == "shadow"  # one point per minute = one sample each: too few
    assert plan["actions"][0]["gate"] == "monitoring"


# --- git remote down or rejecting -----------------------------------------------------------

def _ready(tmp: Path) -> GitRepo:
    return ready_repo(tmp / "t", ("triage",))


def test_remote_gone_exits_3_then_converges(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    repo = _ready(tmp_path)
    hidden = repo.remote.with_name("hidden.git")
    repo.remote.rename(hidden)
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert result.code == 3
    assert result.err.startswith("error: git push failed: ")
    assert "Traceback" not in result.err
    hidden.rename(repo.remote)
    again = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert again.code == 0, again.err
    assert bot_subjects(repo) == ["ailoop: promote acme/triage to shadow (0%)"]
    assert repo.git("status", "--porcelain") == ""


def _hook(repo: GitRepo, script: str) -> None:
    hook = repo.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)


def test_remote_rejecting_every_push_exits_3_without_retrying_forever(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _ready(tmp_path)
    _hook(repo, "echo 'protected branch: status checks required' >&2\nexit 1\n")
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert result.code == 3
    assert result.err.startswith("error: ")
    assert bot_subjects(repo) == []
    (repo.remote / "hooks" / "pre-receive").unlink()
    again = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert again.code == 0, again.err
    assert bot_subjects(repo) == ["ailoop: promote acme/triage to shadow (0%)"]


def test_remote_rejecting_mid_push_once_then_accepting(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    repo = _ready(tmp_path)
    flag = tmp_path / "rejected-once"
    _hook(repo, f"if [ ! -e '{flag}' ]; then touch '{flag}'; echo 'try later' >&2; exit 1; fi\n"
                "exit 0\n")
    first = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert first.code == 3
    assert bot_subjects(repo) == []
    second = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now", at(1))
    assert second.code == 0, second.err
    assert bot_subjects(repo) == ["ailoop: promote acme/triage to shadow (0%)"]
    assert repo.git("rev-parse", "HEAD") == git(repo.remote, "rev-parse", "main")


# --- disk full ------------------------------------------------------------------------------

def _with_file_limit(limit: int, argv: list[str], err: Path, *,
                     from_first_status_write: bool = False) -> int:
    """Run the CLI in a forked child whose files may not grow past `limit` bytes (EFBIG,
    as on a full disk), from the start or from the reconciler's first file write on (git
    itself writes its index first); stderr goes to `err`."""
    def child() -> int:
        import contextlib
        import io

        import pipeline.reconcile.apply as apply
        from pipeline.cli.main import main

        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        real = apply.write_atomic

        def full_disk_write(*args: Any, **kwargs: Any) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
            real(*args, **kwargs)

        if from_first_status_write:
            apply.write_atomic = full_disk_write  # type: ignore[assignment]
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        buffer = io.StringIO()
        with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        err.write_text(buffer.getvalue())
        return code

    return run_forked(child)


def test_disk_full_while_writing_evidence(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = minimal_repo(tmp_path / "repo")
    err = tmp_path / "err.txt"
    argv = ["-C", str(root), "dry-run", KEY, "--now", NOW, "--no-cache"]
    assert _with_file_limit(600, argv, err) == 3
    message = err.read_text()
    assert "error: cannot write " in message and "File too large; nothing was written" \
        in message
    assert "Traceback" not in message and "internal error" not in message
    folder = root / "customers" / KEY / "evidence"
    assert sorted(p.name for p in folder.iterdir()) == [] if folder.exists() else True
    # Space again: the next run writes complete evidence.
    again = run_cli(capsys, *argv)
    assert again.code in (0, 1), again.err
    assert len(read_evidence(str(root), KEY)) == 1


def test_disk_full_while_writing_status_exits_3_and_converges(tmp_path: Path) -> None:
    repo = _ready(tmp_path)
    err = tmp_path / "err.txt"
    argv = ["-C", str(repo.work), "reconcile", "--push", "--now", at(1), "--no-cache"]
    code = _with_file_limit(200, argv, err, from_first_status_write=True)
    assert bot_subjects(repo) == []
    assert code == 3, err.read_text()


def test_disk_full_while_writing_status_leaves_nothing_committed_and_converges(
        tmp_path: Path) -> None:
    repo = _ready(tmp_path)
    before = worktree_state(repo)
    err = tmp_path / "err.txt"
    argv = ["-C", str(repo.work), "reconcile", "--push", "--now", at(1), "--no-cache"]
    code = _with_file_limit(200, argv, err, from_first_status_write=True)
    assert code in (3, 4)
    assert "Traceback" not in err.read_text()
    assert bot_subjects(repo) == [] and worktree_state(repo) == before
    assert run_forked(lambda: __import__("pipeline.cli.main", fromlist=["main"]).main(
        argv)) == 0
    assert bot_subjects(repo) == ["ailoop: promote acme/triage to shadow (0%)"]
    assert [ln for ln in repo.git("status", "--porcelain", "--untracked-files=all")
            .splitlines() if "ailoop-tmp" not in ln] == []
