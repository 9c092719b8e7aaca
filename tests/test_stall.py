"""Stalled turns are visible: ``turn_stalled`` says what the turn waits for, ``turn_resumed``
follows when it moves again. Never a silent hang."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from acphost.conversation import Conversation
from acphost.events import (
    AgentMessageEvent,
    Event,
    PermissionDecidedEvent,
    TurnEndedEvent,
    TurnResumedEvent,
    TurnStalledEvent,
)
from acphost.testing import Scenario

WAIT_FOR_FLAG = """
import os

async def scenario(ctx, prompt):
    await ctx.tool_call("build-1", "Long build", status="in_progress")
    while not os.path.exists(prompt):  # the test makes the flag once it saw the stall
        await ctx.sleep(0.01)
    await ctx.tool_update("build-1", status="completed")
    await ctx.text("built")
    return "end_turn"
"""


def test_a_turn_waiting_on_a_tool_is_reported_stalled_then_resumed(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
    tmp_path: Path,
) -> None:
    flag = tmp_path / "flag"
    seen_stalled: list[Any] = []

    def on_event(event: Event) -> None:
        if isinstance(event, TurnStalledEvent):
            seen_stalled.append(conversation.state.stalled)
            flag.touch()  # only now does the agent move again

    conversation = conversations(
        fake_agent(source=WAIT_FOR_FLAG), stall_timeout=1.0, callbacks=[on_event]
    )
    ended = bounded(conversation.run, str(flag), timeout=30)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    kinds = [e.kind for e in events if e.kind in ("turn_stalled", "turn_resumed", "agent_message")]
    assert kinds == ["turn_stalled", "turn_resumed", "agent_message"]
    stalled = next(e for e in events if isinstance(e, TurnStalledEvent))
    assert stalled.running_tools == [{"tool_call_id": "build-1", "title": "Long build"}]
    assert stalled.pending_permissions == []
    assert stalled.idle_s >= 1.0
    assert stalled.source == "host"
    assert stalled.turn == 1
    assert seen_stalled == [stalled]  # the state says it while stalled...
    assert conversation.state.stalled is None  # ...and no more after
    resumed = next(e for e in events if isinstance(e, TurnResumedEvent))
    assert resumed.seq > stalled.seq


def test_a_turn_waiting_for_the_user_says_so(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    scenario = Scenario("ask").turn().permission("t", title="May I?").text("thanks").stop()
    conversation: Conversation

    def answer_when_stalled(event: Event) -> None:
        if isinstance(event, TurnStalledEvent):
            for request_id in event.pending_permissions:
                conversation.answer_permission(request_id, True)

    conversation = conversations(
        fake_agent(scenario), permission="ask", stall_timeout=1.0, callbacks=[answer_when_stalled]
    )
    ended = bounded(conversation.run, "go", timeout=30)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    stalled = [e for e in events if isinstance(e, TurnStalledEvent)]
    assert len(stalled) == 1
    decided = next(e for e in events if isinstance(e, PermissionDecidedEvent))
    assert stalled[0].pending_permissions == [decided.request_id]
    assert decided.decided_by == "user"
    order = [type(e) for e in events if e.seq > stalled[0].seq]
    assert order.index(TurnResumedEvent) < order.index(AgentMessageEvent)
    assert order[-2] is TurnEndedEvent  # then the status change


def test_no_stall_event_without_a_stall(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    conversation = conversations(fake_agent(Scenario("quick").turn().text("hi").stop()))
    bounded(conversation.run, "go", timeout=30)
    kinds = {e.kind for e in check_log(conversation)}
    assert not kinds & {"turn_stalled", "turn_resumed"}
