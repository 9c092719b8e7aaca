"""``WS /api/conversations/changes``: the conversations list, live.

Each message is one change of a list row, as ``GET /api/conversations`` returns rows:

- ``{"type": "conversation", "conversation": {...}}``: a conversation was created, or its row
  changed (status, title, cost, pending permission count, running, live, last activity);
- ``{"type": "deleted", "id": "..."}``: it was deleted.

Nothing historical is sent on connect. A client that must miss nothing **connects first, then
GETs the list**, and applies every change it receives to what it got (a change may repeat what
the list already shows: a row's ``updated_at`` says which is newer). Rows that another process
writes to the same store (``acphost run``, ``acphost jobs run``) come too, found by the
:class:`~acphost.server._follow.Follower` within a quarter of a second.

**Cheap for the turns.** The manager tells :meth:`Feed.changed` of every event of every live
conversation (see :class:`~acphost.server._manager.Changes`); with no client connected it
returns at once, otherwise it adds the id to a set. The work happens here, off the turn's path:
at most every ``interval`` (0.2 s) the feed reads the changed rows (in a worker thread) and
queues one message per row for every client. A client's queue keeps the newest message per
conversation, so a storm of 20,000 events is a handful of messages per client, and a client
that reads slowly gets fewer, newer ones instead of a backlog.

A client whose socket accepts nothing for ``max_lag`` seconds (it stopped reading) is closed
with 4008: it reconnects, then GETs the list again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from acphost.server._errors import ApiError
from acphost.server._follow import Follower
from acphost.server._guard import Guard
from acphost.server._hub import TOO_SLOW, Outgoing
from acphost.server._listing import Rows
from acphost.server._manager import Manager
from acphost.server._transport import SEND_MANY
from acphost.server._ws import deny_handshake, serve_client

__all__ = ["Feed", "change_feed"]

log = logging.getLogger("acphost.server")

INTERVAL = 0.2
"""At most one message per conversation per this many seconds, per client."""


class _Watcher:
    """One client: the newest unsent message of each changed conversation, in change order."""

    def __init__(self) -> None:
        self.pending: dict[str, Outgoing] = {}
        self.ready = asyncio.Event()
        self.closed: tuple[int, str] | None = None
        self.stuck = False  # a send was blocked for max_lag: the client stopped reading

    def put(self, conversation_id: str, message: Outgoing) -> None:
        self.pending.pop(conversation_id, None)  # the newer one goes last
        self.pending[conversation_id] = message
        self.ready.set()

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.ready.set()

    async def take(self) -> list[Outgoing] | None:
        """Everything pending (waiting for something), or ``None`` once closed."""
        while not self.pending and self.closed is None:
            self.ready.clear()
            await self.ready.wait()
        if self.closed is not None:
            return None
        batch = list(self.pending.values())
        self.pending.clear()
        return batch


class Feed:
    """The manager's :class:`~acphost.server._manager.Changes`: coalesces row changes and
    fans them out to the clients of ``WS /api/conversations/changes``."""

    def __init__(self, manager: Manager, rows: Rows, interval: float = INTERVAL) -> None:
        self._manager = manager
        self._rows = rows  # the list route's too: one cost cache
        self._interval = interval
        self._watchers: set[_Watcher] = set()
        self._dirty: set[str] = set()
        self._gone: set[str] = set()  # deleted while a flush read its rows
        self._scheduled = False  # a flush is due or running
        self._last_flush = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._flushing: asyncio.Task[None] | None = None

    # --- the manager's hook (any thread, on the turn's path: O(1)) -------------------------

    def changed(self, conversation_id: str) -> None:
        """A row may have changed: mark it, and make sure a flush is due."""
        if not self._watchers:
            return  # nobody listens: a client GETs the list after connecting
        if threading.get_ident() != self._thread:
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                self._loop.call_soon_threadsafe(self.changed, conversation_id)
            return
        self._dirty.add(conversation_id)
        if not self._scheduled:
            self._schedule()

    def deleted(self, conversation_id: str) -> None:
        """Tell every client now (called on the server loop once the store forgot it)."""
        self._dirty.discard(conversation_id)
        if self._scheduled:
            self._gone.add(conversation_id)
        if self._watchers:
            message = Outgoing(0, orjson.dumps({"type": "deleted", "id": conversation_id}).decode())
            for watcher in self._watchers:
                watcher.put(conversation_id, message)

    # --- the feed's side (server loop) -----------------------------------------------------

    def _schedule(self) -> None:
        assert self._loop is not None
        self._scheduled = True
        delay = max(0.0, self._last_flush + self._interval - self._loop.time())
        self._loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        assert self._loop is not None
        self._flushing = self._loop.create_task(self._flush(), name="acphost-conversation-feed")

    async def _flush(self) -> None:
        assert self._loop is not None
        self._last_flush = self._loop.time()
        ids, self._dirty = self._dirty, set()
        try:
            store = self._manager.store
            found = await asyncio.to_thread(lambda: [store.get_conversation(i) for i in ids])
            records = [r for r in found if r is not None and r.id not in self._gone]
            rows = await self._rows.rows(records)
            for row in rows:
                if row.id in self._gone or not self._watchers:
                    continue
                payload = '{"type":"conversation","conversation":' + row.model_dump_json() + "}"
                message = Outgoing(0, payload)  # one message (and frame) for every client
                for watcher in self._watchers:
                    watcher.put(row.id, message)
        except Exception:  # the next change tries again; a client can always re-GET
            log.exception("the conversation feed could not read %d rows", len(ids))
        finally:
            self._gone.clear()
            self._scheduled = False
            if self._dirty and self._watchers:
                self._schedule()

    def watch(self) -> _Watcher:
        """A new client (on the server loop): it hears the changes from now on."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        watcher = _Watcher()
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: _Watcher) -> None:
        self._watchers.discard(watcher)
        if not self._watchers:
            self._dirty.clear()

    def close_all(self, code: int, reason: str) -> None:
        """Close every client (the server is shutting down)."""
        for watcher in self._watchers:
            watcher.close(code, reason)
        self._watchers.clear()


def change_feed(
    feed: Feed, follower: Follower, guard: Guard, max_lag: float
) -> Callable[[WebSocket], Coroutine[Any, Any, None]]:
    """The route of ``WS /api/conversations/changes`` (checked by ``guard`` like the event
    stream; a client whose send is blocked for ``max_lag`` seconds is closed with 4008)."""

    async def conversation_changes(websocket: WebSocket) -> None:
        try:
            guard.websocket(websocket)
        except ApiError as error:
            await deny_handshake(websocket, error)
            return
        await follower.watch_rows()  # other processes' rows too
        try:
            await websocket.accept()
            watcher = feed.watch()
            try:
                close = await _serve(websocket, watcher, max_lag)
            finally:
                feed.unwatch(watcher)
        finally:
            follower.unwatch_rows()
        if close is not None and websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, OSError):
                await websocket.close(*close)
            log.debug("closed a conversation feed with %d", close[0])

    return conversation_changes


async def _serve(websocket: WebSocket, watcher: _Watcher, max_lag: float) -> tuple[int, str] | None:
    """Send until closed, the client goes, or it stops reading; the close to send, if any."""
    if not await serve_client(websocket, _send(websocket, watcher, max_lag), "a change feed"):
        return None  # the client went away
    if watcher.stuck:
        log.info("closing a stuck conversation feed")
        return TOO_SLOW, "too slow: reconnect, then GET /api/conversations again"
    return watcher.closed


async def _send(websocket: WebSocket, watcher: _Watcher, max_lag: float) -> None:
    """Send batches as they come, until closed or a send was blocked for ``max_lag``."""
    many = SEND_MANY in websocket.scope.get("extensions", {})
    while (batch := await watcher.take()) is not None:
        try:
            async with asyncio.timeout(max_lag):
                # a send cancelled while it waits for the socket to be writable wrote nothing
                if many:
                    await websocket.send({"type": "websocket.send", SEND_MANY: batch})
                else:  # another ASGI server: one message at a time
                    for message in batch:
                        await websocket.send_text(message.payload)
        except TimeoutError:
            watcher.stuck = True
            return
