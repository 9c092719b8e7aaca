"""Per-conversation fan-out of events and token deltas to WebSocket subscribers.

The conversation calls the hub from its driver (the ``arun()`` task on the server loop) with
the state lock held, so publishing must cost the same whatever the number of subscribers: a
message is appended once to the hub's shared log, and one event wakes every sender waiting for
more. Each subscriber is a cursor into that log. The log keeps the last ``size`` messages (up to
twice that between trims); a subscriber that fell further behind is told :data:`CATCH_UP`: its
sender re-reads the store from the last seq it sent, which loses no event because every event
is in the store before it is published. Only token deltas trimmed meanwhile are lost (they are
never stored; the whole text follows as an ``agent_message`` event). Closing a socket is the
sender's business, and only for a client that stopped reading (see :mod:`acphost.server._ws`).

Watchers never slow the work: while a turn is being driven, the :class:`Pacer` lets every
sender of every hub send one batch per shared tick and keeps them to a share of the loop, so a
storm's subscribers fall behind and catch up after the turn instead of stretching it.

A few deliveries happen on worker threads (``close()``, ``set_mode()`` run there because they
block). Those hop to the loop with ``call_soon_threadsafe``; while any hop is pending, deliveries
made on the loop queue up behind it, so subscribers always see events in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from acphost.events import Event
from acphost.store import EventStore

__all__ = [
    "BATCH_CHARS",
    "CATCH_UP",
    "PAGE",
    "TOO_SLOW",
    "Hub",
    "Outgoing",
    "Pacer",
    "Subscriber",
    "batch_messages",
    "token_message",
]

TOO_SLOW = 4008
"""Close code for a client that stopped reading; it reconnects with ``after_seq``."""


@dataclass(slots=True)
class Outgoing:
    """One WebSocket message: an event (``seq`` > 0, ``payload`` ready) or a token delta."""

    seq: int
    payload: str = ""
    token: str = ""
    thought: bool = False
    frames: dict[int, bytes] | None = None  # made by the transport, shared by subscribers


def event_message(event_json: bytes | str) -> str:
    """The WebSocket envelope of an event, from its stored JSON (no re-serialization)."""
    body = event_json.decode() if isinstance(event_json, bytes) else event_json
    return '{"type":"event","event":' + body + "}"


def token_message(text: str, thought: bool) -> str:
    return orjson.dumps({"type": "token", "text": text, "thought": thought}).decode()


BATCH_CHARS = 1 << 18
"""The most event JSON (in characters) one ``events`` message carries; a larger event goes
alone. Even as 4-byte UTF-8 it stays under a client's usual 1 MiB message limit."""

_ENVELOPE = len(event_message("")) - 1  # what precedes an event's JSON in its own message


def batch_messages(items: list[Outgoing]) -> list[Outgoing]:
    """``items`` for a ``batch=true`` subscriber: each run of consecutive events as
    ``{"type":"events","events":[...]}`` messages (joined from the events' JSON, never
    re-serialized; at most :data:`BATCH_CHARS` each), token deltas left in their place. A run
    of one event stays that event's own message, whose compressed frame is shared."""
    out: list[Outgoing] = []
    run: list[Outgoing] = []
    size = 0
    for item in items:
        if not item.seq:
            if run:
                out.append(_events_message(run))
                run, size = [], 0
            out.append(item)
            continue
        if run and size + len(item.payload) > BATCH_CHARS:
            out.append(_events_message(run))
            run, size = [], 0
        run.append(item)
        size += len(item.payload)
    if run:
        out.append(_events_message(run))
    return out


def _events_message(run: list[Outgoing]) -> Outgoing:
    if len(run) == 1:
        return run[0]
    bodies = ",".join([item.payload[_ENVELOPE:-1] for item in run])
    return Outgoing(run[-1].seq, '{"type":"events","events":[' + bodies + "]}")


class _CatchUp(enum.Enum):
    CATCH_UP = enum.auto()


CATCH_UP: Final = _CatchUp.CATCH_UP
"""What :meth:`Subscriber.get` returns after falling behind: re-read the store, then go on."""


class Pacer:
    """Keeps the WebSocket senders off the turn's critical path while a turn is driven.

    While any turn runs, a sender sends at most one batch per *tick* (``interval``, one timer
    shared by every sender of every hub: 50 watchers wake together, not 50 times as often),
    and it also repays the loop time its batches took: the next batch waits until ``spent *
    (1 - share) / share`` has passed (one debt shared by all senders). So during a storm the
    watchers cost the loop a bounded number of wakeups and at most ``share`` of its time, and
    their processes get little to decode: they fall behind and catch up after the turn. With
    no turn running nothing waits, and the end of the last turn releases every waiting sender
    at once.
    """

    def __init__(self, share: float = 0.05, interval: float = 0.1) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.factor = (1 - share) / share
        self.interval = interval
        self.driving = 0  # turns being driven right now
        self._until = 0.0
        self._tick: asyncio.Event | None = None  # set by the shared timer (or a turn's end)
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Around the driving of turns: the senders are paced meanwhile."""
        self.driving += 1
        try:
            yield
        finally:
            self.driving -= 1
            if not self.driving:
                self._until = 0.0
                if self._timer is not None:
                    self._timer.cancel()
                self._fire()

    def _fire(self) -> None:
        tick, self._tick, self._timer = self._tick, None, None
        if tick is not None:
            tick.set()

    def _next_tick(self) -> asyncio.Event:
        if self._tick is None:
            self._tick = asyncio.Event()
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._fire)
        return self._tick

    async def pace(self, spent: float) -> None:
        """After a batch that took ``spent`` seconds of loop time: wait for the next tick and
        the debt's end, or until no turn runs any more."""
        if not self.driving:
            return
        self._until = max(self._until, time.perf_counter()) + spent * self.factor
        while self.driving:
            await self._next_tick().wait()
            if time.perf_counter() >= self._until:
                return


class Subscriber:
    """A cursor into its hub's log; ``closed`` once the hub closes it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.cursor = hub.end  # the absolute index of the next message to send
        self.refreshed = hub.refreshes  # the store changes seen (see Hub.refresh)
        self.closed: tuple[int, str] | None = None

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    async def get(self, limit: int) -> list[Outgoing] | _CatchUp | None:
        """Up to ``limit`` messages, :data:`CATCH_UP` after falling behind or a
        :meth:`Hub.refresh`, ``None`` once closed.

        Everything published before ``CATCH_UP`` is returned is in the store (stored first),
        and everything after it follows in the log, so reading the store to its end, then
        :meth:`skip_through` the last seq sent, leaves no gap and no duplicate.
        """
        hub = self.hub
        while True:
            if self.closed:
                return None
            if self.cursor < hub.base:
                self.cursor = hub.base
                return CATCH_UP
            if self.refreshed != hub.refreshes:
                self.refreshed = hub.refreshes
                return CATCH_UP
            start = self.cursor - hub.base
            if start < len(hub.log):
                batch = hub.log[start : start + limit]
                self.cursor += len(batch)
                return batch
            hub.ready.clear()
            await hub.ready.wait()

    def skip_through(self, seq: int) -> None:
        """Skip the log's messages up to its last event at or below ``seq`` (sent from the
        store). Token deltas before such an event were streamed before it: sent after it, they
        would repeat text the client already has, so they go too."""
        hub = self.hub
        log = hub.log
        start = max(self.cursor, hub.base) - hub.base
        end = start
        for i in range(start, len(log)):
            item_seq = log[i].seq
            if item_seq > seq:
                break  # events are logged in seq order: none older follows
            if item_seq:
                end = i + 1
        self.cursor = hub.base + end


PAGE = 500
"""Events per page read from the store for subscribers that are behind."""

_PAGES_KEPT = 64  # ~32,000 events: a storm's subscribers catch up from the same pages


def _read_page(store: EventStore, conversation_id: str, index: int) -> list[Outgoing]:
    records = store.events(conversation_id, after_seq=index * PAGE, limit=PAGE)
    return [Outgoing(r.seq, event_message(r.data)) for r in records]


class Hub:
    """One conversation's subscribers; the ``on_*`` methods are the conversation's callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = 8192) -> None:
        self.loop = loop
        self.size = size
        self.log: list[Outgoing] = []
        self.base = 0  # the absolute index of log[0]
        self.ready = asyncio.Event()  # set when the log grew; waiting senders clear it
        self.subscribers: set[Subscriber] = set()
        self.refreshes = 0  # times the store got events this hub did not publish
        self._pages: dict[int, list[Outgoing]] = {}  # full pages of the store, by index
        self._batched: dict[int, list[Outgoing]] = {}  # their batch messages, once made
        self._reading: dict[int, asyncio.Future[list[Outgoing]]] = {}
        self._thread = threading.get_ident()
        self._hops = 0  # deliveries sent to the loop from another thread...
        self._landed = 0  # ...and how many of them ran

    @property
    def end(self) -> int:
        return self.base + len(self.log)

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
        if not self.subscribers:
            return  # a subscriber joins at the log's end: nobody would read it
        log = self.log
        log.append(item)
        if len(log) >= 2 * self.size:  # trim in bulk: a slice, not a pop per message
            drop = len(log) - self.size
            del log[:drop]
            self.base += drop
        if not self.ready.is_set():
            self.ready.set()

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:  # free the memory: the next subscriber starts at the end
            self.base += len(self.log)
            self.log.clear()
            self._pages.clear()
            self._batched.clear()

    # --- the store, for subscribers that are behind (server loop) ---------------------------

    async def stored(
        self, store: EventStore, conversation_id: str, after: int, limit: int
    ) -> tuple[list[Outgoing], bool]:
        """Up to ``limit`` stored events after seq ``after``, and whether more may follow.

        The store is read in pages aligned on seq (``PAGE`` events: 1-500, 501-1000...)
        that the hub's subscribers share: 50 subscribers catching up after a storm read
        each page once, and send the same message objects (whose frames the transport
        compresses once, see ``_transport.py``). Only full pages are kept (the last few).
        """
        index = after // PAGE
        page = self._pages.get(index)
        if page is None:
            reading = self._reading.get(index)
            if reading is None:
                reading = self._reading[index] = asyncio.ensure_future(
                    asyncio.to_thread(_read_page, store, conversation_id, index)
                )
                reading.add_done_callback(lambda _: self._reading.pop(index, None))
            page = await asyncio.shield(reading)
            if len(page) == PAGE and self.subscribers:
                if len(self._pages) >= _PAGES_KEPT:
                    oldest = next(iter(self._pages))
                    del self._pages[oldest]
                    self._batched.pop(oldest, None)
                self._pages[index] = page
        events = [item for item in page if item.seq > after][:limit]
        return events, len(page) == PAGE and (not events or events[-1].seq >= page[-1].seq)

    def batched(self, events: list[Outgoing]) -> list[Outgoing]:
        """Consecutive ``events`` from :meth:`stored` as :func:`batch_messages`. A whole kept
        page's messages are made once and shared by every subscriber that sends it (with
        their compressed frames): after its first, partial page, a catching-up subscriber
        reads whole pages."""
        first = events[0].seq
        index = (first - 1) // PAGE
        if len(events) < PAGE or (first - 1) % PAGE or index not in self._pages:
            return batch_messages(events)
        made = self._batched.get(index)
        if made is None:
            made = self._batched[index] = batch_messages(events)
        return made

    def refresh(self) -> None:
        """The store has events this hub did not publish (another process wrote them): every
        subscriber reads the store on from the last seq it sent, as after falling behind."""
        self.refreshes += 1
        self.ready.set()

    def close_all(self, code: int, reason: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.close(code, reason)
        self.subscribers.clear()
        self.ready.set()
