"""Per-conversation fan-out of events and token deltas to WebSocket subscribers.

The conversation calls the hub from its driver (the ``arun()`` task on the server loop) with
the state lock held, so publishing must never block or await: each subscriber gets its own
queue of shared messages, and a subscriber whose queue overflows is not waited for. Its queue is
emptied (the memory is freed at once) and it is marked ``behind``: its sender then re-reads the
store from the last seq it sent, which loses no event because every event is in the store before
it is published. Only token deltas dropped with the queue are lost (they are never stored; the
whole text follows as an ``agent_message`` event). Closing a socket is the sender's business,
and only for a client that stopped reading (see :mod:`acphost.server._ws`).

Overflow is measured in time as well as in messages: a burst of events (a batch the driver
delivers in one go, before any socket could be written) fills every queue at once, and is
cheaper to send from memory than to re-read. So a queue may pass ``limit`` while its oldest
message is younger than ``max_lag`` seconds, up to a hard ``limit * 8``.

A few deliveries happen on worker threads (``close()``, ``set_mode()`` run there because they
block). Those hop to the loop with ``call_soon_threadsafe``; while any hop is pending, deliveries
made on the loop queue up behind it, so subscribers always see events in seq order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from acphost.events import Event

__all__ = ["CATCH_UP", "TOO_SLOW", "Hub", "Outgoing", "Subscriber"]

TOO_SLOW = 4008
"""Close code for a client that stopped reading; it reconnects with ``after_seq``."""


@dataclass(slots=True)
class Outgoing:
    """One WebSocket message: an event (``seq`` > 0, ``payload`` ready) or a token delta."""

    seq: int
    payload: str = ""
    token: str = ""
    thought: bool = False
    at: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        if self.seq:
            return self.payload
        return orjson.dumps({"type": "token", "text": self.token, "thought": self.thought}).decode()


def event_message(event_json: bytes | str) -> str:
    """The WebSocket envelope of an event, from its stored JSON (no re-serialization)."""
    body = event_json.decode() if isinstance(event_json, bytes) else event_json
    return '{"type":"event","event":' + body + "}"


CATCH_UP = Outgoing(-1)
"""What :meth:`Subscriber.get` returns after an overflow: re-read the store, then go on."""


class Subscriber:
    """A queue bounded in lag, emptied past it (``behind``); token deltas merge into one slot."""

    def __init__(self, limit: int, max_lag: float) -> None:
        self.limit = limit
        self.max_lag = max_lag
        self.items: deque[Outgoing] = deque()
        self.behind = False  # the queue overflowed: what was dropped is in the store
        self.closed: tuple[int, str] | None = None
        self._ready = asyncio.Event()

    def push(self, item: Outgoing) -> None:
        if self.behind or self.closed:
            return  # the sender re-reads the store after ``CATCH_UP``: nothing to keep until then
        items = self.items
        last = items[-1] if items else None
        if not item.seq and last is not None and not last.seq and last.thought == item.thought:
            # a new object: ``item`` and ``last`` are shared with the other subscribers
            items[-1] = Outgoing(0, token=last.token + item.token, thought=item.thought, at=last.at)
        elif len(items) >= self.limit and (
            item.at - items[0].at >= self.max_lag or len(items) >= 8 * self.limit
        ):
            self.behind = True
            items.clear()  # free the memory now; the sender re-reads the events from the store
        else:
            items.append(item)
        self._ready.set()

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self._ready.set()

    def drop_through(self, seq: int) -> None:
        """Drop the queue's head up to its last event at or below ``seq`` (sent from the store).

        Token deltas queued before such an event were streamed before it: sent after it, they
        would repeat text the client already has, so they go too.
        """
        items = self.items
        last = 0
        for i, item in enumerate(items, 1):
            if item.seq > seq:
                break  # events are queued in seq order: none older follows
            if item.seq:
                last = i
        for _ in range(last):
            items.popleft()

    async def get(self) -> Outgoing | None:
        """The next message, :data:`CATCH_UP` after an overflow, or ``None`` once closed.

        Everything published before ``CATCH_UP`` is returned is in the store (stored first),
        and everything after it is queued again, so reading the store to its end then
        following the queue leaves no gap.
        """
        while True:
            if self.closed:
                return None
            if self.behind:
                self.behind = False
                return CATCH_UP
            if self.items:
                return self.items.popleft()
            self._ready.clear()
            await self._ready.wait()


class Hub:
    """One conversation's subscribers; the ``on_*`` methods are the conversation's callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.subscribers: set[Subscriber] = set()
        self._thread = threading.get_ident()
        self._hops = 0  # deliveries sent to the loop from another thread...
        self._landed = 0  # ...and how many of them ran

    # --- the conversation's callbacks (state lock held, any thread) -----------------------

    def on_event(self, event: Event) -> None:
        self._dispatch(self._publish_event, event)

    def on_token(self, text: str) -> None:
        self._dispatch(self._publish, Outgoing(0, token=text))

    def on_thought(self, text: str) -> None:
        self._dispatch(self._publish, Outgoing(0, token=text, thought=True))

    def _dispatch(self, func: Callable[[Any], None], arg: Any) -> None:
        if threading.get_ident() == self._thread and self._hops == self._landed:
            func(arg)
            return
        self._hops += 1  # serialized by the conversation's state lock
        try:
            self.loop.call_soon_threadsafe(self._land, func, arg)
        except RuntimeError:  # the loop is closed: the server is gone, nobody listens
            self._hops -= 1

    def _land(self, func: Callable[[Any], None], arg: Any) -> None:
        self._landed += 1
        func(arg)

    # --- fan-out (server loop) ------------------------------------------------------------

    def _publish_event(self, event: Event) -> None:
        if self.subscribers:
            payload = event_message(event.__pydantic_serializer__.to_json(event))
            self._publish(Outgoing(event.seq, payload))

    def _publish(self, item: Outgoing) -> None:
        for subscriber in self.subscribers:  # push() never awaits nor changes the set
            subscriber.push(item)

    def subscribe(self, limit: int, max_lag: float) -> Subscriber:
        subscriber = Subscriber(limit, max_lag)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close_all(self, code: int, reason: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.close(code, reason)
        self.subscribers.clear()
