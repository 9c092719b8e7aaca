"""Ending the turn a dead process left running, without resuming its conversation."""

from __future__ import annotations

from acphost.conversation._delivery import Delivery
from acphost.conversation._state import ConversationState
from acphost.store import EventStore

__all__ = ["settle_dangling_turn"]


def settle_dangling_turn(state: ConversationState, store: EventStore) -> bool:
    """End the turn that ``state`` (a fold of the stored log) shows running, if its owner is
    gone (see :class:`~acphost.store.Owner`); whether it did.

    It records what resuming the conversation would: the turn ended ``cancelled`` with error
    code ``host_exited``, its open tool calls ``failed``, its permission requests
    ``cancelled``, the conversation ``paused``. A turn whose driver may be alive is left
    alone. :class:`~acphost.store.SeqConflict` if another writer settled it first (``state``
    is then stale: fold the log again).
    """
    if state.status != "running":
        return False
    record = store.get_conversation(state.id)
    if record is None or record.status == "running":  # its driver is alive, or may be
        return False
    delivery = Delivery(
        state, store, callbacks=[], on_token=None, on_thought=None, permission="deny", asks={}
    )
    with state:
        delivery.close_dangling_turn()
        delivery.publish()
    return True
