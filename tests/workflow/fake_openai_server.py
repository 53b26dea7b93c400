"""Serve a scriptable OpenAI-compatible `/v1/chat/completions` endpoint on 127.0.0.1 for tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass
class Script:
    """Describe how the fake server answers; tests change it between requests."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake", " server."])
    fail_first: int = 0
    fail_status: int = 500
    retry_after: str | None = None
    always_status: int | None = None
    stall_first: int = 0
    stall_seconds: float = 2.0
    stall_after: int | None = None
    garbage_after: int | None = None
    truncate_after: int | None = None
    error_event_after: int | None = None
    chunk_delay: float = 0.0
    # Token counts sent in a last, choice-less chunk when the request asks for them (as OpenAI does).
    usage: tuple[int, int] | None = (12, 5)


class FakeOpenAIServer:
    """Run the fake server in a daemon thread; use as a context manager."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        # A short poll interval keeps shutdown, and so each test's teardown, quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        """Return the URL to give the openai client as `base_url`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def request_count(self) -> int:
        """Return how many chat completion requests arrived so far."""
        with self._lock:
            return len(self.bodies)

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        """Remember one request and return its 1-based number."""
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return len(self.bodies)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Wake stalled handlers first so shutdown never waits on a sleeping thread.
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out close their socket mid-answer; that is the point of the test.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != CHAT_PATH:
            self._send_error(404, f"no route for {self.path}")
            return
        number = owner.record(json.loads(raw or b"{}"), {k.lower(): v for k, v in self.headers.items()})
        script = owner.script
        if number <= script.stall_first and owner.stopping.wait(script.stall_seconds):
            return
        if script.always_status is not None:
            self._send_error(script.always_status, f"scripted HTTP {script.always_status}")
        elif number <= script.fail_first:
            self._send_error(script.fail_status, f"scripted failure {number}")
        else:
            self._send_stream(script, body=owner.bodies[number - 1])

    def _send_error(self, status: int, message: str) -> None:
        payload = json.dumps({"error": {"message": message, "type": "fake_error", "code": status}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        script = self.server.owner.script
        if script.retry_after is not None:
            self.send_header("Retry-After", script.retry_after)
        self.end_headers()
        self.wfile.write(payload)

    def _send_stream(self, script: Script, *, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        for index, text in enumerate(script.chunks):
            if self._interrupt(script, index):
                return
            self._event(_chunk(model, {"content": text}))
            if script.chunk_delay:
                self.server.owner.stopping.wait(script.chunk_delay)
        self._event(_chunk(model, {}, finish_reason="stop"))
        if script.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            prompt, completion = script.usage
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            self._event({**_chunk(model, {}), "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _interrupt(self, script: Script, index: int) -> bool:
        """Misbehave before chunk `index` as scripted; return True to end the answer there."""
        if index == script.stall_after:
            self.server.owner.stopping.wait(script.stall_seconds)
            return True
        if index == script.garbage_after:
            self.wfile.write(b"data: this is not json {\n\n")
            self.wfile.flush()
            return True
        if index == script.error_event_after:
            self._event({"error": {"message": "scripted mid-stream failure", "type": "server_error"}})
            return True
        return index == script.truncate_after

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
