"""Real HTTP servers on 127.0.0.1 that speak the LLM protocols the backends use.

- ``OpenAIServer``: ``POST /v1/chat/completions`` (a JSON completion, or server-sent events
  ``data: {chat.completion.chunk}`` ... ``data: [DONE]`` when ``"stream": true``) and
  ``GET /v1/models``.
- ``OllamaServer``: ``POST /api/chat`` (newline-delimited JSON chunks ending with
  ``"done": true``, or one object when ``"stream": false``), ``GET /api/tags``, ``GET /api/version``.

They answer with a ``responder(messages) -> str`` (a recorded answer, or the local model),
so langchain-openai / langchain-ollama run their real client code over a real socket.
``behaviour`` makes them misbehave the ways real servers do: ``"slow"`` (sleeps before
answering), ``"garbage"`` (200 with bytes that are not the protocol), ``"error"`` (HTTP 500).
Every request body is kept in ``requests`` for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[list[dict]], str]


def recorded(text: str) -> Responder:
    return lambda messages: text


def pieces(text: str) -> list[str]:
    """Stream the text a few characters at a time, as servers do (tokens, not sentences)."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


class _Server:
    path_prefix = ""

    def __init__(self, responder: Responder, behaviour: str = "ok", delay: float = 5.0):
        self.responder = responder
        self.behaviour = behaviour
        self.delay = delay
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.handle_get(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                body["_path"] = self.path
                server.requests.append(body)
                if server.behaviour == "slow":
                    time.sleep(server.delay)
                if server.behaviour == "error":
                    server.send(self, 500, "application/json", b'{"error": {"message": "boom"}}')
                    return
                if server.behaviour == "garbage":
                    server.send(self, 200, "application/json", b"\x00\xffnot json at all<html>")
                    return
                server.handle_post(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path_prefix}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def send(handler, status: int, ctype: str, data: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def start_stream(handler, ctype: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    @staticmethod
    def write_chunk(handler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    @staticmethod
    def end_stream(handler) -> None:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


class OpenAIServer(_Server):
    path_prefix = "/v1"

    def handle_get(self, h):
        if h.path.rstrip("/") == "/v1/models":
            data = {"object": "list", "data": [{"id": "recorded", "object": "model", "created": 0, "owned_by": "test"}]}
            self.send(h, 200, "application/json", json.dumps(data).encode())
            return
        self.send(h, 404, "application/json", b'{"error": {"message": "not found"}}')

    def handle_post(self, h, body: dict):
        if h.path.rstrip("/") != "/v1/chat/completions":
            self.send(h, 404, "application/json", b'{"error": {"message": "not found"}}')
            return
        text = self.responder(body.get("messages", []))
        model = body.get("model", "recorded")
        base = {"id": "chatcmpl-test", "created": 0, "model": model}
        if not body.get("stream"):
            data = {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            self.send(h, 200, "application/json", json.dumps(data).encode())
            return
        self.start_stream(h, "text/event-stream")
        first = True
        for piece in pieces(text):
            delta = {"content": piece}
            if first:
                delta["role"] = "assistant"
                first = False
            chunk = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self.write_chunk(h, f"data: {json.dumps(chunk)}\n\n".encode())
        end = {**base, "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.write_chunk(h, f"data: {json.dumps(end)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**base, "object": "chat.completion.chunk", "choices": [],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            self.write_chunk(h, f"data: {json.dumps(usage)}\n\n".encode())
        self.write_chunk(h, b"data: [DONE]\n\n")
        self.end_stream(h)


class OllamaServer(_Server):
    def handle_get(self, h):
        if h.path == "/api/version":
            self.send(h, 200, "application/json", b'{"version": "0.6.0"}')
            return
        if h.path == "/api/tags":
            self.send(h, 200, "application/json", b'{"models": [{"name": "recorded", "model": "recorded"}]}')
            return
        self.send(h, 404, "application/json", b'{"error": "not found"}')

    def handle_post(self, h, body: dict):
        if h.path != "/api/chat":
            self.send(h, 404, "application/json", b'{"error": "not found"}')
            return
        text = self.responder(body.get("messages", []))
        model = body.get("model", "recorded")
        stamp = "2026-01-01T00:00:00Z"
        done = {"model": model, "created_at": stamp, "message": {"role": "assistant", "content": ""},
                "done": True, "done_reason": "stop", "total_duration": 1, "load_duration": 1,
                "prompt_eval_count": 1, "prompt_eval_duration": 1, "eval_count": 1, "eval_duration": 1}
        if body.get("stream") is False:
            data = {**done, "message": {"role": "assistant", "content": text}}
            self.send(h, 200, "application/json", json.dumps(data).encode())
            return
        self.start_stream(h, "application/x-ndjson")
        for piece in pieces(text):
            chunk = {"model": model, "created_at": stamp,
                     "message": {"role": "assistant", "content": piece}, "done": False}
            self.write_chunk(h, (json.dumps(chunk) + "\n").encode())
        self.write_chunk(h, (json.dumps(done) + "\n").encode())
        self.end_stream(h)


def free_port_unused() -> int:
    """A port nothing listens on (bound, then released): for "unreachable server" tests."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
