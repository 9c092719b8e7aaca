"""Warm starts: an AgentPool keeps initialised agent processes ready for new conversations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from acphost.agents import ACPAgent
from acphost.conversation import AgentPool, Conversation
from acphost.events import Event, SessionEvent


def _pid(agent: Any) -> int:
    assert isinstance(agent, ACPAgent)
    assert agent.connection is not None
    assert agent.connection.process is not None
    return int(agent.connection.process.pid)


def test_a_conversation_takes_a_warm_agent_and_the_pool_refills(
    conversations: Callable[..., Conversation],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
    workspace: Path,
    tmp_path: Path,
) -> None:
    with AgentPool(1, directory=tmp_path) as pool:
        pool.warm("demo")
        assert pool.wait_ready("demo", timeout=30)
        conversation = conversations("demo", pool=pool, permission="allow")
        warm_pid = _pid(conversation.agent)  # running before the conversation asked
        assert pool.wait_ready("demo", timeout=30)  # a replacement, started meanwhile
        assert pool.ready("demo") == 1
        bounded(conversation.run, "Summarise", timeout=30)
        assert _pid(conversation.agent) == warm_pid  # the same process served the turn
        events = check_log(conversation)
        assert [e.kind for e in events if isinstance(e, SessionEvent)] == ["session_started"]
        # the taken agent works in the conversation's workspace, not the pool's directory
        assert (workspace / "NOTES.md").exists()
        assert not (tmp_path / "NOTES.md").exists()
        second = conversations("demo", pool=pool, permission="allow")
        assert _pid(second.agent) not in (warm_pid, None)
        bounded(second.run, "again", timeout=30)


def test_without_a_ready_agent_the_conversation_starts_its_own(
    conversations: Callable[..., Conversation], bounded: Callable[..., Any], tmp_path: Path
) -> None:
    with AgentPool(1, directory=tmp_path) as pool:
        conversation = conversations("echo", pool=pool)
        agent = conversation.agent
        assert isinstance(agent, ACPAgent)
        assert agent.connection is None  # cold: started by its first turn
        ended = bounded(conversation.run, "hi", timeout=30)
        assert ended is not None
        assert ended.stop_reason == "end_turn"
        assert pool.wait_ready("echo", timeout=30)  # the pool warmed one up meanwhile
    assert pool.ready("echo") == 0  # closing stopped it
