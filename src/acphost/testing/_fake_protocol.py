"""A lean JSON-RPC 2.0 peer over stdin/stdout for the fake agent.

Deliberately not the ``acp`` SDK: the fake agent must start in milliseconds, survive huge
lines, and be able to break the protocol on purpose (malformed lines, floods), none of
which a validating SDK allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
AUTH_REQUIRED = -32000
RESOURCE_NOT_FOUND = -32002

READ_CHUNK = 1 << 16


def log(text: str) -> None:
    """Diagnostics go to stderr: stdout belongs to the protocol."""
    try:
        sys.stderr.write(f"[fake-agent] {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class RpcError(Exception):
    """Raised by a handler to answer its request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ClientRequestError(Exception):
    """The client answered one of the agent's requests with an error (or could not)."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message} ({code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


@dataclass
class IncomingRequest:
    """A request from the client being handled; ``$/cancel_request`` marks it cancelled."""

    id: Any
    method: str
    params: Any
    cancelled: bool = False
    on_cancel: list[Callable[[], None]] = field(default_factory=list)


class Handler(Protocol):
    async def handle_request(self, request: IncomingRequest) -> Any: ...

    def handle_notification(self, method: str, params: Any) -> None: ...


class _LineSplitter(asyncio.Protocol):
    """Splits the byte stream into lines itself: lines may be far beyond any reader limit."""

    def __init__(self, on_line: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        self._buf = bytearray()
        self._on_line = on_line
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            if self._buf:
                self._buf += data[pos:nl]
                line = bytes(self._buf)
                self._buf.clear()
            else:
                line = data[pos:nl]
            self._on_line(line)
            pos = nl + 1
        if pos < len(data):
            self._buf += data[pos:]

    def eof_received(self) -> bool:
        self.connection_lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._buf:
            line = bytes(self._buf)
            self._buf.clear()
            self._on_line(line)
        self._on_eof()


def _key(request_id: Any) -> Any:
    return request_id if isinstance(request_id, int | str) else repr(request_id)


class Peer:
    """Reads client messages, dispatches them, and sends the agent's own requests."""

    def __init__(self, *, string_ids: bool = False, out: BinaryIO | None = None) -> None:
        self.handler: Handler | None = None
        self._out = out if out is not None else sys.stdout.buffer
        self._string_ids = string_ids
        self._ids = itertools.count(1 if string_ids else 0)
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._incoming: dict[Any, IncomingRequest] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._eof: asyncio.Event | None = None
        #: the methods of the client's requests it cancelled with ``$/cancel_request``
        self.cancelled: list[str] = []

    # -- output --------------------------------------------------------------------------
    def write_bytes(self, data: bytes) -> None:
        """Write raw bytes (already newline-terminated) and flush so the host sees them now."""
        try:
            self._out.write(data)
            self._out.flush()
        except (BrokenPipeError, ValueError, OSError):
            log("stdout closed by the client; exiting")
            os._exit(0)

    def send(self, message: dict[str, Any]) -> None:
        self.write_bytes(orjson.dumps(message) + b"\n")

    def send_many(self, messages: Iterable[dict[str, Any]]) -> None:
        """One write for many messages: storms must be limited by the host, not by syscalls."""
        self.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def next_id(self) -> int | str:
        n = next(self._ids)
        return f"req-{n}" if self._string_ids else n

    async def request(
        self, method: str, params: Any = None, *, cancel_after: float | None = None
    ) -> Any:
        """Send a request to the client and wait for its answer.

        With ``cancel_after`` the agent sends ``$/cancel_request`` for it once that many
        seconds pass unanswered, then keeps waiting for the client's (error) answer.
        """
        request_id = self.next_id()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        try:
            if cancel_after is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(future), cancel_after)
                except TimeoutError:
                    self.notify("$/cancel_request", {"requestId": request_id})
            reply = await future
        finally:
            self._pending.pop(request_id, None)
        if "error" in reply:
            error = reply["error"] if isinstance(reply["error"], dict) else {}
            raise ClientRequestError(
                method,
                int(error.get("code", INTERNAL_ERROR)),
                str(error.get("message", "error")),
                error.get("data"),
            )
        return reply.get("result")

    # -- input ---------------------------------------------------------------------------
    def _on_line(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            log(f"unparsable line from client: {exc}")
            self.send(
                {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": str(exc)}}
            )
            return
        if not isinstance(message, dict):
            self.send(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": INVALID_REQUEST, "message": "expected a JSON object"},
                }
            )
            return
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message:
                request = IncomingRequest(message["id"], method, message.get("params"))
                self._incoming[_key(request.id)] = request
                task = asyncio.get_running_loop().create_task(self._serve_request(request))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                # Queued behind requests read before it, so a session/cancel that arrives
                # together with its session/prompt still finds the turn started.
                loop = asyncio.get_running_loop()
                loop.call_soon(self._on_notification, method, message.get("params"))
            return
        if "id" in message:
            future = self._pending.get(_key(message["id"]))
            if future is not None and not future.done():
                future.set_result(message)
            else:
                log(f"response for unknown request id {message['id']!r}")
            return
        log("ignored a message that is neither request, response nor notification")

    def _on_notification(self, method: str, params: Any) -> None:
        if method == "$/cancel_request":
            request_id = params.get("requestId") if isinstance(params, dict) else None
            request = self._incoming.get(_key(request_id))
            if request is None:
                log(f"$/cancel_request for unknown or finished request {request_id!r}")
                return
            request.cancelled = True
            self.cancelled.append(request.method)
            for callback in request.on_cancel:
                callback()
        if self.handler is not None:
            self.handler.handle_notification(method, params)

    async def _serve_request(self, request: IncomingRequest) -> None:
        assert self.handler is not None
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request.id}
        try:
            reply["result"] = await self.handler.handle_request(request)
        except RpcError as exc:
            reply["error"] = exc.to_json()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log(f"{request.method} crashed:\n{traceback.format_exc()}")
            reply["error"] = {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"}
        finally:
            self._incoming.pop(_key(request.id), None)
        self.send(reply)

    async def serve(self) -> None:
        """Read the client until end of input, then stop every request still running."""
        loop = asyncio.get_running_loop()
        eof = asyncio.Event()
        splitter = _LineSplitter(self._on_line, eof.set)
        mode = os.fstat(0).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            transport, _ = await loop.connect_read_pipe(lambda: splitter, sys.stdin.buffer)
            transport.max_size = READ_CHUNK  # type: ignore[attr-defined]  # not 256 KiB: mmap
        else:
            # Files and devices (/dev/null) cannot be polled: a daemon reader thread instead.
            def pump() -> None:
                while True:
                    try:
                        chunk = os.read(0, READ_CHUNK)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        loop.call_soon_threadsafe(splitter.connection_lost, None)
                        return
                    loop.call_soon_threadsafe(splitter.data_received, chunk)

            threading.Thread(target=pump, name="fake-agent-stdin", daemon=True).start()
        await eof.wait()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._pending.values():
            if not future.done():
                future.cancel()
