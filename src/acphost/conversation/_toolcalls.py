"""Every tool call's latest snapshot, as a mapping: the live ones in memory, old ones on disk.

A snapshot is a whole tool call (its content, diffs, raw input and output), so a long
conversation's calls would outgrow the rest of its state. The running calls and the most recent
finished ones stay in memory; an older finished call is read back from the store, by the seq of
its last snapshot, when asked for. Only snapshots known to be stored leave memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping

from acphost.conversation._eventlog import KEEP_IN_MEMORY, EventLog
from acphost.events import ToolCallEvent

__all__ = ["ToolCalls"]

RUNNING = ("pending", "in_progress")


class ToolCalls(Mapping[str, ToolCallEvent]):
    """Tool call id → its latest snapshot, in the order the calls first appeared."""

    __slots__ = ("_keep", "_log", "_recent", "_running", "_seqs")

    def __init__(self, log: EventLog, *, keep: int = KEEP_IN_MEMORY) -> None:
        self._log = log  # where snapshots are read back from, and how far the store has them
        self._keep = max(keep, 1)
        self._seqs: dict[str, int] = {}  # every call → the seq of its latest snapshot
        self._running: dict[str, ToolCallEvent] = {}  # pending or in progress, in order
        self._recent: OrderedDict[str, ToolCallEvent] = OrderedDict()  # finished, newest last

    def put(self, event: ToolCallEvent) -> None:
        key = event.tool_call_id
        self._seqs[key] = event.seq
        if event.status in RUNNING:
            self._running[key] = event
            self._recent.pop(key, None)
            return
        self._running.pop(key, None)
        recent = self._recent
        recent[key] = event
        recent.move_to_end(key)
        durable = self._log.durable
        if durable:
            while len(recent) > self._keep:
                oldest = next(iter(recent.values()))
                if oldest.seq > durable:
                    break
                recent.popitem(last=False)

    @property
    def running(self) -> list[ToolCallEvent]:
        """Calls still pending or in progress, in the order they started."""
        return list(self._running.values())

    @property
    def in_memory(self) -> int:
        """How many snapshots are held (the rest are read back when asked for)."""
        return len(self._running) + len(self._recent)

    def __getitem__(self, key: str) -> ToolCallEvent:
        event = self._running.get(key) or self._recent.get(key)
        if event is not None:
            return event
        stored = self._log.stored_event(self._seqs[key])  # KeyError: no such call
        assert isinstance(stored, ToolCallEvent)
        return stored

    def __contains__(self, key: object) -> bool:
        return key in self._seqs

    def __iter__(self) -> Iterator[str]:
        return iter(self._seqs)

    def __len__(self) -> int:
        return len(self._seqs)

    def __repr__(self) -> str:
        return f"<ToolCalls calls={len(self._seqs)} in_memory={self.in_memory}>"
