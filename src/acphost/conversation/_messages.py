"""The conversation's messages, oldest first: the newest in memory, older ones read back.

Like the log itself (:class:`EventLog`), a long conversation's messages would otherwise all stay
in memory; only the seq of each is kept for the ones that left, and only stored ones leave.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TypeAlias, overload

from acphost.conversation._eventlog import KEEP_IN_MEMORY, EventLog, position
from acphost.events import AgentMessageEvent, UserMessageEvent

__all__ = ["Message", "Messages"]

Message: TypeAlias = UserMessageEvent | AgentMessageEvent


class Messages(Sequence[Message]):
    """Every user and agent message of the conversation, as a sequence like a list."""

    __slots__ = ("_keep", "_log", "_recent", "_seqs")

    def __init__(self, log: EventLog, *, keep: int = KEEP_IN_MEMORY) -> None:
        self._log = log  # where messages are read back from, and how far the store has them
        self._keep = max(keep, 1)
        self._seqs: list[int] = []  # every message's seq
        self._recent: deque[Message] = deque()  # the newest messages

    def append(self, message: Message) -> None:
        self._seqs.append(message.seq)
        recent = self._recent
        recent.append(message)
        durable = self._log.durable
        while len(recent) > self._keep and recent[0].seq <= durable:
            recent.popleft()

    @property
    def in_memory(self) -> int:
        return len(self._recent)

    def __len__(self) -> int:
        return len(self._seqs)

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._seqs)))]
        count = len(self._seqs)
        i = position(index, count, "message")
        first_in_memory = count - len(self._recent)
        if i >= first_in_memory:
            return self._recent[i - first_in_memory]
        stored = self._log.stored_event(self._seqs[i])
        assert isinstance(stored, UserMessageEvent | AgentMessageEvent)
        return stored

    def __repr__(self) -> str:
        return f"<Messages count={len(self._seqs)} in_memory={len(self._recent)}>"
