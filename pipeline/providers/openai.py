"""The openai provider: any OpenAI-compatible chat-completions endpoint.

The API key is read from the environment variable the YAML names, never from the YAML.
Rate limits (429 but insufficient_quota), 408, 5xx answers and timeouts are retried with
exponential backoff, at most maxRetries times, honouring retry-after-ms and Retry-After (up
to 30 s); every other error fails the case at once with the server's reason. An error that
no later request can escape (a bad key, no quota, no such model) fails the remaining cases
with the same reason without asking again; so does an endpoint that refused every
connection of a case and never answered (they fail fast as unreachable).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import HTTP_ERROR, TIMEOUT, UNREACHABLE, CaseOutput, failed
from pipeline.providers.openai_wire import read_answer, read_error, request_body, sampling

_MAX_BACKOFF = 8.0
_MAX_RETRY_AFTER = 30.0
_WHERE = "spec.workflow.openai"


def compile_template(text: str, field: str) -> Any:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                               keep_trailing_newline=True)
    try:
        return env.from_string(text)
    except TemplateError as e:
        raise InputError(f"{_WHERE}.{field}: not a valid template ({e.message})") from None


def server_delay(headers: Mapping[str, str]) -> float | None:
    """The wait the server asks for: OpenAI's retry-after-ms, else Retry-After in seconds
    (an HTTP date there falls back to our own schedule)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return max(float(headers[name]) / scale, 0.0)
        except (KeyError, ValueError):
            continue
    return None


def backoff_seconds(attempt: int, base: float, asked: float | None) -> float:
    if asked is not None:
        return min(asked, _MAX_RETRY_AFTER)
    delay: float = min(base * 2 ** attempt, _MAX_BACKOFF)
    return delay * (0.5 + random.random() / 2)


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: OpenAISettings, version: str, env: Mapping[str, str], *,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 where: str = _WHERE) -> None:
        # WHERE: the spec field the settings came from (a judge's are an assertion's)
        key = env.get(settings.api_key_env, "")
        if not key:
            raise InputError(f"environment variable {settings.api_key_env} is not set "
                             f"({where}.apiKeyEnv names it; it holds the API key)")
        self.settings, self.version = settings, version
        self.secrets = (key,)
        self.prompt = compile_template(settings.prompt_template, "promptTemplate")
        self.system = compile_template(settings.system_prompt, "systemPrompt")
        self.backoff, self.sleep = backoff, sleep
        self.http = Connections(settings.base_url, key, settings.timeout_seconds, where)
        self._answered = False
        self._down = False
        self._refused = ""  # the reason every later case fails with, once one is known

    def describe(self) -> dict[str, Any]:
        s = self.settings
        prompt = hashlib.sha256(f"{s.system_prompt}\0{s.prompt_template}".encode()).hexdigest()
        described: dict[str, Any] = {"name": self.name, "baseUrl": _without_userinfo(s.base_url),
                                     "model": s.model, "promptSha256": prompt,
                                     "version": self.version}
        if sampling(s):
            described["sampling"] = sampling(s)
        return described

    def _messages(self, case: Case) -> list[dict[str, str]]:
        messages = []
        if self.settings.system_prompt:
            messages.append({"role": "system", "content": self.system.render(case.input)})
        messages.append({"role": "user", "content": self.prompt.render(case.input)})
        return messages

    def run(self, case: Case) -> CaseOutput:
        if self._down:
            return failed(UNREACHABLE, f"cannot reach {_without_userinfo(self.settings.base_url)}")
        if self._refused:
            return failed(HTTP_ERROR, self._refused)
        try:
            messages = self._messages(case)
        except TemplateError as e:
            return failed("prompt template", f"prompt template: {e.message}")
        return self.complete(messages)

    def complete(self, messages: list[dict[str, str]]) -> CaseOutput:
        """One chat completion of MESSAGES, with the retries and the cost (a judge's call
        goes through here too)."""
        if self._down:
            return failed(UNREACHABLE, f"cannot reach {_without_userinfo(self.settings.base_url)}")
        if self._refused:
            return failed(HTTP_ERROR, self._refused)
        body = request_body(self.settings, messages)
        started = time.monotonic()
        result = self._with_retries(body)
        latency = round((time.monotonic() - started) * 1000, 3)
        return CaseOutput(**{**result.__dict__, "latency_ms": latency})

    def _with_retries(self, body: dict[str, Any]) -> CaseOutput:
        last = failed(UNREACHABLE, "no attempt made")
        asked: float | None = None
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                self.sleep(backoff_seconds(attempt - 1, self.backoff, asked))
            outcome, retry, asked = self._attempt(body)
            if not retry:
                return outcome
            last = outcome
        if last.fault == UNREACHABLE and not self._answered:
            self._down = True
        return last

    def _attempt(self, body: dict[str, Any]) -> tuple[CaseOutput, bool, float | None]:
        """One request -> (outcome, worth retrying, the wait the server asked for)."""
        try:
            code, headers, data = self.http.post(body)
        except TimeoutError:
            reason = f"no answer within {self.settings.timeout_seconds:g} s"
            return failed(TIMEOUT, reason), True, None
        except (OSError, http.client.HTTPException) as e:
            where = _without_userinfo(self.settings.base_url)
            reason = f"cannot reach {where} ({type(e).__name__})"
            return failed(UNREACHABLE, reason), True, None
        self._answered = True
        if code < 400:
            return read_answer(data, self.settings), False, None
        error = read_error(code, data)
        if error.retryable:
            reason = error.reason(attempts=self.settings.max_retries + 1)
            return failed(HTTP_ERROR, reason), True, server_delay(headers)
        if error.for_every_case:
            self._refused = error.reason()
        return failed(HTTP_ERROR, error.reason()), False, None

    def close(self) -> None:
        self.http.close()


def _without_userinfo(url: str) -> str:
    """The URL without 'user:password@' (evidence is committed; credentials are not)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class Connections:
    """One keep-alive connection per thread (http.client: lean enough that a thousand
    requests cost the client little next to the endpoint's own latency)."""

    def __init__(self, base_url: str, key: str, timeout: float, where: str = _WHERE) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{where}.baseUrl: '{_without_userinfo(base_url)}' is not an "
                             "http(s) URL")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.path = parts.path.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Authorization": f"Bearer {key}"}
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def post(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        payload = json.dumps(body).encode()
        for reused in (True, False):
            conn = self._connection()
            fresh = conn.sock is None
            try:
                conn.request("POST", self.path, body=payload, headers=self.headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if fresh or not reused:
                    raise
                continue  # the server closed an idle keep-alive connection: reconnect once
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            headers = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers, data
        raise http.client.HTTPException("no answer")  # pragma: no cover - the loop returns

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
