"""The HTTP side of :class:`~acphost.testing.ModelServer`: a handler that reads a request,
asks the server for its answer and writes it (JSON or SSE), and the small endpoints agents
probe besides the model (the models list, token counts, a reachability check).

Imported by the server when it starts, so importing :mod:`acphost.testing` (as the fake
agent does) does not import :mod:`http.server`.
"""

from __future__ import annotations

import gzip
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from acphost.testing._model_requests import Api, ModelRequest, TextReply, ToolCallReply
from acphost.testing._model_streams import ANSWERS

if TYPE_CHECKING:
    from acphost.testing._model_server import ModelServer

__all__ = ["http_server"]

_HOLD_LIMIT = 600.0  # a held answer never waits longer than this (a test forgot to release it)

_FAKE_MODEL = {
    "id": "fake-model",
    "object": "model",
    "type": "model",
    "created": 0,
    "created_at": "2025-01-01T00:00:00Z",
    "owned_by": "acphost",
    "display_name": "Fake model",
}
"""What ``GET /v1/models`` lists (Anthropic's and OpenAI's fields together)."""


def http_server(address: tuple[str, int], owner: ModelServer) -> ThreadingHTTPServer:
    """The HTTP server of ``owner``, bound to ``address`` (not serving yet)."""
    return _Server(address, owner)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ModelServer) -> None:
        self.model_server = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is routine here (a cancelled turn): stay quiet."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "acphost-model-server/1"
    server: _Server

    @property
    def model_server(self) -> ModelServer:
        return self.server.model_server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is :attr:`ModelServer.requests`."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path.startswith("/v1/") or path == "/v1":
            path = path[3:]
        request = ModelRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            api=_api_of(path) if self.command == "POST" else "other",
        )
        if request.api == "other":
            self.model_server._record(request)
            self._probe(request, path)
        else:
            self._answer(request)

    def _answer(self, request: ModelRequest) -> None:
        """A model call: the server decides the answer, which is sent when its time comes."""
        server = self.model_server
        reply = server._decide(request)
        reply.served.set()
        if isinstance(reply, ToolCallReply):
            name, arguments = server._resolve(reply, request)
            request.reply = {"type": "tool_call", "name": name, "arguments": arguments}
        else:
            assert isinstance(reply, TextReply)
            request.reply = {"type": "text", "text": reply.text}
        server._record(request)
        wait = reply.delay if reply.hold is None else _HOLD_LIMIT
        if wait and server._wait_or_hangup(wait, self.connection, reply.hold):
            request.client_gone = True
            self.close_connection = True
            return
        body = ANSWERS[request.api](server, request, request.reply)
        try:
            if isinstance(body, list):
                self._stream(body)
            else:
                self._json(200, body)
        except OSError:  # the agent hung up (a cancel): nothing to answer
            request.client_gone = True
            self.close_connection = True

    def _probe(self, request: ModelRequest, path: str) -> None:
        """The small endpoints agents call besides the model itself."""
        if path == "/messages/count_tokens":
            self._json(200, {"input_tokens": max(1, len(request.text()) // 4)})
        elif path == "/models":
            listing = {"object": "list", "data": [_FAKE_MODEL], "has_more": False}
            self._json(200, {**listing, "first_id": "fake-model", "last_id": "fake-model"})
        elif path.startswith("/models/"):
            self._json(200, {**_FAKE_MODEL, "id": path.removeprefix("/models/")})
        elif path in ("", "/"):  # a reachability check (Claude Code sends HEAD /)
            self._json(200, {"ok": True})
        else:
            message = f"acphost ModelServer has no {request.method} {request.path}"
            error = {"type": "not_found_error", "message": message}
            self._json(404, {"type": "error", "error": error})

    def _json(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", self.model_server._next_id("req"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self, events: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", self.model_server._next_id("req"))
        self.end_headers()
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _api_of(path: str) -> Api:
    if path == "/messages":
        return "anthropic"
    if path == "/responses":
        return "responses"
    if path == "/chat/completions":
        return "chat"
    return "other"
