"""What every event has (see :mod:`acphost.events`): its seq, id, time, producer and turn,
and the two ways an event keeps what the agent sent beyond its fields."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventBase", "Source", "Status"]

Source: TypeAlias = Literal["user", "agent", "host", "policy"]
"""Who produced an event: the user (or their callback), the agent, acphost itself (turns,
status, the ``failed`` it gives tool calls left running on cancel), or a fixed permission
policy."""
Status: TypeAlias = Literal["idle", "running", "paused", "finished", "error"]


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def _new_id() -> str:
    # Unique without a syscall per event: a random per-process prefix and a counter.
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


class EventBase(BaseModel):
    """Fields every event has. ``seq`` increases by one per event within a conversation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    seq: int = 0
    id: str = Field(default_factory=_new_id)
    ts: float = Field(default_factory=time.time)
    source: Source = "agent"
    turn: int | None = None


class _FromUpdate(EventBase):
    """An event made from one agent update: what it has no field for is kept, not dropped."""

    extra: dict[str, Any] | None = None
    """Keys of the agent's update that no field of the event carries, as sent."""


class _FromChunks(EventBase):
    """A message joined from chunks: what its text and blocks cannot say is kept, not dropped."""

    message_id: str | None = None
    """The ``messageId`` the agent gave its chunks, if any."""
    raw_chunks: list[dict[str, Any]] | None = None
    """The chunks that carried more than plain text (``_meta``, annotations, other keys), each
    as sent (``chunk``) with ``at``, the offset in ``text`` where it arrived."""
