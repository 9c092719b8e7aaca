"""The WebSocket protocol :func:`~acphost.server.serve` runs: uvicorn's, with three changes.

**A close never waits for the client.** uvicorn waits for the transport to accept more before
it writes a close frame. A client that stopped reading never lets it, so the close we send it
(4008, "reconnect with after_seq=N") waited until uvicorn's keepalive, whose ping the client does
not read either, closed the connection with 1011 and no word on where to resume. Here a close is
queued behind what the client has not read yet, at once.

**Many messages, one write.** The event stream sends a batch of messages as one ASGI message
(``{"type": "websocket.send", SEND_MANY: [message, ...]}``, offered in the scope's
extensions): their frames go to the socket in one write instead of one system call each.

**One compression for every subscriber.** permessage-deflate is negotiated with
``server_no_context_takeover`` (RFC 7692 lets a server choose it whatever the client offered),
so a message's compressed frame depends on the message alone: it is made once, kept on the
message (:class:`Shared`), and written by every connection that sends it. 50 subscribers of a
storm cost one deflate per event (or per page of events, for ``batch=true``), not 50. Browsers
inflate such frames like any other.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["SEND_MANY", "Shared", "WebSocketProtocol"]

SEND_MANY = "acphost.messages"
"""The scope extension (and ``websocket.send`` key) of a batch of :class:`Shared` messages."""


class Shared(Protocol):
    """A message sent to many connections: its text, and its frames once made (by key)."""

    payload: str
    frames: dict[int, bytes] | None


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O ``websockets`` protocol: closes that never wait, batched sends,
    compression shared across connections (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:  # uvicorn's settings, without context takeover
            deflate = ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5, "level": 1},  # once per message: fast
            )
            self.conn = ServerProtocol(
                extensions=[deflate],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.handshake_initiated and not self.close_sent:
            self.scope["extensions"][SEND_MANY] = {}

    def _shared_window(self) -> int | None:
        """The key of frames this connection can share: 0 uncompressed, else the window."""
        extensions = self.conn.extensions
        if not extensions:
            return 0
        deflate = extensions[0]
        if (
            len(extensions) == 1
            and isinstance(deflate, PerMessageDeflate)
            and deflate.local_no_context_takeover
        ):
            return deflate.local_max_window_bits
        return None  # an encoding with state across messages: frames are its own

    async def send(self, message: Any) -> None:
        batch = message.get(SEND_MANY)
        if batch is not None:
            await self._send_many(batch)
        elif message["type"] == "websocket.close" and self.close_sent:
            return  # closing already (the keepalive gave up on the client first)
        elif message["type"] != "websocket.close" or self.writable.is_set():
            await super().send(message)
        else:
            # The transport is paused (its buffer is full). Writing never blocks, only the
            # wait for "writable" does: lift it for this one message. ``super().send`` does
            # not yield when it is set, so nothing else runs before it is lowered again; the
            # transport still calls ``resume_writing`` when the client reads.
            self.writable.set()
            try:
                await super().send(message)
            finally:
                self.writable.clear()

    async def _send_many(self, batch: list[Shared]) -> None:
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        conn = self.conn
        key = self._shared_window()
        if key is None:
            for message in batch:
                conn.send_text(message.payload.encode())
            self.transport.write(b"".join(conn.data_to_send()))
            return
        frames = []
        for message in batch:
            made = message.frames
            if made is None:
                made = message.frames = {}
            frame = made.get(key)
            if frame is None:
                frame = made[key] = Frame(Opcode.TEXT, message.payload.encode()).serialize(
                    mask=False, extensions=conn.extensions
                )
            frames.append(frame)
        self.transport.write(b"".join(frames))
