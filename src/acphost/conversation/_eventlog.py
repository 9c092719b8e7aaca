"""A conversation's events as a sequence: the newest in memory, the older read from the store.

Keeping every event object of a long conversation costs more memory than the conversation's
whole store (a tool call is a full snapshot per update), and the store already holds each
event before any callback sees it. So the log keeps a bounded tail of objects and reads
older ones back on demand; indexing, slicing and iteration behave like a list's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import overload

from acphost.events import Event, parse_event
from acphost.store import EventStore

__all__ = ["EventLog", "position"]

KEEP_IN_MEMORY = 512
"""Default number of event objects kept alive; older events are read from the store."""


def position(index: int, count: int, what: str) -> int:
    """A list index (negative from the end) as a position in ``range(count)``, or IndexError."""
    i = index + count if index < 0 else index
    if not 0 <= i < count:
        raise IndexError(f"{what} index out of range")
    return i


class EventLog(Sequence[Event]):
    """Every event of a conversation, in ``seq`` order.

    Only events known to be stored are ever dropped from memory (see :meth:`stored`), and only
    while seqs are contiguous, so a dropped ``log[i]`` is the stored seq ``first + i``. Without
    a store it is a plain in-memory list. Read it under the state's lock, like the rest of the
    state.
    """

    __slots__ = ("_base", "_count", "_durable", "_gap", "_id", "_keep", "_store", "_tail")

    def __init__(
        self, conversation_id: str, store: EventStore | None = None, *, keep: int = KEEP_IN_MEMORY
    ) -> None:
        self._id = conversation_id
        self._store = store
        self._keep = max(keep, 1)
        self._tail: deque[Event] = deque()
        self._count = 0
        self._base = 0  # the seq of index 0
        self._gap = False  # seqs stopped being contiguous: nothing more leaves memory
        self._durable = 0  # events up to this seq are in the store

    def append(self, event: Event) -> None:
        if self._count == 0:
            self._base = event.seq
        elif event.seq != self._base + self._count:
            self._gap = True  # an unreadable stored event was skipped: keep the rest
        self._tail.append(event)
        self._count += 1

    def stored(self, seq: int) -> None:
        """Events up to ``seq`` are in the store: the oldest of them may leave memory."""
        self._durable = max(self._durable, seq)
        if self._store is None or self._gap:
            return
        tail = self._tail
        while len(tail) > self._keep and tail[0].seq <= self._durable:
            tail.popleft()

    @property
    def durable(self) -> int:
        """Events up to this seq can be read back from the store (0: none can)."""
        return self._durable if self._store is not None else 0

    def stored_event(self, seq: int) -> Event:
        """The stored event ``seq``, read back from the store."""
        store = self._store
        records = [] if store is None else store.events(self._id, after_seq=seq - 1, limit=1)
        if not records or records[0].seq != seq:
            raise LookupError(f"event #{seq} of {self._id} is not in the store")
        return parse_event(records[0].data)

    @property
    def in_memory(self) -> int:
        """How many event objects are held (the rest are read back when asked for)."""
        return len(self._tail)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            indices = range(*index.indices(self._count))
            if not indices:
                return []
            if indices.step == 1:
                return list(self._range(indices.start, indices.stop))
            low, high = min(indices), max(indices) + 1
            window = list(self._range(low, high))
            return [window[i - low] for i in indices]
        count = self._count
        i = position(index, count, "event")
        first_in_memory = count - len(self._tail)
        if i >= first_in_memory:
            return self._tail[i - first_in_memory]
        return next(self._range(i, i + 1))

    def __iter__(self) -> Iterator[Event]:
        return self._range(0, self._count)

    def __repr__(self) -> str:
        return f"<EventLog {self._id} events={self._count} in_memory={len(self._tail)}>"

    def _range(self, start: int, stop: int) -> Iterator[Event]:
        """Events ``start`` ≤ index < ``stop``: from the store what left memory, then the tail.

        Recomputed per step, because a caller may append (and so trim) while iterating.
        """
        while start < stop:
            first_in_memory = self._count - len(self._tail)
            if start >= first_in_memory:
                yield from list(self._tail)[start - first_in_memory : stop - first_in_memory]
                return
            assert self._store is not None  # only stored events before any gap leave memory
            end = min(stop, first_in_memory)
            records = self._store.events(
                self._id, after_seq=self._base + start - 1, limit=min(end - start, 1000)
            )
            if not records:
                raise LookupError(f"event #{self._base + start} of {self._id} is not in the store")
            for record in records:
                yield parse_event(record.data)
            start += len(records)
