"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol.

What it answers depends on the last user message:
  contains RATE-LIMIT   -> 429 (with Retry-After: 0) the first time, then a normal answer
  contains SERVER-ERROR -> always 500
  contains FLAKY        -> 503 the first time, then a normal answer
  contains SLOW         -> a normal answer after 2 s
  contains NOT-JSON     -> content that is not JSON
  contains BAD-KEY      -> 401 unless the bearer token is 'sk-test'
  otherwise             -> content = JSON {"echo": <prompt>, "n": <prompt length>}
Every answer (but SLOW) waits `latency` seconds first. Run as a module to serve from a
separate process (the benchmark does): prints the port, serves until killed; that mode is
an asyncio server that only echoes (--threads serves every behaviour above).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.seen: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str] = []
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
            self._send(404, {"error": {"message": "not found"}})
            return
        prompt = body["messages"][-1]["content"]
        with self.server.lock:
            count = self.server.seen.get(prompt, 0)
            self.server.seen[prompt] = count + 1
            self.server.requests.append(body)
            self.server.auth.append(self.headers.get("Authorization", ""))
        if "SLOW" in prompt:
            time.sleep(2.0)
        elif self.server.latency:
            time.sleep(self.server.latency)
        self._answer(prompt, count)

    def _answer(self, prompt: str, count: int) -> None:
        if "BAD-KEY" in prompt and self.headers.get("Authorization") != "Bearer sk-test":
            self._send(401, {"error": {"message": "Incorrect API key provided"}})
        elif "RATE-LIMIT" in prompt and count == 0:
            self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
        elif "FLAKY" in prompt and count == 0:
            self._send(503, {"error": {"message": "overloaded"}})
        elif "SERVER-ERROR" in prompt:
            self._send(500, {"error": {"message": "boom"}})
        else:
            content = "this is not json" if "NOT-JSON" in prompt else json.dumps(
                {"echo": prompt, "n": len(prompt)})
            self._send(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 7,
                          "total_tokens": len(prompt.split()) + 7}})


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
