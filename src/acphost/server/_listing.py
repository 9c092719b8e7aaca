"""The figures of a list row that the store's header lacks: cost, running, pending requests.

A live conversation has them in its state. A stored one has no pending request and runs no
turn, and its cost is folded from its usage and session events only (the way the state folds
them), remembered until the conversation changes (its ``updated_at`` moves with every event).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from acphost.conversation import ConversationState
from acphost.events import parse_event
from acphost.server._manager import Manager
from acphost.server._models import ConversationSummary
from acphost.server._views import summary
from acphost.store import ConversationRecord, EventStore

__all__ = ["Rows"]

_COST_KINDS = ("usage", "session_started", "session_loaded", "session_resumed", "session_restarted")
_REMEMBERED = 10_000


def _stored_cost(store: EventStore, conversation_id: str) -> tuple[float | None, str | None]:
    state = ConversationState(conversation_id)
    for record in store.iter_events(conversation_id, kinds=_COST_KINDS):
        try:
            state.apply(parse_event(record.data), stored=True)
        except ValueError:  # unreadable (a newer acphost's event): the rest still counts
            continue
    return state.cost, state.currency


class Rows:
    """Makes the rows of ``GET /api/conversations``; one per server."""

    def __init__(self, manager: Manager) -> None:
        self._manager = manager
        # id -> (updated_at it was folded at, cost, currency); least recently used first
        self._costs: OrderedDict[str, tuple[float, float | None, str | None]] = OrderedDict()

    async def rows(self, records: Sequence[ConversationRecord]) -> list[ConversationSummary]:
        manager = self._manager
        stale = [
            r
            for r in records
            if r.id not in manager.live and self._costs.get(r.id, (None,))[0] != r.updated_at
        ]
        if stale:
            store = manager.store
            folded = await asyncio.to_thread(lambda: [_stored_cost(store, r.id) for r in stale])
            for record, (cost, currency) in zip(stale, folded, strict=True):
                self._costs[record.id] = (record.updated_at, cost, currency)
        made = []
        for record in records:
            live = manager.live.get(record.id)
            if live is not None:
                made.append(summary(record, live))
                continue
            # (one that was live during the fold has no cost remembered yet: the next listing)
            _, cost, currency = self._costs.get(record.id, (0.0, None, None))
            if record.id in self._costs:
                self._costs.move_to_end(record.id)
            made.append(summary(record, None, cost=cost, currency=currency))
        while len(self._costs) > _REMEMBERED:
            self._costs.popitem(last=False)
        return made
