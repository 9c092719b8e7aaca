"""The WebSocket protocol :func:`~acphost.server.serve` runs: uvicorn's, with three changes.

**A close never waits for the client.** uvicorn waits for the transport to accept more before
it writes a close frame. A client that stopped reading never lets it, so the close we send it
(4008, "reconnect with after_seq=N") waited until uvicorn's keepalive, whose ping the client does
not read either, closed the connection with 1011 and no word on where to resume. Here a close is
queued behind what the client has not read yet, at once.

**Many messages, one write.** The event stream sends a batch of messages as one ASGI message
(``{"type": "websocket.send", SEND_MANY: [text, ...]}``, offered in the scope's extensions):
their frames go to the socket in one write instead of one system call each.

**One compression for every subscriber.** permessage-deflate is negotiated with
``server_no_context_takeover`` (RFC 7692 lets a server choose it whatever the client offered),
so a message's compressed frame depends on the message alone and is made once, then shared by
every connection that sends it (:data:`_FRAMES`): 50 subscribers of a storm cost one deflate
per event, not 50. Browsers inflate such frames like any other.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["SEND_MANY", "WebSocketProtocol"]

SEND_MANY = "acphost.texts"
"""The scope extension (and ``websocket.send`` key) of a batch of text messages."""

_FRAMES_KEPT = 4096  # shared frames, newest kept: subscribers send the same recent events


class _FrameCache:
    """Serialized frames of recent messages, by the negotiated encoding and the text."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.frames: dict[tuple[int, str], bytes] = {}

    def get(self, protocol: ServerProtocol, window: int, text: str) -> bytes:
        key = (window, text)
        frame = self.frames.get(key)
        if frame is None:
            frame = Frame(Opcode.TEXT, text.encode()).serialize(
                mask=False, extensions=protocol.extensions
            )
            frames = self.frames
            if len(frames) >= self.size:
                frames.pop(next(iter(frames)), None)  # the oldest
            frames[key] = frame
        return frame


_FRAMES = _FrameCache(_FRAMES_KEPT)


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
                compress_settings={"memLevel": 5},
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
        texts = message.get(SEND_MANY)
        if texts is not None:
            await self._send_many(texts)
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

    async def _send_many(self, texts: list[str]) -> None:
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        window = self._shared_window()
        if window is None:
            for text in texts:
                self.conn.send_text(text.encode())
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            conn, get = self.conn, _FRAMES.get
            self.transport.write(b"".join([get(conn, window, text) for text in texts]))
