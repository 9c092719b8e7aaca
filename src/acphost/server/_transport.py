"""The WebSocket protocol :func:`~acphost.server.serve` runs: uvicorn's, with one change.

uvicorn waits for the transport to accept more before it writes a close frame. A client that
stopped reading never lets it, so the close we send it (4008, "reconnect with after_seq=N")
waited until uvicorn's keepalive, whose ping the client does not read either, closed the
connection with 1011 and no word on where to resume. Here a close is queued behind what the
client has not read yet, at once: it is the first thing the client finds after its data.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["WebSocketProtocol"]


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O ``websockets`` protocol whose close never waits for the client."""

    async def send(self, message: Any) -> None:
        if message["type"] != "websocket.close" or self.writable.is_set():
            await super().send(message)
            return
        # The transport is paused (its buffer is full). Writing never blocks, only the wait
        # for "writable" does: lift it for this one message. ``super().send`` does not yield
        # when it is set, so nothing else runs before it is lowered again; the transport
        # still calls ``resume_writing`` when the client reads.
        self.writable.set()
        try:
            await super().send(message)
        finally:
            self.writable.clear()
