"""``WS /api/conversations/{id}/events?after_seq=N``: every event in order, then live.

Resuming without gap or duplicate: the subscriber joins the hub *before* the stored backlog is
read, so each event is in the backlog (stored before we read), in the live queue (published
after we joined), or in both; events at or below the last seq sent are skipped. Token deltas
(``{"type": "token", "text": ..., "thought": bool}``) are live only, never stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from acphost.server._auth import KeyCheck
from acphost.server._errors import ApiError
from acphost.server._hub import TOO_SLOW, Subscriber, event_message
from acphost.server._manager import Manager
from acphost.server._models import MAX_SEQ

__all__ = ["event_stream"]

log = logging.getLogger("acphost.server")

_PAGE = 500


async def _deny(websocket: WebSocket, error: ApiError) -> None:
    """Refuse the handshake with a real HTTP status and the usual error body."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = JSONResponse(error.body(), status_code=error.status)
        await websocket.send_denial_response(response)
    else:  # the ASGI server cannot send a response: a policy-violation close is all we have
        await websocket.close(code=1008, reason=error.code)


def _after_seq(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else 0
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEQ:
        raise ApiError(
            422, "invalid_request", "after_seq must be an integer >= 0", hint="e.g. ?after_seq=0"
        )
    return value


def event_stream(
    manager: Manager, keys: KeyCheck, queue_size: int, max_lag: float
) -> Callable[[WebSocket, str], Coroutine[Any, Any, None]]:
    async def stream_events(websocket: WebSocket, conversation_id: str) -> None:
        peer = websocket.client.host if websocket.client else None
        try:
            if not keys.accepts(keys.presented(websocket.headers), peer):
                raise keys.fail()
            after_seq = _after_seq(websocket.query_params.get("after_seq"))
            manager.record(conversation_id)
            last = manager.store.last_seq(conversation_id)
            if after_seq > last:  # a cursor from elsewhere: following it would skip events
                raise ApiError(
                    400,
                    "after_seq_out_of_range",
                    f"after_seq {after_seq} is beyond the conversation's last event ({last})",
                    hint="pass the seq of the last event you received",
                )
        except ApiError as error:
            await _deny(websocket, error)
            return
        await websocket.accept()
        hub = manager.hub(conversation_id)
        subscriber = hub.subscribe(queue_size, max_lag)
        try:
            await _serve(websocket, manager, conversation_id, subscriber, after_seq)
        finally:
            hub.unsubscribe(subscriber)
            manager.release_hub(conversation_id)

    return stream_events


async def _serve(
    websocket: WebSocket, manager: Manager, conversation_id: str, sub: Subscriber, after: int
) -> None:
    sender = asyncio.create_task(_send(websocket, manager, conversation_id, sub, after))
    receiver = asyncio.create_task(_drain_client(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.wait({sender, receiver})
    for task in (sender, receiver):
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, WebSocketDisconnect | OSError):
            log.error("event stream of %s failed", conversation_id, exc_info=error)


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _send(
    websocket: WebSocket, manager: Manager, conversation_id: str, sub: Subscriber, sent: int
) -> None:
    sent = await _backlog(websocket, manager, conversation_id, sub, sent)
    while not sub.kicked:
        item = await sub.get()
        if item is None:
            break
        if item.seq:
            if item.seq <= sent:
                continue  # already sent from the backlog
            if item.seq > sent + 1:  # never expected; the store has what we missed
                sent = await _backlog(websocket, manager, conversation_id, sub, sent, item.seq - 1)
            sent = item.seq
        await websocket.send_text(item.text())
    if sub.kicked:
        log.info("closing a slow subscriber of %s at seq %d", conversation_id, sent)
        await websocket.close(TOO_SLOW, f"too slow: reconnect with after_seq={sent}")
    elif sub.closed is not None:
        await websocket.close(*sub.closed)


async def _backlog(
    websocket: WebSocket,
    manager: Manager,
    conversation_id: str,
    sub: Subscriber,
    sent: int,
    until: int | None = None,
) -> int:
    """Send stored events after ``sent`` (up to ``until``); returns the last seq sent."""
    store = manager.store
    while not sub.kicked:
        limit = _PAGE if until is None else min(_PAGE, until - sent)
        if limit <= 0:
            break
        page = await asyncio.to_thread(store.events, conversation_id, after_seq=sent, limit=limit)
        for record in page:
            await websocket.send_text(event_message(record.data))
            sent = record.seq
            if sub.kicked:
                break
        if len(page) < limit:
            break
    return sent
