"""Delivery: a turn's last updates are stored with its end, in one transaction, and their
callbacks still see the conversation running; the end's callbacks see it ended."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acphost.acp.messages import SessionUpdate
from acphost.agents import TurnResult
from acphost.conversation._delivery import Delivery
from acphost.conversation._items import TurnDone
from acphost.conversation._state import ConversationState
from acphost.events import Event
from acphost.store import ConversationRecord, EventRecord, SQLiteStore


class CountingStore(SQLiteStore):
    """A real SQLite store that remembers the size of every batch it was given."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[list[str]] = []

    def append(self, events: Sequence[EventRecord], **kwargs: Any) -> None:
        self.batches.append([e.kind for e in events])
        super().append(events, **kwargs)


def chunk(text: str) -> SessionUpdate:
    return SessionUpdate(
        "s", {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
    )


def test_the_turns_tail_and_its_end_are_one_transaction_seen_in_order(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "acphost.db")
    store.create_conversation(ConversationRecord("c", "a", str(tmp_path), None, "idle", 1.0, 1.0))
    state = ConversationState("c", store=store)
    seen: list[tuple[str, str, int]] = []

    def callback(event: Event) -> None:
        seen.append((event.kind, state.status, state.last_seq))

    delivery = Delivery(
        state,
        store,
        callbacks=[callback],
        on_token=None,
        on_thought=None,
        permission="allow",
        asks={},
    )
    with state:
        delivery.start_turn(1, "go")
        done = delivery.deliver([chunk("hel"), chunk("lo"), TurnDone(1, TurnResult())], turn=1)
        assert done is not None
        ended, error = delivery.end_turn(done, runner=None)  # type: ignore[arg-type]
    assert error is None
    assert ended.stop_reason == "end_turn"
    assert store.batches == [
        ["turn_started", "status_changed"],
        ["agent_message", "turn_ended", "status_changed"],
    ]
    assert seen == [
        ("turn_started", "running", 2),
        ("status_changed", "running", 2),
        ("agent_message", "running", 3),  # the end is stored, not yet seen
        ("turn_ended", "running", 4),
        ("status_changed", "idle", 5),
    ]
    assert [e.seq for e in state.events] == [1, 2, 3, 4, 5]
    assert [r.kind for r in store.events("c")] == [k for k, _, _ in seen]


def test_a_turns_end_closes_only_its_own_turn(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "acphost.db")
    store.create_conversation(ConversationRecord("c", "a", str(tmp_path), None, "idle", 1.0, 1.0))
    state = ConversationState("c", store=store)
    delivery = Delivery(
        state, store, callbacks=[], on_token=None, on_thought=None, permission="allow", asks={}
    )
    with state:
        delivery.start_turn(2, "go")
        # a late end of turn 1 (an overlapping turn, issue 12 item 1) must not end turn 2
        done = delivery.deliver([chunk("still turn 2"), TurnDone(1, TurnResult())], turn=2)
        assert done is None
        assert state.status == "running"
        assert "turn_ended" not in [e.kind for e in state.events]
        done = delivery.deliver([TurnDone(2, TurnResult())], turn=2)
        assert done is not None
        assert done.turn == 2
        ended, _ = delivery.end_turn(done, runner=None)  # type: ignore[arg-type]
    assert ended.turn == 2
    assert [(e.kind, e.turn) for e in state.events][-3:] == [
        ("agent_message", 2),
        ("turn_ended", 2),
        ("status_changed", 2),
    ]
