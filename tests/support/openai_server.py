"""A real local HTTP server speaking the OpenAI protocol, for tests.

It records every request it receives. Embeddings are deterministic pseudo-random unit
vectors derived from the text, so equal texts get equal vectors.

Chat completions (``POST /v1/chat/completions``) follow a script: ``chat_replies`` is a
queue of ``{"content": "text"}`` or ``{"tool_calls": [{"name": ..., "arguments": {...}}]}``
items (``arguments`` may also be a raw string, to test invalid JSON); when the queue is
empty the server answers ``DEFAULT_CHAT_ANSWER``. ``"stream": true`` gets server-sent
events. ``delay_seconds`` sleeps before answering (to test timeouts); while ``gate`` is
cleared, requests wait (at most a minute) until it is set again, to hold a caller mid-call.

Broken streams, for the fault tests: an item with ``"cut_after": N`` closes the connection
after N events (no finish reason, no ``[DONE]``: a server or proxy dying mid-answer); an item
``{"raw_events": ["...", ...]}`` sends those strings as the events' data as they are (e.g.
invalid JSON), then ``[DONE]``. ``repeat_reply`` answers every request with that item
(a model that never stops calling tools), after the queue is empty.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

DEFAULT_CHAT_ANSWER = "This is the fake model's answer."


@dataclass
class FakeOpenAI:
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0  # answer the next N requests with HTTP 500
    chat_replies: list[dict[str, Any]] = field(default_factory=list)
    delay_seconds: float = 0.0
    stream_delay_seconds: float = 0.0  # pause between streamed events (to watch streaming)
    repeat_reply: dict[str, Any] | None = None  # when the queue is empty, instead of the default
    gate: threading.Event = field(default_factory=lambda: _opened(threading.Event()))

    def embedding(self, text: str, dimensions: int) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        vector = np.random.default_rng(seed).standard_normal(dimensions)
        return [float(x) for x in vector / np.linalg.norm(vector)]

    def next_chat_reply(self) -> dict[str, Any]:
        if self.chat_replies:
            return self.chat_replies.pop(0)
        return self.repeat_reply or {"content": DEFAULT_CHAT_ANSWER}


def _opened(event: threading.Event) -> threading.Event:
    event.set()
    return event


def _tool_calls(reply: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for i, call in enumerate(reply.get("tool_calls") or []):
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id", f"call_{i + 1}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments},
            }
        )
    return calls


def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
    completion = len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chat(self, body: dict[str, Any]) -> None:
            reply = state.next_chat_reply()
            content = reply.get("content") or ""
            calls = _tool_calls(reply)
            finish = "tool_calls" if calls else "stop"
            model = body.get("model", "fake-model")
            usage = _usage(body, content)
            if not body.get("stream"):
                message: dict[str, Any] = {"role": "assistant", "content": content or None}
                if calls:
                    message["tool_calls"] = calls
                self._reply(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": model, "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                })  # fmt: skip
                return
            self._stream(model, content, calls, finish, usage, body, reply)

        def _stream(
            self,
            model: str,
            content: str,
            calls: list[dict[str, Any]],
            finish: str,
            usage: dict[str, int],
            body: dict[str, Any],
            reply: dict[str, Any],
        ) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                }  # fmt: skip

            events = [chunk({"role": "assistant", "content": ""})]
            # Split the text into a few deltas, keeping the whitespace.
            words = content.split(" ")
            events += [
                chunk({"content": word + (" " if i < len(words) - 1 else "")})
                for i, word in enumerate(words)
                if content
            ]
            for index, call in enumerate(calls):
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                events.append(chunk({"tool_calls": [{
                    "index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
                }]}))  # fmt: skip
                events.append(chunk({"tool_calls": [{
                    "index": index, "function": {"arguments": arguments[half:]},
                }]}))  # fmt: skip
            events.append(chunk({}, finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                final = chunk({})
                final["choices"] = []
                final["usage"] = usage
                events.append(final)
            data = [json.dumps(event) for event in events]
            if "raw_events" in reply:
                data = list(reply["raw_events"])
            cut_after = reply.get("cut_after")
            for n, item in enumerate(data):
                if cut_after is not None and n >= cut_after:
                    return  # the connection closes mid-answer (Connection: close)
                self.wfile.write(b"data: " + item.encode() + b"\n\n")
                self.wfile.flush()
                if state.stream_delay_seconds:
                    time.sleep(state.stream_delay_seconds)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append({"path": self.path, "body": body, "headers": headers})
            state.gate.wait(timeout=60)
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            if state.fail_next > 0:
                state.fail_next -= 1
                self._reply(500, {"error": {"message": "boom", "type": "server_error"}})
                return
            if self.path.endswith("/embeddings"):
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dims = int(body.get("dimensions") or 8)
                data = [
                    {"object": "embedding", "index": i, "embedding": state.embedding(t, dims)}
                    for i, t in enumerate(inputs)
                ]
                self._reply(200, {"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip
                return
            if self.path.endswith("/chat/completions"):
                self._chat(body)
                return
            self._reply(404, {"error": {"message": f"no route {self.path}"}})

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller that went away (a client timed out, a worker killed while it was held):
        # expected in these tests, not worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    state = FakeOpenAI()
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_openai_as_portal_model(settings: Any, timeout: float = 5) -> Iterator[FakeOpenAI]:
    """The fake server, configured as the portal's chat model through pytest-django's
    ``settings`` fixture (no retries)."""
    with fake_openai_server() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = "sk-test"
        settings.AZURE_OPENAI_ENDPOINT = ""
        settings.OPENAI_MODEL = "test-model"
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_SECONDS = timeout
        yield fake
