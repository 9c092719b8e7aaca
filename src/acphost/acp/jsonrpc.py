"""JSON-RPC 2.0 over newline-delimited JSON, without the official SDK's traps.

The connection is fed bytes by its transport and calls its consumers *synchronously*, in the
order lines arrive: no task per message, so a notification can never overtake the one before it,
and a slow consumer cannot reorder anything. Lines may be of any size; a line that is not JSON
(or not a JSON-RPC message) is reported and skipped, and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

import orjson

from acphost.errors import AcphostError, AgentRequestError, ConnectionClosed, ProtocolError

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "METHOD_NOT_FOUND",
    "REQUEST_CANCELLED",
    "RESOURCE_NOT_FOUND",
    "IncomingRequest",
    "JsonRpcConnection",
    "RequestId",
]

RequestId = int | str
"""A JSON-RPC request id."""

log = logging.getLogger("acphost.acp")

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
"""JSON-RPC error code: no such method (what acphost answers for anything unknown)."""
INVALID_PARAMS: Final = -32602
"""JSON-RPC error code: the method's params are invalid."""
INTERNAL_ERROR: Final = -32603
"""JSON-RPC error code: the handler failed."""
REQUEST_CANCELLED: Final = -32800
"""JSON-RPC error code: the request was cancelled with ``$/cancel_request``."""
AUTH_REQUIRED: Final = -32000
RESOURCE_NOT_FOUND: Final = -32002
"""ACP error code: the session, file or terminal named does not exist."""

CANCEL_REQUEST_METHOD: Final = "$/cancel_request"

_dumps = orjson.dumps
_loads = orjson.loads
_NEWLINE = orjson.OPT_APPEND_NEWLINE


class IncomingRequest:
    """A request the agent sent us; answer it exactly once with :meth:`respond` or :meth:`fail`.

    Its ``id`` is echoed back unchanged whatever its JSON type.
    """

    __slots__ = ("_cancel_callbacks", "_conn", "answered", "cancelled", "id", "method", "params")

    def __init__(self, conn: JsonRpcConnection, request_id: Any, method: str, params: Any) -> None:
        self._conn = conn
        self.id = request_id
        self.method = method
        self.params = params
        self.answered = False
        self.cancelled = False
        self._cancel_callbacks: list[Callable[[], object]] = []

    def respond(self, result: Any) -> None:
        """Answer the request with ``result`` (once: a second answer is ignored)."""
        if self._finish():
            self._conn._send({"jsonrpc": "2.0", "id": self.id, "result": result})

    def fail(self, code: int, message: str, data: Any = None) -> None:
        """Answer the request with a JSON-RPC error (once: a second answer is ignored)."""
        if self._finish():
            error: dict[str, Any] = {"code": code, "message": message}
            if data is not None:
                error["data"] = data
            self._conn._send({"jsonrpc": "2.0", "id": self.id, "error": error})

    def on_cancel(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the agent sends ``$/cancel_request`` for this request."""
        if self.cancelled:
            callback()
        else:
            self._cancel_callbacks.append(callback)

    def _finish(self) -> bool:
        if self.answered:
            return False
        self.answered = True
        self._conn._incoming.pop(_key(self.id), None)
        return not self._conn.closed

    def _cancel(self) -> None:
        if self.cancelled or self.answered:
            return
        self.cancelled = True
        callbacks, self._cancel_callbacks = self._cancel_callbacks, []
        for callback in callbacks:
            callback()


def _key(request_id: Any) -> Any:
    # ids may be any JSON value; make unhashable ones usable as keys without changing them.
    return request_id if isinstance(request_id, (int, str)) else repr(request_id)


class JsonRpcConnection:
    """One JSON-RPC peer. Feed it bytes with :meth:`feed`; it writes through ``write``.

    ``on_notification(method, params)`` and ``on_request(request)`` are called synchronously in
    arrival order; ``on_protocol_error`` receives malformed input. All run on the event loop
    that feeds the connection, and must not block.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        *,
        on_notification: Callable[[str, Any], None],
        on_request: Callable[[IncomingRequest], None],
        on_protocol_error: Callable[[ProtocolError], None],
    ) -> None:
        self._write = write
        self._on_notification = on_notification
        self._on_request = on_request
        self._on_protocol_error = on_protocol_error
        self._partial: list[bytes] = []
        self._next_id = 0
        self._pending: dict[Any, tuple[asyncio.Future[Any], str]] = {}
        self._incoming: dict[Any, IncomingRequest] = {}
        self._abandoned: set[int] = set()  # ids we cancelled: their late answers are dropped
        self._closed_error: AcphostError | None = None

    @property
    def closed(self) -> bool:
        """Whether the connection ended (the peer exited or the stream broke)."""
        return self._closed_error is not None

    # --- reading -------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take a chunk of bytes from the transport; whole lines are handled at once."""
        newline = data.find(b"\n")
        if newline < 0:
            if data:
                self._partial.append(data)
            return
        if self._partial:
            self._partial.append(data[:newline])
            line = b"".join(self._partial)
            self._partial.clear()
        else:
            line = data[:newline]
        handle = self._handle_line
        handle(line)
        start = newline + 1
        find = data.find
        while (newline := find(b"\n", start)) >= 0:
            handle(data[start:newline])
            start = newline + 1
        if start < len(data):
            self._partial.append(data[start:])

    def feed_eof(self) -> None:
        """The transport closed; a last line without a newline is still handled."""
        if self._partial:
            line = b"".join(self._partial)
            self._partial.clear()
            self._handle_line(line)

    def _handle_line(self, line: bytes) -> None:
        try:
            message = _loads(line)
        except orjson.JSONDecodeError:
            if line.strip():
                self._on_protocol_error(
                    ProtocolError("the agent wrote a line that is not JSON", line=line)
                )
            return
        if type(message) is not dict:
            self._on_protocol_error(
                ProtocolError("the agent wrote JSON that is not an object", line=line)
            )
            return
        method = message.get("method")
        if method is not None:
            if type(method) is not str:
                self._on_protocol_error(
                    ProtocolError("a message's method is not a string", line=line)
                )
            elif "id" in message:
                self._dispatch_request(message["id"], method, message.get("params"))
            elif method == CANCEL_REQUEST_METHOD:
                self._cancel_incoming(message.get("params"))
            else:
                try:
                    self._on_notification(method, message.get("params"))
                except Exception:  # a consumer bug must not lose the rest of the stream
                    log.exception("the consumer of %s raised", method)
        elif "id" in message:
            self._dispatch_response(message, line)
        else:
            self._on_protocol_error(
                ProtocolError("a JSON-RPC message without method or id", line=line)
            )

    def _dispatch_request(self, request_id: Any, method: str, params: Any) -> None:
        request = IncomingRequest(self, request_id, method, params)
        self._incoming[_key(request_id)] = request
        try:
            self._on_request(request)
        except Exception as exc:  # a handler bug must not kill the connection
            request.fail(INTERNAL_ERROR, f"the client failed to handle {method}: {exc}")

    def _dispatch_response(self, message: dict[str, Any], line: bytes) -> None:
        entry = self._pending.pop(_key(message["id"]), None)
        if entry is None and message["id"] in self._abandoned:
            self._abandoned.discard(message["id"])
            return
        if entry is None:
            self._on_protocol_error(
                ProtocolError(f"a response for unknown request id {message['id']!r}", line=line)
            )
            return
        future, method = entry
        if future.done():
            return
        error = message.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"code": INTERNAL_ERROR, "message": str(error)}
            future.set_exception(
                AgentRequestError(
                    str(error.get("message") or "request failed"),
                    rpc_code=int(error.get("code") or INTERNAL_ERROR),
                    data=error.get("data"),
                    method=method,
                )
            )
        else:
            future.set_result(message.get("result"))

    def _cancel_incoming(self, params: Any) -> None:
        if isinstance(params, dict) and "requestId" in params:
            request = self._incoming.get(_key(params["requestId"]))
            if request is not None:
                request._cancel()

    # --- writing -------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if self._closed_error is not None:
            return
        self._write(_dumps(message, option=_NEWLINE))

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification; raises the closing error if the connection ended."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if self._closed_error is not None:
            raise self._closed_error
        self._send(message)

    async def request(self, method: str, params: Any = None, *, cancellable: bool = True) -> Any:
        """Send a request and wait for its result.

        If the waiting task is cancelled, the agent is told with ``$/cancel_request`` (unless
        ``cancellable`` is false, as for ``session/prompt`` whose cancel is ``session/cancel``).
        """
        if self._closed_error is not None:
            raise self._closed_error
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, method)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        try:
            return await future
        except asyncio.CancelledError:
            if self._pending.pop(request_id, None) is not None:
                self._abandoned.add(request_id)
                if cancellable:
                    with contextlib.suppress(AcphostError):
                        self.notify(CANCEL_REQUEST_METHOD, {"requestId": request_id})
            raise

    # --- closing -------------------------------------------------------------------------

    def close(self, error: AcphostError | None = None) -> None:
        """Fail every pending request with ``error`` and refuse new ones."""
        if self._closed_error is not None:
            return
        self._closed_error = error or ConnectionClosed("the connection to the agent is closed")
        pending, self._pending = self._pending, {}
        for future, _method in pending.values():
            if not future.done():
                future.set_exception(self._closed_error)
                # a failure nobody awaits any more must not warn at garbage collection
                future.exception()
        for request in list(self._incoming.values()):
            request._cancel()
        self._incoming.clear()
