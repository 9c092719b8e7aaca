"""``state.tool_calls``: every call's latest snapshot; old finished ones leave memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.conversation import Conversation
from acphost.conversation._eventlog import KEEP_IN_MEMORY, EventLog
from acphost.conversation._toolcalls import ToolCalls
from acphost.events import Event, ToolCallEvent
from acphost.store import ConversationRecord, EventRecord, SQLiteStore
from acphost.testing import Scenario

CID = "c1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "calls.db") as opened:
        opened.create_conversation(
            ConversationRecord(CID, "fake", str(tmp_path), None, "idle", 1.0, 1.0)
        )
        yield opened


class Calls:
    """A log and its tool calls, fed snapshots the way a conversation's state is."""

    def __init__(self, store: SQLiteStore | None, keep: int = 4) -> None:
        self.store = store
        self.log = EventLog(CID, store, keep=keep)
        self.calls = ToolCalls(self.log, keep=keep)
        self.seq = 0

    def snapshot(self, call_id: str, status: str, title: str = "") -> ToolCallEvent:
        self.seq += 1
        event = ToolCallEvent(
            seq=self.seq, tool_call_id=call_id, status=status, title=title or call_id
        )
        self.log.append(event)
        if self.store is not None:
            self.store.append([record(event)])
            self.log.stored(self.seq)
        self.calls.put(event)
        return event


def record(event: Event) -> EventRecord:
    return EventRecord(
        CID, event.seq, event.id, event.kind, event.ts, event.model_dump_json().encode()
    )


def test_old_finished_calls_leave_memory_and_read_back_whole(store: SQLiteStore) -> None:
    fed = Calls(store)
    last: dict[str, ToolCallEvent] = {}
    for n in range(20):
        fed.snapshot(f"t{n}", "pending")
        last[f"t{n}"] = fed.snapshot(f"t{n}", "completed", title=f"done {n}")
    calls = fed.calls
    assert calls.in_memory == 4
    assert len(calls) == 20
    assert list(calls) == [f"t{n}" for n in range(20)]  # the order they first appeared
    assert "t0" in calls
    assert "nope" not in calls
    assert calls.get("nope") is None
    with pytest.raises(KeyError):
        calls["nope"]
    assert {k: v.model_dump() for k, v in calls.items()} == {
        k: v.model_dump() for k, v in last.items()
    }
    assert calls["t19"] is last["t19"]  # the newest are the very objects delivered


def test_running_calls_never_leave_memory(store: SQLiteStore) -> None:
    fed = Calls(store)
    for n in range(10):
        fed.snapshot(f"r{n}", "in_progress")
    for n in range(10):
        fed.snapshot(f"d{n}", "completed")
    assert [c.tool_call_id for c in fed.calls.running] == [f"r{n}" for n in range(10)]
    assert fed.calls.in_memory == 10 + 4
    fed.snapshot("r3", "failed")  # finishing moves it to the recent ones
    assert [c.tool_call_id for c in fed.calls.running] == [f"r{n}" for n in range(10) if n != 3]
    assert fed.calls["r3"].status == "failed"
    fed.snapshot("d0", "completed", title="updated again")  # an old call updated: recent again
    assert fed.calls["d0"].title == "updated again"


def test_without_a_store_every_snapshot_stays() -> None:
    fed = Calls(None)
    for n in range(20):
        fed.snapshot(f"t{n}", "completed")
    assert fed.calls.in_memory == 20
    assert fed.calls["t0"].tool_call_id == "t0"


def test_a_long_conversation_keeps_its_calls_bounded(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
) -> None:
    calls = 1500
    conversation = conversations(fake_agent(Scenario("s").storm("tool_call", calls).stop()))
    bounded(conversation.run, "go", timeout=60)
    with conversation.state as state:
        assert state.tool_calls.in_memory <= KEEP_IN_MEMORY
        assert len(state.tool_calls) == calls
        first_id = next(iter(state.tool_calls))
        first = state.tool_calls[first_id]  # long gone from memory: read back
        logged = [e for e in state.events if isinstance(e, ToolCallEvent)]
    assert first == [e for e in logged if e.tool_call_id == first_id][-1]
