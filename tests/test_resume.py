"""Durable state: a conversation is its event log, and a new process can pick it up."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.conversation import Conversation, ConversationState
from acphost.events import (
    AgentMessageEvent,
    Event,
    SessionEvent,
    ToolCallEvent,
    TurnEndedEvent,
    parse_event,
)
from acphost.store import SQLiteStore

MakeConversation = Callable[..., Conversation]

# A fake agent that remembers its sessions in --state-dir; "second" stays busy in a tool call.
MEMORY_SOURCE = """
async def scenario(ctx, prompt):
    if prompt == "second":
        await ctx.text("working")
        await ctx.tool_call("x", "Long job", kind="execute", status="in_progress")
        await ctx.sleep(30)
        return "end_turn"
    await ctx.text(f"turn {ctx.turn_index}: {prompt}")
    return "end_turn"
"""

MODES: dict[str, dict[str, Any]] = {
    "resume": {},  # the fake agent advertises session/resume and session/load by default
    "load": {"session_capabilities": {"list": {}}},
    "none": {"session_capabilities": {}, "load_session": False},
}


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def fold(events: list[Event], conversation_id: str) -> dict[str, Any]:
    state = ConversationState(conversation_id)
    for event in events:
        state.apply(event)
    return state.snapshot()


def stored_events(store: Any, conversation_id: str) -> list[Event]:
    return [parse_event(r.data) for r in store.iter_events(conversation_id)]


@pytest.fixture
def resumed(store_path: Path) -> Iterator[Callable[..., Conversation]]:
    """``resumed(id, **options)``: Conversation.resume from this test's store, closed after."""
    made: list[Conversation] = []

    def resume(conversation_id: str, **options: Any) -> Conversation:
        conversation = Conversation.resume(conversation_id, store=store_path, **options)
        made.append(conversation)
        return conversation

    yield resume
    for conversation in made:
        conversation.close()


def test_state_rebuilt_from_the_store_equals_the_live_state(
    conversations: MakeConversation, resumed: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations("demo", permission="allow", title="demo run")
    bounded(conversation.run, "first", timeout=30)
    conversation.set_mode("ask")
    bounded(conversation.run, "second", timeout=30)
    live = conversation.state.snapshot()
    assert live["turns"] == 2
    assert live["mode_id"] == "ask"
    assert live["cost"]
    assert fold(stored_events(conversation.store, conversation.id), conversation.id) == live
    check_log(conversation)

    conversation.close()
    closed = conversation.state.snapshot()
    assert closed["status"] == "finished"
    again = resumed(conversation.id)
    assert again.state.snapshot() == closed
    assert again.agent.name == "demo"
    assert [e.model_dump() for e in again.state.events] == [
        e.model_dump() for e in conversation.state.events
    ]


@pytest.mark.parametrize("mode", list(MODES))
def test_resume_in_the_same_process(
    conversations: MakeConversation,
    resumed: Any,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
    mode: str,
) -> None:
    argv = fake_agent(source=MEMORY_SOURCE, state_dir=tmp_path / "agent-state", **MODES[mode])
    conversation = conversations(argv)
    bounded(conversation.run, "first", timeout=20)
    bounded(conversation.run, "again", timeout=20)
    first_session = conversation.state.session_id
    conversation.close()
    again = resumed(conversation.id)
    assert again.state.snapshot() == conversation.state.snapshot()

    bounded(again.run, "third", timeout=20)
    events = check_log(again)
    session = of(events, SessionEvent)[-1]
    texts = [m.text for m in of(events, AgentMessageEvent)]
    assert texts[:2] == ["turn 0: first", "turn 1: again"]  # replayed history not stored twice
    if mode == "none":
        assert (session.kind, session.context_restored) == ("session_restarted", False)
        assert "neither session/resume nor session/load" in session.reason
        assert session.session_id != first_session
        assert texts[2:] == ["turn 0: third"]
    else:
        kind = "session_resumed" if mode == "resume" else "session_loaded"
        assert (session.kind, session.context_restored) == (kind, True)
        assert session.session_id == first_session
        assert texts[2:] == ["turn 2: third"]


HOST_SOURCE = """
import json, sys
from acphost.conversation import Conversation

db, workspace, conversation_id, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def show(event):
    line = {"seq": event.seq, "id": event.id, "kind": event.kind,
            "status": getattr(event, "status", None)}
    print(json.dumps(line), flush=True)

conversation = Conversation(json.loads(argv), workspace, store=db, id=conversation_id,
                            callbacks=[show])
conversation.run("first")
conversation.run("second")  # SIGKILLed in here
"""


def _read_lines(stream: Any, into: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        into.put(json.loads(line))
    into.put(None)


@pytest.mark.parametrize("mode", list(MODES))
def test_host_killed_mid_turn_then_resumed_by_a_new_process(
    fake_agent: Any,
    resumed: Any,
    workspace: Path,
    store_path: Path,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
    mode: str,
) -> None:
    argv = fake_agent(source=MEMORY_SOURCE, state_dir=tmp_path / "agent-state", **MODES[mode])
    host = tmp_path / "host.py"
    host.write_text(textwrap.dedent(HOST_SOURCE))
    conversation_id = f"killed-{mode}"
    with (tmp_path / "host.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, host, store_path, workspace, conversation_id, json.dumps(argv)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    printed: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while True:  # until the host shows the long tool call of the second turn
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, (tmp_path / "host.stderr").read_text()
            printed.append(line)
            if line["kind"] == "tool_call" and line["status"] == "in_progress":
                break
        time.sleep(0.1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    reader.join(10)
    assert process.stdout is not None
    process.stdout.close()
    while (line := lines.get(timeout=5)) is not None:
        printed.append(line)

    # every event the dead host's callbacks saw is stored, with the same seq
    with SQLiteStore(store_path) as store:
        before = stored_events(store, conversation_id)
    by_seq = {e.seq: e for e in before}
    assert [(p["seq"], p["id"], p["kind"]) for p in printed] == [
        (by_seq[p["seq"]].seq, by_seq[p["seq"]].id, by_seq[p["seq"]].kind) for p in printed
    ]
    assert before[-1].kind == "tool_call"  # nothing after: the host died mid-turn
    assert fold(before, conversation_id)["status"] == "running"

    conversation = resumed(conversation_id)
    events = check_log(conversation)  # the resumed state is the fold of the store
    assert [e.model_dump() for e in events[: len(before)]] == [e.model_dump() for e in before]
    # the dead host's turn was closed, not run again
    dangling = of(events, TurnEndedEvent)[-1]
    assert (dangling.turn, dangling.stop_reason, dangling.error_code) == (
        2,
        "cancelled",
        "host_exited",
    )
    assert conversation.state.tool_calls["x"].status == "failed"
    assert conversation.state.status == "paused"
    first_session = conversation.state.session_id

    bounded(conversation.run, "third", timeout=20)
    events = check_log(conversation)
    assert len(of(events, TurnEndedEvent)) == 3
    session = of(events, SessionEvent)[-1]
    texts = [m.text for m in of(events, AgentMessageEvent)]
    assert texts[:2] == ["turn 0: first", "working"]  # replayed history not stored twice
    if mode == "none":
        assert (session.kind, session.context_restored) == ("session_restarted", False)
        assert session.session_id != first_session
        assert texts[2:] == ["turn 0: third"]
    else:
        kind = "session_resumed" if mode == "resume" else "session_loaded"
        assert (session.kind, session.context_restored) == (kind, True)
        assert session.session_id == first_session
        assert texts[2] in ("turn 1: third", "turn 2: third")
        assert len(texts) == 3
    assert of(events, ToolCallEvent)[-1].status == "failed"


def test_detach_stops_the_agent_and_the_next_turn_reattaches(
    conversations: Any, fake_agent: Any, bounded: Any, tmp_path: Path
) -> None:
    from acphost.testing import Scenario

    state = tmp_path / "sessions"
    state.mkdir()
    conversation = conversations(fake_agent(Scenario("d").turn().echo_prompt(), state_dir=state))
    bounded(conversation.run, "one")
    agent = conversation.agent
    pid = agent.connection.process.pid
    asyncio.run(conversation.adetach())
    assert not agent.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert conversation.state.status == "idle"  # not finished: it goes on
    bounded(conversation.run, "two")
    kinds = [e.kind for e in conversation.state.events if isinstance(e, SessionEvent)]
    assert kinds == ["session_started", "session_resumed"]
    assert conversation.state.last_stop_reason == "end_turn"
