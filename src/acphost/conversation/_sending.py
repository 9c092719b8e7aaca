"""Storing what the user says: a message (queued as the next turn, or steered into the running
one) or a title.

Functions over a :class:`Conversation`'s parts, split out of it: the event is stored (and
published) before the agent gets the message, so whatever the agent does about it comes after
it in the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acphost.acp.client import ContentBlocks
from acphost.conversation._driving import deliver_if_idle
from acphost.conversation._inputs import blocks_of
from acphost.errors import UsageError
from acphost.events import SessionInfoEvent, UserMessageEvent

if TYPE_CHECKING:
    from acphost.conversation._conversation import Conversation

__all__ = ["queue", "record_title", "steered"]


def steered(conv: Conversation, message: ContentBlocks) -> UserMessageEvent | None:
    """Store the message as steered into the running turn, if the agent can take it;
    stored first, so that whatever the agent does about it comes after it in the log."""
    conv._check_open()
    text, blocks = blocks_of(message)
    with conv.state:
        turn = conv._current_turn
        if turn is None or not conv.agent.supports_steering:
            return None
        event = conv._delivery.tr.new(
            UserMessageEvent,
            trusted=isinstance(message, str),
            text=text,
            content=blocks,
            turn=turn,
            steered=True,
        )
        conv._delivery.publish()
    conv._raise_from_callbacks()
    return event


def queue(conv: Conversation, message: ContentBlocks, *, publish: bool) -> UserMessageEvent:
    """Store the message as the next queued turn; without ``publish``, ``run(message)`` stores
    it with the turn's start, in one transaction."""
    conv._check_open()
    text, blocks = blocks_of(message)
    deliver_if_idle(conv)  # what the agent said since the last turn comes first
    with conv.state:
        turn = conv.state.turns + len(conv._pending) + 1
        tr = conv._delivery.tr
        event = tr.new(  # a plain string makes blocks acphost built itself
            UserMessageEvent,
            trusted=isinstance(message, str),
            text=text,
            content=blocks,
            turn=turn,
        )
        conv._pending.append((event, blocks))
        if publish:
            conv._delivery.publish()
    conv._raise_from_callbacks()
    return event


def record_title(conv: Conversation, title: str) -> None:
    """Store the user's title for the conversation (before the agent is told of it)."""
    conv._check_open()
    if not title.strip():
        raise UsageError("a title must not be empty")
    deliver_if_idle(conv)  # what the agent said before comes first
    with conv.state:
        conv._delivery.tr.titled = True
        conv._delivery.tr.new(SessionInfoEvent, trusted=True, source="user", title=title)
        conv._delivery.publish()
