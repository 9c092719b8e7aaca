"""Steering: a message said while the agent works joins the running turn where the agent takes
it (``_session/steering``), and is otherwise queued as the next prompt. Never lost, never twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from acphost.conversation import Conversation
from acphost.events import (
    AgentMessageEvent,
    Event,
    ToolCallEvent,
    TurnStartedEvent,
    UserMessageEvent,
)
from acphost.testing import Scenario

LISTENER = """
async def scenario(ctx, prompt):
    await ctx.tool_call("t1", "Thinking it over", status="in_progress")
    heard = await ctx.wait_for_steering(30)
    await ctx.tool_update("t1", status="completed")
    await ctx.text(f"heard: {heard}")
    return "end_turn"
"""


def tool_running(event: Event) -> bool:
    return isinstance(event, ToolCallEvent) and event.status == "in_progress"


class SteerOnce:
    """A callback steering "go left" once ``when`` an event (the first tool call runs), from
    another thread (as a user, or the server, would)."""

    def __init__(
        self, conversation: Callable[[], Conversation], when: Callable[[Event], bool] = tool_running
    ) -> None:
        self.conversation = conversation
        self.when = when
        self.said: list[UserMessageEvent] = []
        self.thread: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        if self.when(event) and not self.thread:
            self.thread = threading.Thread(target=self._steer)
            self.thread.start()

    def _steer(self) -> None:
        self.said.append(self.conversation().steer("go left"))


def test_a_steered_message_joins_the_running_turn(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    steer = SteerOnce(lambda: conversation)
    conversation = conversations(fake_agent(source=LISTENER, steering=True), callbacks=[steer])
    ended = bounded(conversation.run, "plan a route", timeout=30)
    assert steer.thread is not None
    bounded(steer.thread.join, timeout=30)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    steered = [e for e in events if isinstance(e, UserMessageEvent) and e.steered]
    assert [(e.text, e.turn, e.source) for e in steered] == [("go left", 1, "user")]
    assert steer.said == steered
    answer = [e.text for e in events if isinstance(e, AgentMessageEvent)]
    assert answer == ["heard: go left"]
    assert conversation.state.turns == 1  # no turn of its own
    assert [m.text for m in conversation.state.messages] == [
        "plan a route",
        "go left",
        "heard: go left",
    ]


def test_a_message_steered_while_the_agent_starts_waits_for_it_and_joins_the_turn(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    # Said as the first turn begins, while the agent takes a second to start: whether it takes
    # messages mid-turn is unknown until it has started, so the steer waits for that instead
    # of queueing the message as the next turn.
    steer = SteerOnce(lambda: conversation, when=lambda e: isinstance(e, TurnStartedEvent))
    agent = fake_agent(source=LISTENER, steering=True, startup_delay=1.0)
    conversation = conversations(agent, callbacks=[steer])
    ended = bounded(conversation.run, "plan a route", timeout=30)
    assert steer.thread is not None
    bounded(steer.thread.join, timeout=30)
    assert ended is not None
    events = check_log(conversation)
    assert [(e.text, e.turn, e.steered) for e in steer.said] == [("go left", 1, True)]
    assert [e.text for e in events if isinstance(e, AgentMessageEvent)] == ["heard: go left"]
    assert conversation.state.turns == 1


def test_without_steering_the_message_is_the_next_turn(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
    check_log: Callable[[Conversation], list[Event]],
) -> None:
    scenario = (
        Scenario("plain")
        .turn()
        .tool_call("t1", title="Work", status="in_progress")
        .sleep(0.2)
        .tool_update("t1", status="completed")
        .echo_prompt()
        .stop()
    )
    steer = SteerOnce(lambda: conversation)
    conversation = conversations(fake_agent(scenario), callbacks=[steer])
    bounded(conversation.run, "first", timeout=30)
    assert steer.thread is not None
    bounded(steer.thread.join, timeout=30)  # it may come after the first turn: queued anyway
    bounded(conversation.run, timeout=30)  # runs it, unless the first run() did already
    events = check_log(conversation)
    said = steer.said
    assert len(said) == 1
    assert said[0].steered is False
    assert said[0].turn == 2
    assert conversation.state.turns == 2
    answers = [e.text for e in events if isinstance(e, AgentMessageEvent)]
    assert answers == ["first", "go left"]


def test_steer_between_turns_is_send_message(
    conversations: Callable[..., Conversation],
    fake_agent: Callable[..., list[str]],
    bounded: Callable[..., Any],
) -> None:
    conversation = conversations(fake_agent(source=LISTENER, steering=True))
    queued = conversation.steer("hello")
    assert queued.steered is False
    assert queued.turn == 1
    assert conversation.state.turns == 0  # run() sends it
