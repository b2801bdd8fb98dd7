"""LiteLLM's proxy on 127.0.0.1: a real OpenAI-compatible server that runs offline.

Its models answer from `mock_response` (no upstream is called), or raise LiteLLM's own mock
errors, except `upstream`, which forwards to a stand-in chat server on 127.0.0.1 so a test
can see what the proxy passed on. LiteLLM still checks every request it mocks: the request
parsing, the master key, and each model's supported parameters (an o-series model refuses
a temperature other than 1).

The proxy lives in .venv-litellm (tests/tools/litellm-venv.sh makes it; `.ci/run` runs that
before the tests). Without it these tests skip, unless AILOOP_REQUIRE_REAL=1 (CI sets it):
then they fail, so CI never passes by skipping them. One proxy serves the whole session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.prometheus_fixture import free_port
from tests.support import missing
from tests.unit.providers.chat_server import ChatServer

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-litellm"
INSTALL = "tests/tools/litellm-venv.sh"
MASTER_KEY = "sk-ailoop-litellm-test"
ANSWER = '{"label": "billing"}'
JUDGE_ANSWER = '{"score": 0.9, "reason": "polite and on topic"}'
READY_WITHIN = 120.0


def _mocked(name: str, model: str, mock: str) -> dict[str, object]:
    return {"model_name": name, "litellm_params": {
        "model": model, "api_key": "sk-upstream-unused", "mock_response": mock}}


def proxy_config(upstream_url: str) -> dict[str, object]:
    return {
        "model_list": [
            _mocked("gpt-4o-mini", "openai/gpt-4o-mini", ANSWER),
            _mocked("o3-mini", "openai/o3-mini", ANSWER),
            _mocked("judge-mini", "openai/gpt-4o-mini", JUDGE_ANSWER),
            _mocked("rate-limited", "openai/gpt-4o-mini", "litellm.RateLimitError"),
            _mocked("overloaded", "openai/gpt-4o-mini", "litellm.InternalServerError"),
            {"model_name": "upstream", "litellm_params": {
                "model": "openai/test-model", "api_base": upstream_url, "api_key": "sk-test"}},
        ],
        # Our provider does the retrying; the proxy must pass each error straight on.
        "litellm_settings": {"num_retries": 0, "telemetry": False},
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }


@dataclass
class RunningProxy:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    upstream: ChatServer
    startup_seconds: float = 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: uvicorn too
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.upstream.stop()


def litellm_binary() -> Path:
    binary = VENV / "bin" / "litellm"
    if not binary.exists():
        reason = f"LiteLLM's proxy is not installed ({binary} is missing; run {INSTALL})"
        missing(reason)
    return binary


def start_proxy(workdir: Path) -> RunningProxy:
    binary = litellm_binary()
    upstream = ChatServer().start()
    config = workdir / "litellm.json"  # JSON is YAML: the proxy reads it as its config
    config.write_text(json.dumps(proxy_config(upstream.url)))
    port, log = free_port(), workdir / "litellm.log"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no download at start
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env,
            start_new_session=True)
    running = RunningProxy(f"http://127.0.0.1:{port}", process, log, upstream)
    _wait_ready(running)
    running.startup_seconds = round(time.monotonic() - started, 1)
    with log.open("a") as out:
        out.write(f"\nailoop tests: ready after {running.startup_seconds} s\n")
    return running


def _wait_ready(running: RunningProxy) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline and running.process.poll() is None:
        try:
            if httpx.get(f"{running.url}/health/readiness", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    running.stop()
    raise RuntimeError(f"LiteLLM's proxy did not become ready; see {running.log}")


@pytest.fixture(scope="session")
def litellm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    running = start_proxy(tmp_path_factory.mktemp("litellm"))
    try:
        yield running
    finally:
        running.stop()
