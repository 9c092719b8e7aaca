"""The server's bounds: request bodies (enforced here) and attached agents (by the manager).

A client cannot make the server buffer an unbounded upload: a declared ``Content-Length`` over
the limit is refused before anything is read; a chunked body is counted as it arrives and
refused the moment it passes the limit. Either way the client gets the usual error body,
status 413, code ``body_too_large``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_LIVE", "TOO_LARGE_HINT", "BodyLimit", "too_large"]

DEFAULT_MAX_BODY = 1 << 20
"""1 MiB: far above any message a person types, far below what would strain the server."""

DEFAULT_MAX_LIVE = 32
"""Agents the server keeps attached at once (each may be a large process)."""


TOO_LARGE_HINT = "send a smaller body (a long text can go in a file in the workspace)"


DRAIN_MAX = 8 * 1024 * 1024  # a refused body up to this size is read, so the 413 arrives


def too_large(limit: int) -> dict[str, Any]:
    return {
        "code": "body_too_large",
        "message": f"the request body is larger than this server's limit of {limit} bytes",
        "hint": TOO_LARGE_HINT,
        "retryable": False,
    }


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _drain(receive, declared)
            await _refuse(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # FastAPI passes an HTTPException through
                    if message.get("more_body", False):
                        await _drain(receive, seen)
                    raise HTTPException(413, too_large(limit)["message"])
            return message

        await self.app(scope, counted, send)


async def _drain(receive: Receive, size: int) -> None:
    """Read the rest of a refused body, up to ``DRAIN_MAX`` bytes, before answering.

    Closing a socket whose unread data is still in the kernel's buffer makes it send a reset,
    which can reach the client before the 413 does; a body beyond the bound is cut off anyway.
    """
    drained = 0
    while size <= DRAIN_MAX and drained <= DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(too_large(limit))
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
