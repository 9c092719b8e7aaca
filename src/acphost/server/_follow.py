"""Following what other processes write to the store (``acphost jobs run``, ``acphost run``,
Python code on the same SQLite file).

The server's own conversations reach their WebSocket clients through the manager's callbacks.
Another process's writes reach nobody by themselves, so while a client needs them (a change
feed client, or an event stream of a conversation not live in this server) the
:class:`Follower` polls the store every :data:`INTERVAL` seconds for a number that moves when
another connection commits (:meth:`~acphost.store.SQLiteStore.data_version`; the server's own
commits leave it alone). When it moved:

- the feed is told of the rows that changed: the recently updated ones whose ``updated_at``,
  status or title differ from what its clients were last told, and, when the number of
  conversations is not the one expected, every row (to find the deleted ones);
- each followed event stream's hub is refreshed when its conversation's last seq moved: its
  senders read the store on from the last seq they sent (the hub's catch-up path), so events
  arrive in order, with no gap or duplicate, in either wire mode.

A process killed mid-turn writes nothing more, so every :data:`_SETTLE_EVERY` looks (5 s) the
follower also ends the turns whose process is gone, as the server does when it starts
(:meth:`~acphost.server._manager.Manager.settle_dangling_turns`), and tells their clients.

Nothing polls while no such client is connected, and nothing of this is on a turn's path. A
store without ``data_version`` (not SQLite) is not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from acphost.server._errors import ApiError
from acphost.server._manager import DELETED, Manager
from acphost.store import ConversationRecord, EventStore

__all__ = ["INTERVAL", "Follower"]

log = logging.getLogger("acphost.server")

INTERVAL = 0.25
"""Seconds between two looks at the store while a client follows it."""

_SETTLE_EVERY = 20  # looks between two searches for turns whose process died (5 s)
_SLACK = 30.0  # an event's ts may precede its commit (a busy store): re-read rows this recent
_PAGE = 100


@runtime_checkable
class _Store(EventStore, Protocol):
    """A store that tells when others wrote to it (:class:`~acphost.store.SQLiteStore`)."""

    def data_version(self) -> int: ...


_Row = tuple[float, str, str | None]  # what a feed client sees change: updated_at, status, title


def _row(record: ConversationRecord) -> _Row:
    return record.updated_at, record.status, record.title


class _Known:
    """The rows the feed's clients were last told of (read and changed in worker threads)."""

    def __init__(self, store: _Store) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, _Row] = {}
        self.newest = -math.inf
        self.version = store.data_version()  # first: a commit after it is found next time
        self._reset(store)

    def _reset(self, store: EventStore) -> tuple[list[str], list[str]]:
        """Every row: those that changed, and the ids that are gone."""
        records = store.list_conversations(limit=max(1, store.count_conversations()) + _PAGE)
        rows = {r.id: _row(r) for r in records}
        changed = [i for i, row in rows.items() if self.rows.get(i) != row]
        gone = [i for i in self.rows if i not in rows]
        self.rows = rows
        self.newest = max((row[0] for row in rows.values()), default=self.newest)
        return changed, gone

    def changes(self, store: EventStore, version: int) -> tuple[list[str], list[str]]:
        """The ids whose rows changed since the last call, and those deleted; ``version`` is
        the store's data_version, read before."""
        with self.lock:
            if version == self.version:
                return [], []
            self.version = version
            floor = self.newest - _SLACK
            limit = _PAGE
            while len(page := store.list_conversations(limit=limit)) == limit:
                if page[-1].updated_at < floor:
                    break
                limit *= 4  # (each listing reads every row: few large ones, not many pages)
            changed: list[str] = []
            for record in page:
                if record.updated_at < floor:
                    break  # newest first: the rest are older
                if self.rows.get(record.id) != (row := _row(record)):
                    self.rows[record.id] = row
                    changed.append(record.id)
                    self.newest = max(self.newest, record.updated_at)
            if store.count_conversations() == len(self.rows):
                return changed, []
            more, gone = self._reset(store)  # created long ago, or deleted: compare them all
            return [*changed, *(i for i in more if i not in changed)], gone


@dataclass(slots=True)
class _Look:
    """What one look at the store found."""

    version: int
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)  # followed conversation -> last seq
    gone: list[str] = field(default_factory=list)  # followed conversations deleted
    settled: list[str] = field(default_factory=list)  # turns of dead processes ended


class Follower:
    """Polls the store for other processes' writes while a client needs them (see above)."""

    def __init__(self, manager: Manager, interval: float = INTERVAL) -> None:
        self._manager = manager
        self._interval = interval
        self.polls = 0  # looks at the store's data_version (for tests and diagnostics)
        self._feeds = 0  # change feed clients
        self._known: _Known | None = None  # while a feed client is connected
        self._version: int | None = None
        self._seqs: dict[str, int] = {}  # followed conversation -> the last seq refreshed for
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the polling task is alive (only while some client is connected)."""
        return self._task is not None and not self._task.done()

    @property
    def _store(self) -> _Store | None:
        try:
            store = self._manager.store
        except ApiError:  # not started, or shut down
            return None
        return store if isinstance(store, _Store) else None

    async def watch_rows(self) -> None:
        """A feed client is about to be accepted: know the rows first, so that a change made
        after it connects is found, whenever it GETs the list."""
        store = self._store
        if self._known is None and store is not None:
            try:
                known = await asyncio.to_thread(_Known, store)
                self._known = self._known or known
            except Exception:  # its own rows still come; the next client tries again
                log.exception("could not read the rows to follow")
        self._feeds += 1
        self.wake()

    def unwatch_rows(self) -> None:
        self._feeds -= 1
        if not self._feeds:
            self._known = None  # stale by the next client: it is read again then

    def wake(self) -> None:
        """Start polling, unless it runs (a client connected)."""
        if not self.running and self._store is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="acphost-store-follower"
            )

    async def close(self) -> None:
        """Stop polling (the server is shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _followed(self) -> list[str]:
        """The conversations with event stream clients whose agent is not attached here."""
        manager = self._manager
        live = manager.live
        return [cid for cid, hub in manager.hubs.items() if hub.subscribers and cid not in live]

    async def _run(self) -> None:
        manager = self._manager
        while self._feeds or any(hub.subscribers for hub in manager.hubs.values()):
            followed = self._followed()
            self._seqs = {cid: self._seqs.get(cid, -1) for cid in followed}
            store = self._store
            if store is not None and (self._feeds or followed):
                try:
                    look = await asyncio.to_thread(self._look, store, followed, self._known)
                    self._apply(look)
                except Exception:  # the next look tries again
                    log.exception("could not follow the store")
            await asyncio.sleep(self._interval)
        self._version = None
        self._seqs.clear()

    def _look(self, store: _Store, followed: list[str], known: _Known | None) -> _Look:
        """In a worker thread: what moved since the last look."""
        version = store.data_version()  # first: a commit after it shows in the next look
        self.polls += 1
        look = _Look(version)
        if known is not None:
            look.changed, look.deleted = known.changes(store, version)
        moved = version != self._version
        for cid in followed:
            if moved or self._seqs.get(cid, -1) < 0:  # a new stream: refreshed once anyway
                seq = look.seqs[cid] = store.last_seq(cid)
                if not seq and store.get_conversation(cid) is None:
                    look.gone.append(cid)
        if self.polls % _SETTLE_EVERY == 1:  # a killed process writes nothing: look for it
            look.settled = self._manager.settle_dangling_turns()
        return look

    def _apply(self, look: _Look) -> None:
        manager = self._manager
        self._version = look.version
        changes = manager.changes
        for cid in look.changed:
            if cid not in manager.live:  # the feed follows the live ones itself
                changes.changed(cid)
        for cid in look.deleted:
            changes.deleted(cid)
        for cid in look.settled:
            manager.settled(cid)
        for cid in look.gone:
            if cid not in manager.live and (hub := manager.hubs.pop(cid, None)) is not None:
                hub.close_all(DELETED, "conversation deleted")
        for cid, seq in look.seqs.items():
            hub = manager.hubs.get(cid)
            if hub is not None and seq != self._seqs.get(cid):
                self._seqs[cid] = seq
                hub.refresh()
