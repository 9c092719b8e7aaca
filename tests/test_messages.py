"""``state.messages``: every message, oldest first; old ones leave memory, read back whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acphost.conversation import Conversation
from acphost.conversation._eventlog import KEEP_IN_MEMORY, EventLog
from acphost.conversation._messages import Message, Messages
from acphost.events import AgentMessageEvent, UserMessageEvent
from acphost.store import ConversationRecord, EventRecord, SQLiteStore
from acphost.testing import Scenario


def fed(store: SQLiteStore | None, count: int) -> tuple[Messages, list[Message]]:
    log = EventLog("c1", store, keep=4)
    messages = Messages(log, keep=4)
    made: list[Message] = []
    for seq in range(1, count + 1):
        cls = UserMessageEvent if seq % 2 else AgentMessageEvent
        message = cls(seq=seq, text=f"message {seq}", turn=seq // 2)
        log.append(message)
        if store is not None:
            data = message.model_dump_json().encode()
            store.append([EventRecord("c1", seq, message.id, message.kind, message.ts, data)])
            log.stored(seq)
        messages.append(message)
        made.append(message)
    return messages, made


def test_old_messages_leave_memory_and_read_back_like_a_list(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "m.db") as store:
        store.create_conversation(ConversationRecord("c1", "a", "/w", None, "idle", 1.0, 1.0))
        messages, made = fed(store, 20)
        assert messages.in_memory == 4
        assert len(messages) == 20
        assert [m.model_dump() for m in messages] == [m.model_dump() for m in made]
        assert messages[0].text == "message 1"
        assert type(messages[1]) is AgentMessageEvent
        assert messages[-1] is made[-1]
        assert [m.seq for m in messages[3:9:2]] == [4, 6, 8]
        with pytest.raises(IndexError):
            messages[20]


def test_without_a_store_every_message_stays() -> None:
    messages, made = fed(None, 20)
    assert messages.in_memory == 20
    assert list(messages) == made


def test_a_long_conversation_keeps_its_messages_bounded(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
) -> None:
    turns = KEEP_IN_MEMORY // 2 + 20
    scenario = Scenario("chat")
    for n in range(turns):
        scenario = scenario.turn().text(f"answer {n}").stop()
    conversation = conversations(fake_agent(scenario))

    def talk() -> None:
        for n in range(turns):
            conversation.run(f"question {n}")

    bounded(talk, timeout=120)
    with conversation.state as state:
        assert len(state.messages) == 2 * turns
        assert state.messages.in_memory <= KEEP_IN_MEMORY
        assert [m.text for m in state.messages[:4]] == [
            "question 0",
            "answer 0",
            "question 1",
            "answer 1",
        ]
