"""``WS /api/conversations/{id}/events?after_seq=N&batch=B``: every event in order, then live.

Resuming without gap or duplicate: the subscriber joins the hub *before* the stored backlog is
read, so each event is in the backlog (stored before we read), in the live queue (published
after we joined), or in both; events at or below the last seq sent are skipped. A subscriber
whose queue overflowed re-reads the store the same way (see :mod:`acphost.server._hub`), so a
reader that falls behind is served from the store instead of being dropped. Token deltas
(``{"type": "token", "text": ..., "thought": bool}``) are live only, never stored. The events
of a conversation that another process drives are sent as that process stores them (the
store is watched while such a stream is open, see :mod:`acphost.server._follow`).

The only client closed for slowness (:data:`TOO_SLOW`) is one that stopped reading: a single
send blocked for ``max_lag`` seconds (the socket's buffers are full). It reconnects with the
last seq it received, which the close reason also gives.

``batch=true`` (opt-in; browsers use it) lets the server send consecutive events as one
message, ``{"type": "events", "events": [event, ...]}`` (seq order, no gap, each event's JSON
the same as in ``{"type": "event", "event": ...}``, which it may still send for one event);
token deltas stay messages of their own, in their place. A client pays its WebSocket library
once per message, so a subscriber catching up on a storm decodes a few hundred messages
instead of tens of thousands. The store's pages that catching-up subscribers share are
batched once, so their compressed frames are shared too; batches from the live log are each
subscriber's own. Without ``batch`` (or ``batch=false``) the wire is one event per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from acphost.server._errors import ApiError
from acphost.server._follow import Follower
from acphost.server._guard import Guard
from acphost.server._hub import (
    CATCH_UP,
    PAGE,
    TOO_SLOW,
    Outgoing,
    Subscriber,
    batch_messages,
    token_message,
)
from acphost.server._manager import Manager
from acphost.server._models import MAX_SEQ
from acphost.server._transport import SEND_MANY

__all__ = ["deny_handshake", "drain_client", "event_stream", "serve_client"]

log = logging.getLogger("acphost.server")

_TICK = 0.05  # the stall timer's shortest period (``max_lag`` may be 0)


async def deny_handshake(websocket: WebSocket, error: ApiError) -> None:
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


_FLAGS = {"true": True, "false": False}


def _batch(raw: str | None) -> bool:
    value = _FLAGS.get(raw.lower() if raw is not None else "false")
    if value is None:
        raise ApiError(
            422, "invalid_request", "batch must be true or false", hint="e.g. ?batch=true"
        )
    return value


def event_stream(
    manager: Manager, follower: Follower, guard: Guard, max_lag: float
) -> Callable[[WebSocket, str], Coroutine[Any, Any, None]]:
    async def stream_events(websocket: WebSocket, conversation_id: str) -> None:
        try:
            guard.websocket(websocket)
            after_seq = _after_seq(websocket.query_params.get("after_seq"))
            batch = _batch(websocket.query_params.get("batch"))
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
            await deny_handshake(websocket, error)
            return
        await websocket.accept()
        hub = manager.hub(conversation_id)
        subscriber = hub.subscribe()
        follower.wake()  # another process may be writing it
        try:
            sender = _Sender(
                websocket, manager, conversation_id, subscriber, after_seq, max_lag, batch
            )
            close = await _serve(websocket, conversation_id, sender)
        finally:
            hub.unsubscribe(subscriber)
            manager.release_hub(conversation_id)
        if close is not None and websocket.application_state is WebSocketState.CONNECTED:
            # may wait for a stuck client to read again (or go away); it holds no subscription
            with contextlib.suppress(WebSocketDisconnect, OSError):
                await websocket.close(*close)
            log.debug("closed the event stream of %s with %d", conversation_id, close[0])

    return stream_events


async def _serve(
    websocket: WebSocket, conversation_id: str, stream: _Sender
) -> tuple[int, str] | None:
    """Send until the subscriber is closed, the client goes, or it stops reading.

    Returns the close to send, if any.
    """
    sub = stream.sub
    if not await serve_client(websocket, stream.run(), f"event stream of {conversation_id}"):
        return None  # the client went away: nothing to close
    if stream.stuck and sub.closed is None:  # a deleted conversation's 4404 comes first
        log.info("closing a stuck subscriber of %s at seq %d", conversation_id, stream.sent)
        return TOO_SLOW, f"too slow: reconnect with after_seq={stream.sent}"
    return sub.closed


async def serve_client(websocket: WebSocket, sending: Coroutine[Any, Any, Any], what: str) -> bool:
    """Run ``sending`` beside a reader of the client until either ends (the other is
    cancelled); ``False`` when the client went away. A failure other than a disconnect is
    logged as ``what`` failing."""
    sender = asyncio.create_task(sending)
    receiver = asyncio.create_task(drain_client(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.wait({sender, receiver})
    for task in (sender, receiver):
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, WebSocketDisconnect | OSError):
            log.error("%s failed", what, exc_info=error)
    return not (receiver.done() and not receiver.cancelled())


async def drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _token(delta: Outgoing) -> Outgoing:
    """A token delta as a message of its own (not shared: merged per subscriber)."""
    return Outgoing(0, token_message(delta.token, delta.thought))


class _Sender:
    """Sends one subscriber's events in seq order, from the hub's log or, after a gap, the store.

    Messages go in batches (one write for all that is waiting, see ``_transport.py``), each
    followed by the pacer's due (:class:`~acphost.server._hub.Pacer`). A stall timer cancels
    the task that runs :meth:`run` once a single send has been blocked for ``max_lag``
    (``stuck``). It fires once per ``max_lag`` instead of a timeout around every send, which
    would cost a timer per batch per subscriber during a storm.
    """

    def __init__(
        self,
        websocket: WebSocket,
        manager: Manager,
        conversation_id: str,
        sub: Subscriber,
        sent: int,
        max_lag: float,
        batch: bool,
    ) -> None:
        self.websocket = websocket
        self.manager = manager
        self.conversation_id = conversation_id
        self.sub = sub
        self.sent = sent  # the last seq written to the socket
        self.max_lag = max_lag
        self.batch = batch  # events go as batch messages (``batch=true``)
        self.stuck = False
        self._many = SEND_MANY in websocket.scope.get("extensions", {})
        self._since: float | None = None  # when the send in progress began
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        self._task = asyncio.current_task()
        self._timer = self._loop.call_later(max(self.max_lag, _TICK), self._check)
        try:
            sub = self.sub
            await self._backlog()
            sub.skip_through(self.sent)
            while (batch := await sub.get(PAGE)) is not None:
                if batch is CATCH_UP:
                    log.debug("a subscriber of %s fell behind", self.conversation_id)
                    await self._backlog()  # to the store's end, even if nothing more comes
                    sub.skip_through(self.sent)
                else:
                    await self._live(batch)
        finally:
            self._timer.cancel()  # the last one armed

    async def _live(self, batch: list[Outgoing]) -> None:
        """Send a batch from the log: events not sent yet, token deltas merged."""
        began = time.perf_counter()
        out: list[Outgoing] = []
        last = self.sent
        token: Outgoing | None = None
        for item in batch:
            seq = item.seq
            if not seq:  # consecutive deltas of one kind go as one message
                if token is not None and token.thought == item.thought:
                    token = Outgoing(0, token=token.token + item.token, thought=item.thought)
                else:
                    if token is not None:
                        out.append(_token(token))
                    token = item
                continue
            if token is not None:
                out.append(_token(token))
                token = None
            if seq <= last:
                continue  # already sent from the store
            if seq > last + 1:  # never expected; the store has what we missed
                await self._emit(self._grouped(out), last)
                out = []
                await self._backlog(seq - 1)
                last = self.sent
            out.append(item)
            last = seq
        if token is not None:
            out.append(_token(token))
        await self._emit(self._grouped(out), last)
        await self.manager.pacer.pace(time.perf_counter() - began)

    def _grouped(self, items: list[Outgoing]) -> list[Outgoing]:
        return batch_messages(items) if self.batch else items

    async def _emit(self, batch: list[Outgoing], seq: int) -> None:
        """Send ``batch``; ``seq`` is the last event in it (or the last one sent)."""
        if batch:
            self._since = self._loop.time()
            if self._many:
                await self.websocket.send({"type": "websocket.send", SEND_MANY: batch})
            else:  # another ASGI server: one message at a time
                for item in batch:
                    await self.websocket.send_text(item.payload)
            self._since = None
        self.sent = seq

    def _check(self) -> None:
        """The stall timer: cancel the sender if its send has been blocked for ``max_lag``."""
        now = self._loop.time()
        since = self._since
        if since is not None and now - since >= self.max_lag:
            # the send awaits the transport's "writable" before writing: cancelled, it wrote
            # nothing, so ``sent`` is the last seq the client will receive
            self.stuck = True
            assert self._task is not None
            self._task.cancel()
            return
        start = now if since is None else since
        self._timer = self._loop.call_at(max(start + self.max_lag, now + _TICK), self._check)

    async def _backlog(self, until: int | None = None) -> None:
        """Send the stored events after ``sent``, up to ``until`` or else the store's end."""
        sub = self.sub
        more = True
        while more and not sub.closed:
            limit = PAGE if until is None else min(PAGE, until - self.sent)
            if limit <= 0:
                break
            page, more = await sub.hub.stored(
                self.manager.store, self.conversation_id, self.sent, limit
            )
            if sub.closed:
                return
            began = time.perf_counter()  # the loop's time: the read ran on a worker thread
            if page:
                await self._emit(sub.hub.batched(page) if self.batch else page, page[-1].seq)
            await self.manager.pacer.pace(time.perf_counter() - began)
