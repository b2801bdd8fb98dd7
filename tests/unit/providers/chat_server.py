"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol.

It stands in for what LiteLLM's proxy (tests/integration/test_openai_litellm.py) cannot be
made to answer. Errors have OpenAI's documented shape, {"error": {"message", "type",
"param", "code"}}, with the codes and types OpenAI's error-code guide lists. Every request
body is first checked against the official `openai` SDK's request types
(tests/unit/providers/openai_sdk.py): one the SDK would refuse gets a 400
invalid_request_error and is kept in `invalid`.

What it answers depends on the last user message:
  contains RATE-LIMIT   -> 429 rate_limit_exceeded (Retry-After: 0) the first time, then a
                           normal answer
  contains RETRY-MS     -> the same with only retry-after-ms: 250 (OpenAI sends both headers)
  contains QUOTA        -> 429 insufficient_quota (the account has no credit: never passes)
  contains SERVER-ERROR -> always 500
  contains FLAKY        -> 503 the first time, then a normal answer
  contains SLOW         -> a normal answer after 2 s
  contains NOT-JSON     -> content that is not JSON
  contains BAD-KEY      -> 401 invalid_api_key unless the bearer token is 'sk-test'
  contains FORBIDDEN    -> 403 unsupported_country_region_territory
  contains NO-MODEL     -> 404 model_not_found
  contains TOO-LONG     -> 400 context_length_exceeded
  contains REFUSE       -> a refusal: message.refusal set, content null
  contains TOOL-CALL    -> message.tool_calls and content null (finish_reason tool_calls)
  contains NULL-CONTENT -> content null, finish_reason stop
  contains CUT-SHORT    -> content "", finish_reason length (a reasoning model that spent
                           its max_completion_tokens on reasoning)
  contains JUDGE-SCORE=<s> -> a judge's answer: content = JSON {"score": <s>, "reason":
                           "graded <s>"} (<s> a number, or text kept as a string); with
                           QUOTE-ME too, the reason quotes the prompt's last line
  contains "Output A:" and "Output B:" -> a pairwise judge's answer: content = JSON
                           {"winner": ..., "reason": ...}, the output whose text carries
                           the higher QUALITY=<n> wins ("tie" when equal or absent); with
                           PICK-A in it, always "A" (a judge biased to the first position);
                           with PICK-C, "C" (not a verdict)
  otherwise             -> content = JSON {"echo": <prompt>, "n": <prompt length>}
Every answer (but SLOW) waits `latency` seconds first. Run as a module to serve from a
separate process (the benchmark does): prints the port, serves until killed; that mode is
an asyncio server that only echoes (--threads serves every behaviour above).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.unit.providers.openai_sdk import request_problems

# OpenAI's documented error bodies (message, type, param, code), by trigger word.
ERRORS: dict[str, tuple[int, str, str, str | None, str | None]] = {
    "QUOTA": (429, "You exceeded your current quota, please check your plan and billing "
              "details.", "insufficient_quota", None, "insufficient_quota"),
    "FORBIDDEN": (403, "Country, region, or territory not supported", "request_forbidden",
                  None, "unsupported_country_region_territory"),
    "NO-MODEL": (404, "The model `test-model` does not exist or you do not have access to "
                 "it.", "invalid_request_error", None, "model_not_found"),
    "TOO-LONG": (400, "This model's maximum context length is 128000 tokens. However, your "
                 "messages resulted in 130412 tokens. Please reduce the length of the "
                 "messages.", "invalid_request_error", "messages", "context_length_exceeded"),
}


def error_body(message: str, type_: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def completion(message: dict[str, Any], finish_reason: str = "stop",
               prompt_tokens: int = 3, completion_tokens: int = 7) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 1733400000,
            "model": "test-model",
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": None, "refusal": None,
                                     **message}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def judge_answer(score: str) -> dict[str, Any]:
    try:
        value: Any = float(score)
    except ValueError:
        value = score
    return {"score": value, "reason": f"graded {score}"}


def pairwise_answer(prompt: str) -> dict[str, Any]:
    if "PICK-A" in prompt or "PICK-C" in prompt:
        return {"winner": "A" if "PICK-A" in prompt else "C", "reason": "first"}
    shown_a, shown_b = prompt.split("\nOutput A:\n", 1)[1].split("\nOutput B:\n", 1)

    def quality(text: str) -> int:
        found = re.search(r"QUALITY=(\d+)", text)
        return int(found.group(1)) if found else 0

    a, b = quality(shown_a), quality(shown_b)
    return {"winner": "A" if a > b else "B" if b > a else "tie", "reason": f"{a} vs {b}"}


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.seen: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.invalid: list[list[str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> ChatServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None
              ) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        if self.path != "/v1/chat/completions":
            self._send(404, error_body(f"Invalid URL (POST {self.path})",
                                       "invalid_request_error"))
            return
        problems = request_problems(body)
        prompt = body["messages"][-1]["content"]
        with self.server.lock:
            count = self.server.seen.get(prompt, 0)
            self.server.seen[prompt] = count + 1
            self.server.requests.append(body)
            self.server.auth.append(self.headers.get("Authorization", ""))
            if problems:
                self.server.invalid.append(problems)
        if problems:
            self._send(400, error_body("; ".join(problems), "invalid_request_error"))
            return
        if "SLOW" in prompt:
            time.sleep(2.0)
        elif self.server.latency:
            time.sleep(self.server.latency)
        self._answer(prompt, count)

    def _answer(self, prompt: str, count: int) -> None:
        rate_limited = error_body("Rate limit reached for test-model on requests per min "
                                  "(RPM): Limit 3, Used 3, Requested 1.", "requests",
                                  "requests", "rate_limit_exceeded")
        word = next((w for w in ERRORS if w in prompt), None)
        if "BAD-KEY" in prompt and self.headers.get("Authorization") != "Bearer sk-test":
            self._send(401, error_body("Incorrect API key provided.", "invalid_request_error",
                                       None, "invalid_api_key"))
        elif word:
            status, message, type_, param, code = ERRORS[word]
            self._send(status, error_body(message, type_, param, code))
        elif "RATE-LIMIT" in prompt and count == 0:
            self._send(429, rate_limited, {"Retry-After": "0"})
        elif "RETRY-MS" in prompt and count == 0:
            self._send(429, rate_limited, {"retry-after-ms": "250"})
        elif "FLAKY" in prompt and count == 0:
            self._send(503, error_body("The server is overloaded.", "server_error"))
        elif "SERVER-ERROR" in prompt:
            self._send(500, error_body("The server had an error while processing your "
                                       "request.", "server_error"))
        else:
            self._send(200, self._completion(prompt))

    def _completion(self, prompt: str) -> dict[str, Any]:
        tokens = len(prompt.split())
        if "REFUSE" in prompt:
            return completion({"refusal": "I'm sorry, I can't help with that."}, "stop", tokens)
        if "TOOL-CALL" in prompt:
            call = {"id": "call_1", "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"id": "42"}'}}
            return completion({"tool_calls": [call]}, "tool_calls", tokens)
        if "NULL-CONTENT" in prompt:
            return completion({}, "stop", tokens)
        if "CUT-SHORT" in prompt:
            return completion({"content": ""}, "length", tokens, 64)
        if "\nOutput A:\n" in prompt and "\nOutput B:\n" in prompt:
            return completion({"content": json.dumps(pairwise_answer(prompt))}, "stop",
                              tokens, 12)
        graded = re.search(r"JUDGE-SCORE=([^\s\"\\,}]+)", prompt)
        if graded:
            answer = judge_answer(graded.group(1))
            if "QUOTE-ME" in prompt:
                answer["reason"] += f" after reading {prompt.splitlines()[-1]}"
            return completion({"content": json.dumps(answer)}, "stop", tokens, 12)
        content = "this is not json" if "NOT-JSON" in prompt else json.dumps(
            {"echo": prompt, "n": len(prompt)})
        return completion({"content": content}, "stop", tokens)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            latency: float) -> None:
    """Keep-alive HTTP/1.1, just enough of it for chat completions (the benchmark's
    endpoint: an event loop adds no overhead of its own to the 50 ms it waits)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            break
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = json.loads(await reader.readexactly(length))
        await asyncio.sleep(latency)
        prompt = body["messages"][-1]["content"]
        data = json.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": json.dumps({"echo": prompt})}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 5}}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        await writer.drain()
    writer.close()


async def _serve_async(latency: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _serve_connection(reader, writer, latency)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--threads", action="store_true",
                        help="serve with the threaded test server (all behaviours)")
    args = parser.parse_args(argv)
    if args.threads:
        server = ChatServer(args.latency)
        print(server.server_address[1], flush=True)
        server.serve_forever()
    else:
        asyncio.run(_serve_async(args.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
