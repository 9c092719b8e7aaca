"""A scripted LLM API server on 127.0.0.1, so real agents run offline and deterministically.

Real coding agents (Claude Code, Codex, Kimi, fast-agent...) only need their model API: point
their base URL at a :class:`ModelServer` and they run their real tool loop against answers a
test chose. One server speaks the three streaming APIs agents use:

- Anthropic Messages (``POST /v1/messages``, SSE or JSON, ``?beta=true`` too, plus
  ``/v1/messages/count_tokens``),
- OpenAI Responses (``POST /v1/responses``, SSE),
- OpenAI Chat Completions (``POST /v1/chat/completions``, SSE or JSON),

and ``GET /v1/models``. A request that offers tools takes the next queued answer
(:meth:`ModelServer.script`), if any; otherwise the server decides: no tools means a side
request (a title, a summary) and gets a short text; a tool result after the last user prompt
gets the final text; else one tool call, of the tool the prompt names (else the first whose
name starts with "read", else the first), its arguments filled from the tool's JSON schema.
Every request is recorded in :attr:`ModelServer.requests` for assertions.

Only the standard library is used: the server runs inside the test process, on threads.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

__all__ = ["ModelRequest", "ModelServer", "ScriptedReply", "TextReply", "ToolCallReply"]

from acphost.testing._model_requests import (
    Api,
    ModelRequest,
    ScriptedReply,
    TextReply,
    ToolCallReply,
    _fill,
)

# Without a named tool, prefer a reading one (not "Agent", which would spawn a sub-agent).
_HARMLESS = re.compile(r"^read", re.IGNORECASE)
_HOLD_LIMIT = 600.0  # a held answer never waits longer than this (a test forgot to release it)


# --- the server --------------------------------------------------------------------------


class ModelServer:
    """A scripted model API on ``127.0.0.1``; use as a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT`` (Anthropic clients want it so); OpenAI clients
    want :attr:`openai_base_url` (``.../v1``). ``final_text`` ends a tool loop; ``side_text``
    answers requests without tools. ``default_delay`` applies to automatic answers.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        final_text: str = "Done.",
        side_text: str = "OK",
        default_delay: float = 0.0,
    ) -> None:
        self.final_text = final_text
        self.side_text = side_text
        self.default_delay = default_delay
        self.requests: list[ModelRequest] = []
        self.queue: deque[ScriptedReply] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd = _http_server((host, port), self)
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (on 127.0.0.1)."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The URL to give an agent as its Anthropic API base."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The URL to give an agent as its OpenAI API base (with ``/v1``)."""
        return f"{self.base_url}/v1"

    def start(self) -> ModelServer:
        """Serve in a background thread (once); returns the server, for chaining."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="model-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; answers still waiting out a delay are abandoned."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- scripting and inspection --------------------------------------------------------

    def script(self, *replies: ScriptedReply) -> None:
        """Queue answers for the next requests that offer tools (side requests are skipped)."""
        with self._changed:
            self.queue.extend(replies)

    def wait_for(
        self, predicate: Callable[[ModelRequest], bool], *, timeout: float = 30.0
    ) -> ModelRequest:
        """The first recorded request matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    paths = [r.path for r in self.requests]
                    raise TimeoutError(f"no matching model request in {timeout} s: {paths}")
                self._changed.wait(left)

    def api_requests(self) -> list[ModelRequest]:
        """The model calls (not probes such as the models list)."""
        return [r for r in self.requests if r.api != "other"]

    # --- deciding ------------------------------------------------------------------------

    def _record(self, request: ModelRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _decide(self, request: ModelRequest) -> ScriptedReply:
        tools = request.tools
        with self._changed:
            if tools and self.queue:
                return self.queue.popleft()
        if not tools:
            return TextReply(text=self.side_text, delay=self.default_delay)
        if request.tool_results():
            return TextReply(text=self.final_text, delay=self.default_delay)
        prompt = request.prompt()
        mentioned = [
            (m.start(), name)
            for name in tools
            if (m := re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", prompt))
        ]
        harmless = [name for name in tools if _HARMLESS.search(name)]
        name = min(mentioned)[1] if mentioned else (harmless or list(tools))[0]
        return ToolCallReply(name=name, arguments=_fill(tools[name]), delay=self.default_delay)

    def _resolve(self, reply: ToolCallReply, request: ModelRequest) -> tuple[str, Any]:
        names = (reply.name,) if isinstance(reply.name, str) else reply.name
        offered = request.tools
        name = next((n for n in names if n in offered), names[0] if names else "")
        arguments = reply.arguments
        if callable(arguments):
            arguments = arguments(request)
        return name, arguments if isinstance(arguments, str) else dict(arguments)

    def _wait_or_hangup(
        self, seconds: float, connection: socket.socket, until: threading.Event | None = None
    ) -> bool:
        """Wait (at most until ``until`` is set), but stop early when the client hangs up or
        the server stops; True if gone."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or (until is not None and until.is_set()):
                return False
            readable, _, _ = select.select([connection], [], [], min(left, 0.1))
            if readable:
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.1))  # pipelined bytes: not a hang-up
        return True

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"


from acphost.testing._model_streams import ANSWERS as _ANSWER  # noqa: E402  (cycle)


def _api_of(path: str) -> Api:
    if path == "/messages":
        return "anthropic"
    if path == "/responses":
        return "responses"
    if path == "/chat/completions":
        return "chat"
    return "other"


def _http_server(address: tuple[str, int], owner: ModelServer) -> ThreadingHTTPServer:
    """The HTTP server; ``http.server`` is imported only here, so importing
    :mod:`acphost.testing` (as the fake agent does) stays cheap."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        model_server = owner

        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client that hung up is routine here (a cancelled turn): stay quiet."""
            import sys

            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "acphost-model-server/1"

        @property
        def model_server(self) -> ModelServer:
            return owner

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
            server = self.model_server
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
                server._record(request)
                self._probe(request, path)
                return
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
            body = _ANSWER[request.api](server, request, request.reply)
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
            elif path == "/models" or path.startswith("/models/"):
                model = {
                    "id": "fake-model",
                    "object": "model",
                    "type": "model",
                    "created": 0,
                    "created_at": "2025-01-01T00:00:00Z",
                    "owned_by": "acphost",
                    "display_name": "Fake model",
                }
                if path != "/models":
                    self._json(200, {**model, "id": path.removeprefix("/models/")})
                    return
                listing = {"object": "list", "data": [model], "has_more": False}
                self._json(200, {**listing, "first_id": "fake-model", "last_id": "fake-model"})
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

    return _Server(address, _Handler)
