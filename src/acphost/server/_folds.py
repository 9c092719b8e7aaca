"""Folded states of stored conversations, kept between requests and extended, not redone.

A conversation whose agent is not attached is described by folding its stored log. For a
conversation of 20,000 events that is most of a second of the server's CPU, on every
``GET /api/conversations/{id}`` (a console opening it, reloading, reconnecting). The last few
folds are kept; a request folds only the events stored since (a conversation that was resumed
and detached again), so a state is never stale and never folded twice. A turn the fold shows
running whose driver is gone (its process died) is ended, as resuming would end it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from acphost.conversation import ConversationState, settle_dangling_turn
from acphost.events import parse_event
from acphost.store import EventStore, SeqConflict

__all__ = ["Folds"]

log = logging.getLogger("acphost.server")


class Folds:
    """The folded states of the ``size`` most recently described stored conversations."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        self._lock = threading.Lock()  # folds run in worker threads

    def state(self, store: EventStore, conversation_id: str) -> tuple[ConversationState, bool]:
        """The conversation's state as of its last stored event, and whether this ended a
        turn a dead process left running (call it in a worker thread)."""
        with self._lock:
            state = self._fold(store, conversation_id, self._states.pop(conversation_id, None))
            settled = False
            try:
                settled = settle_dangling_turn(state, store)
                if settled:
                    log.info("ended the turn a dead process left running in %s", conversation_id)
            except SeqConflict:  # another reader ended it meanwhile: this fold is stale
                state = self._fold(store, conversation_id, None)
            self._states[conversation_id] = state
            while len(self._states) > self._size:
                self._states.popitem(last=False)
            return state, settled

    @staticmethod
    def _fold(
        store: EventStore, conversation_id: str, kept: ConversationState | None
    ) -> ConversationState:
        """``kept`` (when still a prefix of the log) extended with the events stored since."""
        state = kept
        if state is None or state.last_seq > store.last_seq(conversation_id):
            state = ConversationState(conversation_id, store=store)
        with state:  # a response may be reading the kept state meanwhile
            for record in store.iter_events(conversation_id, after_seq=state.last_seq):
                try:
                    state.apply(parse_event(record.data), stored=True)
                except ValueError:  # a kind from a newer acphost: skip it, keep the rest
                    log.warning("skipping unreadable event %s#%s", conversation_id, record.seq)
        return state

    def forget(self, conversation_id: str) -> None:
        """Drop a deleted conversation's state."""
        with self._lock:
            self._states.pop(conversation_id, None)
