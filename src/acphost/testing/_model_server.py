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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

__all__ = ["ModelRequest", "ModelServer", "ScriptedReply", "TextReply", "ToolCallReply"]

Api: TypeAlias = Literal["anthropic", "responses", "chat", "other"]
Arguments: TypeAlias = "Mapping[str, Any] | str | Callable[[ModelRequest], Mapping[str, Any] | str]"


@dataclass
class ScriptedReply:
    """One queued answer. ``delay`` seconds pass before the first byte (for cancel tests);
    :attr:`served` is set when a request takes this reply, before the delay."""

    delay: float = 0.0
    served: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


@dataclass
class TextReply(ScriptedReply):
    """Answer with this text and end the model's turn."""

    text: str = "Done."


@dataclass
class ToolCallReply(ScriptedReply):
    """Answer with one call of a tool.

    ``name`` may be a tuple of candidates: the first the request offers is used (tool names
    differ between agents and versions). ``arguments`` is a mapping, a string (the raw input
    of a free-form tool such as Codex's ``apply_patch``), or a function of the request.
    """

    name: str | tuple[str, ...] = ""
    arguments: Arguments = field(default_factory=dict)


@dataclass
class ModelRequest:
    """One request the server received, parsed; ``reply`` says what it was answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    api: Api = "other"
    reply: dict[str, Any] = field(default_factory=dict)
    client_gone: bool = False  # the agent dropped the connection before the answer was sent
    received_at: float = field(default_factory=time.time)

    @property
    def tools(self) -> dict[str, dict[str, Any]]:
        """The tools offered, by name: each a JSON schema (``{}`` for a free-form tool)."""
        return _tools(self.api, self.body)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else "fake-model"

    def prompt(self) -> str:
        """The text of the last user prompt (not a tool result)."""
        return _conversation(self.api, self.body)[0]

    def tool_results(self) -> list[str]:
        """The tool results after the last user prompt, as text."""
        return _conversation(self.api, self.body)[1]

    def text(self) -> str:
        """The whole request body as JSON text, to search for a marker."""
        return json.dumps(self.body, ensure_ascii=False)


# --- reading requests --------------------------------------------------------------------


def _tools(api: Api, body: Any) -> dict[str, dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = {}
    if not isinstance(body, dict):
        return tools
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if api == "chat" and isinstance(tool.get("function"), dict):
            fn = tool["function"]
            tools[str(fn.get("name"))] = fn.get("parameters") or {}
        elif api == "anthropic" and "name" in tool:
            tools[str(tool["name"])] = tool.get("input_schema") or {}
        elif api == "responses" and "name" in tool:
            schema = tool.get("parameters") if tool.get("type") == "function" else None
            tools[str(tool["name"])] = schema or {}
    return tools


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_texts(part) for part in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return str(content["text"])
        for key in ("content", "output"):
            if key in content:
                return _texts(content[key])
    return ""


def _conversation(api: Api, body: Any) -> tuple[str, list[str]]:
    """(last user prompt, tool results after it) of a request."""
    if not isinstance(body, dict):
        return "", []
    prompt, results = "", []
    if api in ("anthropic", "chat"):
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            role = message.get("role")
            if role == "tool":
                results.append(_texts(content))
            elif role == "user":
                parts = content if isinstance(content, list) else [content]
                tool_parts = [
                    p for p in parts if isinstance(p, dict) and p.get("type") == "tool_result"
                ]
                if tool_parts:
                    results.extend(_texts(p.get("content")) for p in tool_parts)
                else:
                    prompt, results = _texts(content), []
    elif api == "responses":
        items = body.get("input")
        if isinstance(items, str):
            return items, []
        for item in items or ():
            if not isinstance(item, dict):
                continue
            kind = item.get("type", "message")
            if kind.endswith("_call_output"):
                results.append(_texts(item.get("output")))
            elif kind == "message" and item.get("role") == "user":
                text = _texts(item.get("content"))
                # Codex sends its environment and instructions as user messages too.
                if not text.lstrip().startswith(("<environment_context>", "<user_instructions>")):
                    prompt, results = text, []
    return prompt, results


def _fill(schema: Any, name: str = "") -> Any:
    """A value matching a JSON schema: defaults, enums and required fields filled."""
    if not isinstance(schema, dict):
        return ""
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _fill(schema[key][0], name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {key: _fill(props.get(key), key) for key in required if key in props}
    if kind == "array":
        return [_fill(schema.get("items"), name)] if schema.get("minItems") else []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if re.search(r"path|file", name, re.IGNORECASE):
        return "README.md"
    if re.search(r"command|cmd", name, re.IGNORECASE):
        return "ls"
    return "x"


# Without a named tool, prefer a reading one (not "Agent", which would spawn a sub-agent).
_HARMLESS = re.compile(r"^read", re.IGNORECASE)


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
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def start(self) -> ModelServer:
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

    def _wait_or_hangup(self, seconds: float, connection: socket.socket) -> bool:
        """Wait, but stop early when the client hangs up or the server stops; True if gone."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
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


# --- answering ---------------------------------------------------------------------------


def _usage_numbers(request: ModelRequest, output: str) -> tuple[int, int]:
    return max(1, len(request.text()) // 4), max(1, len(output) // 4)


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _anthropic(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """Anthropic Messages: the JSON message, or the SSE events that build it."""
    message_id = server._next_id("msg")
    if reply["type"] == "tool_call":
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": server._next_id("toolu"),
            "name": reply["name"],
            "input": reply["arguments"],
        }
        stop = "tool_use"
        output = json.dumps(reply["arguments"])
    else:
        block = {"type": "text", "text": reply["text"]}
        stop = "end_turn"
        output = reply["text"]
    tokens_in, tokens_out = _usage_numbers(request, output)
    usage = {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    if not request.stream:
        return message
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [_sse("message_start", {"type": "message_start", "message": start})]
    if block["type"] == "tool_use":
        empty = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": output}
    else:
        empty = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": output}
    events += [
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": empty},
        ),
        _sse("ping", {"type": "ping"}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": tokens_out},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


def _responses(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """OpenAI Responses: the SSE events of one response with one output item."""
    response_id = server._next_id("resp")
    if reply["type"] == "tool_call":
        arguments = reply["arguments"]
        call_id = server._next_id("call")
        if isinstance(arguments, str):  # a free-form ("custom") tool such as apply_patch
            item: dict[str, Any] = {
                "type": "custom_tool_call",
                "id": server._next_id("ctc"),
                "call_id": call_id,
                "name": reply["name"],
                "input": arguments,
                "status": "completed",
            }
            output = arguments
        else:
            output = json.dumps(arguments)
            item = {
                "type": "function_call",
                "id": server._next_id("fc"),
                "call_id": call_id,
                "name": reply["name"],
                "arguments": output,
                "status": "completed",
            }
    else:
        output = reply["text"]
        item = {
            "type": "message",
            "id": server._next_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": output, "annotations": []}],
        }
    tokens_in, tokens_out = _usage_numbers(request, output)
    base = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": request.model,
        "status": "in_progress",
        "output": [],
    }
    usage = {
        "input_tokens": tokens_in,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens_in + tokens_out,
    }
    done = {**base, "status": "completed", "output": [item], "usage": usage}
    if not request.stream:
        return done
    seq = itertools.count()

    def event(kind: str, **data: Any) -> bytes:
        return _sse(kind, {"type": kind, "sequence_number": next(seq), **data})

    events = [
        event("response.created", response=base),
        event("response.in_progress", response=base),
    ]
    if item["type"] == "message":
        events += [
            event("response.output_item.added", output_index=0, item={**item, "content": []}),
            event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []},
            ),
            event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                delta=output,
            ),
            event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                text=output,
            ),
        ]
    else:
        events.append(event("response.output_item.added", output_index=0, item=item))
    events += [
        event("response.output_item.done", output_index=0, item=item),
        event("response.completed", response=done),
    ]
    return events


def _chat(server: ModelServer, request: ModelRequest, reply: dict[str, Any]) -> Any:
    """OpenAI Chat Completions: the JSON completion, or its SSE chunks."""
    completion_id = server._next_id("chatcmpl")
    created = int(time.time())
    if reply["type"] == "tool_call":
        output = json.dumps(reply["arguments"])
        call = {
            "id": server._next_id("call"),
            "type": "function",
            "function": {"name": reply["name"], "arguments": output},
        }
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        output = reply["text"]
        message = {"role": "assistant", "content": output}
        finish = "stop"
    tokens_in, tokens_out = _usage_numbers(request, output)
    usage = {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    head = {"id": completion_id, "created": created, "model": request.model}
    if not request.stream:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": usage}

    def chunk(delta: dict[str, Any] | None, finish_reason: str | None, **extra: Any) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        )
        return _sse(None, {**head, "object": "chat.completion.chunk", "choices": choices, **extra})

    if finish == "tool_calls":
        delta = {"role": "assistant", "tool_calls": [{"index": 0, **call}]}
    else:
        delta = {"role": "assistant", "content": output}
    events = [chunk(delta, None), chunk({}, finish)]
    options = request.body.get("stream_options") if isinstance(request.body, dict) else None
    if isinstance(options, dict) and options.get("include_usage"):
        events.append(chunk(None, None, usage=usage))
    else:  # put usage on the last chunk, where most clients look for it
        events[-1] = chunk({}, finish, usage=usage)
    events.append(_sse(None, "[DONE]"))
    return events


_ANSWER = {"anthropic": _anthropic, "responses": _responses, "chat": _chat}


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
            if reply.delay and server._wait_or_hangup(reply.delay, self.connection):
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
