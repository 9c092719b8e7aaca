"""Records, the storage protocol and its errors.

The store persists conversations as append-only event logs and knows nothing about event
classes: events arrive serialized (``data`` is the event's JSON), so a store can be swapped or
replayed without importing the conversation layer.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Final, Protocol, Self, runtime_checkable

from acphost.errors import AcphostError
from acphost.store._owner import Owner

__all__ = [
    "UNSET",
    "ConversationExists",
    "ConversationNotFound",
    "ConversationRecord",
    "EventRecord",
    "EventStore",
    "Owner",
    "SeqConflict",
    "StoreBusy",
    "StoreError",
    "Unset",
]


class Unset(enum.Enum):
    """Type of :data:`UNSET`, "argument not given" where ``None`` is a meaningful value."""

    UNSET = enum.auto()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One serialized event; ``seq`` orders it within its conversation (1, 2, …)."""

    conversation_id: str
    seq: int
    id: str
    kind: str
    ts: float
    data: bytes


@dataclass(slots=True)
class ConversationRecord:
    """A conversation's header; ``metadata`` must be JSON-serializable.

    ``status`` is the log's, except that a ``running`` turn whose ``owner`` is gone (its
    process died mid-turn) reads ``paused``: resuming the conversation ends that turn.
    """

    id: str
    agent: str
    workspace: str
    title: str | None
    status: str
    created_at: float
    updated_at: float
    session_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    owner: Owner | None = None


@runtime_checkable
class EventStore(Protocol):
    """Durable storage of conversations and their event logs.

    Methods are synchronous and thread-safe: the conversation layer calls them from worker
    threads (or ``anyio.to_thread``) and batches appends itself.
    """

    def create_conversation(self, record: ConversationRecord) -> None:
        """Store a new conversation; :class:`ConversationExists` if the id is taken."""
        ...

    def update_conversation(
        self,
        id: str,
        *,
        title: str | Unset | None = UNSET,
        status: str | Unset = UNSET,
        session_id: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
        updated_at: float | Unset = UNSET,
    ) -> None:
        """Change only the given fields; :class:`ConversationNotFound` if unknown."""
        ...

    def set_owner(self, id: str, owner: Owner) -> None:
        """Record the process that drives the conversation's turns (before it runs one)."""
        ...

    def dangling_turns(self) -> list[str]:
        """The conversations whose log ends in a running turn whose owner is gone."""
        ...

    def get_conversation(self, id: str) -> ConversationRecord | None:
        """The conversation's record, or ``None`` if there is no such conversation."""
        ...

    def list_conversations(
        self,
        *,
        status: str | None = None,
        agent: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationRecord]:
        """Newest ``updated_at`` first; ``search`` is a case-insensitive substring of title/id."""
        ...

    def count_conversations(
        self, *, status: str | None = None, agent: str | None = None, search: str | None = None
    ) -> int:
        """How many conversations :meth:`list_conversations` would give with these filters."""
        ...

    def append(
        self, events: Sequence[EventRecord], *, update: Mapping[str, Any] | None = None
    ) -> None:
        """Write a batch atomically (one transaction), with ``update`` (the keyword arguments
        of :meth:`update_conversation`) applied to the first event's conversation in it.

        Within each conversation ``seq`` must be strictly increasing and above
        :meth:`last_seq`; otherwise :class:`SeqConflict` and nothing of the batch is written.
        The header follows the log in the same transaction: a ``status_changed`` event sets
        ``status``, a ``session_info`` with a title sets ``title``, a ``session_*`` event sets
        ``session_id`` (each also ``updated_at``, to the event's ``ts``).
        """
        ...

    def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events with ``seq > after_seq``, ordered by seq."""
        ...

    def iter_events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[EventRecord]:
        """Like :meth:`events` but paged, for logs too big to hold in memory."""
        ...

    def get_event(self, conversation_id: str, seq: int) -> EventRecord | None:
        """One stored event by its ``seq``, or ``None``."""
        ...

    def last_seq(self, conversation_id: str) -> int:
        """The highest stored seq, 0 when there is none."""
        ...

    def delete_conversation(self, id: str) -> bool:
        """Delete a conversation and its events; whether it existed."""
        ...

    def close(self) -> None:
        """Release the store's connections; it is not used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# Errors. Local to the store until the lead decides whether they belong in acphost.errors.


class StoreError(AcphostError):
    """The event store failed (I/O, a corrupt or newer database, a closed store)."""

    code: ClassVar[str] = "store_error"


class StoreBusy(StoreError):
    """Another connection held the database's write lock longer than the busy timeout."""

    code: ClassVar[str] = "store_busy"
    retryable: ClassVar[bool] = True
    default_hint: ClassVar[str] = "another process is writing the database; try again"


class ConversationNotFound(StoreError):
    """No conversation has this id."""

    code: ClassVar[str] = "conversation_not_found"
    default_hint: ClassVar[str] = "list conversations to see the ids that exist"


class ConversationExists(StoreError):
    """A conversation with this id is already stored."""

    code: ClassVar[str] = "conversation_exists"
    default_hint: ClassVar[str] = "conversation ids must be unique; generate a new one"


class SeqConflict(StoreError):
    """An appended event's seq is not above the conversation's last stored seq."""

    code: ClassVar[str] = "event_seq_conflict"
    default_hint: ClassVar[str] = (
        "another writer appended to this conversation; reload it and continue from last_seq()"
    )

    def __init__(
        self, message: str, *, conversation_id: str, seq: int, last_seq: int | None = None
    ) -> None:
        super().__init__(message)
        self.conversation_id = conversation_id
        self.seq = seq
        self.last_seq = last_seq

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "last_seq": self.last_seq,
        }
