"""The event log: a list's behaviour with only the newest events kept in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.conversation import Conversation
from acphost.conversation._eventlog import KEEP_IN_MEMORY, EventLog
from acphost.conversation._state import ConversationState
from acphost.events import AgentMessageEvent, Event, ToolCallEvent, parse_event
from acphost.store import ConversationRecord, EventRecord, SQLiteStore
from acphost.testing import Scenario

CID = "c1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "log.db") as opened:
        opened.create_conversation(
            ConversationRecord(CID, "fake", str(tmp_path), None, "idle", 1.0, 1.0)
        )
        yield opened


def message(seq: int) -> AgentMessageEvent:
    return AgentMessageEvent(seq=seq, text=f"message {seq}", turn=1)


def record(event: Event) -> EventRecord:
    return EventRecord(
        CID, event.seq, event.id, event.kind, event.ts, event.model_dump_json().encode()
    )


def dumps(events: Any) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in events]


def filled(store: SQLiteStore | None, count: int, *, keep: int = 8) -> tuple[EventLog, list[Event]]:
    """A log of ``count`` events, each stored (when there is a store) as a live one would be."""
    log = EventLog(CID, store, keep=keep)
    events: list[Event] = []
    for seq in range(1, count + 1):
        event = message(seq)
        events.append(event)
        log.append(event)
        if store is not None:
            store.append([record(event)])
            log.stored(seq)
    return log, events


def test_only_the_newest_events_stay_in_memory_and_the_rest_reads_back(store: SQLiteStore) -> None:
    log, events = filled(store, 50)
    assert log.in_memory == 8
    assert len(log) == 50
    assert dumps(log) == dumps(events)
    # the tail is the very objects that were delivered
    assert all(a is b for a, b in zip(list(log)[-8:], events[-8:], strict=True))


@pytest.mark.parametrize(
    "key",
    [
        slice(None),
        slice(0, 3),
        slice(10, 45),
        slice(-12, None),
        slice(40, 48),
        slice(45, 100),
        slice(5, 5),
        slice(30, 10),
        slice(None, None, 7),
        slice(None, None, -3),
        slice(-100, 3),
    ],
)
def test_slices_match_a_list(store: SQLiteStore, key: slice) -> None:
    log, events = filled(store, 50)
    assert dumps(log[key]) == dumps(events[key])


@pytest.mark.parametrize("index", [0, 1, 20, 41, 42, 49, -1, -8, -9, -50])
def test_indexing_matches_a_list(store: SQLiteStore, index: int) -> None:
    log, events = filled(store, 50)
    assert log[index].model_dump() == events[index].model_dump()


@pytest.mark.parametrize("index", [50, -51])
def test_an_index_out_of_range_is_an_index_error(store: SQLiteStore, index: int) -> None:
    log, _ = filled(store, 50)
    with pytest.raises(IndexError):
        log[index]


def test_events_not_yet_stored_never_leave_memory(store: SQLiteStore) -> None:
    log, _ = filled(store, 20)
    for seq in range(21, 41):  # folded, not stored yet (a batch being built)
        log.append(message(seq))
    assert log.in_memory == 28  # the 20 unstored ones and the 8 newest stored ones
    assert [e.seq for e in log] == list(range(1, 41))


def test_without_a_store_everything_stays(store: SQLiteStore) -> None:
    log, events = filled(None, 50)
    assert log.in_memory == 50
    assert list(log) == events


def test_a_gap_in_seqs_keeps_everything_in_memory(store: SQLiteStore) -> None:
    log, _ = filled(store, 20)
    log.append(message(25))  # a stored event was unreadable and skipped by the fold
    log.stored(25)
    assert log.in_memory == 9
    assert [e.seq for e in log][-2:] == [20, 25]


def test_iterating_while_events_are_appended(store: SQLiteStore) -> None:
    log, _ = filled(store, 30)
    seen = []
    for event in log:
        seen.append(event.seq)
        if event.seq == 5:  # a callback appends (and trims) while someone iterates
            for seq in range(31, 51):
                event = message(seq)
                log.append(event)
                store.append([record(event)])
                log.stored(seq)
    assert seen == list(range(1, 31))
    assert [e.seq for e in log] == list(range(1, 51))


def test_a_state_folded_from_the_store_keeps_only_a_tail(store: SQLiteStore) -> None:
    _, events = filled(store, KEEP_IN_MEMORY + 100, keep=KEEP_IN_MEMORY)
    state = ConversationState(CID, store=store)
    for stored in store.iter_events(CID):
        state.apply(parse_event(stored.data), stored=True)
    assert state.events.in_memory == KEEP_IN_MEMORY
    assert dumps(state.events) == dumps(events)


def test_a_storm_keeps_memory_bounded_and_the_log_whole(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    check_log: Callable[[Conversation], list[Event]],
    bounded: Callable[..., Any],
) -> None:
    calls = 1500  # 4,500 tool-call events in one turn
    conversation = conversations(fake_agent(Scenario("s").storm("tool_call", calls).stop()))
    bounded(conversation.run, "go", timeout=60)
    with conversation.state:
        assert conversation.state.events.in_memory <= KEEP_IN_MEMORY
        tools = [e for e in conversation.state.events if isinstance(e, ToolCallEvent)]
    assert len({e.tool_call_id for e in tools}) == calls
    assert len(check_log(conversation)) == len(conversation.state.events)
