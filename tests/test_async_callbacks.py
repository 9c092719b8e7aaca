"""``async def`` permission and elicitation callbacks: under ``arun()`` a task on the caller's
loop, answering like a person (a timeout or a cancel can still win, and then it is cancelled);
under ``run()`` awaited to completion on a loop of its own, like a sync callback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.conversation import Conversation, ElicitationRequest
from acphost.events import (
    AgentMessageEvent,
    ElicitationAnsweredEvent,
    Event,
    PermissionDecidedEvent,
)
from acphost.testing import Scenario

MakeConversation = Callable[..., Conversation]
WAIT = 20.0

# the agent asks, then says what it was told ("echo_result")
ASKS = Scenario("asks").turn().permission("t1", title="May I?", echo_result=True).stop()
FORM = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
QUESTION = Scenario("form").turn().elicitation("Who are you?", FORM, echo_result=True).stop()


def decisions(events: list[Event]) -> list[tuple[str, str, str]]:
    return [
        (e.decision, e.decided_by, e.source)
        for e in events
        if isinstance(e, PermissionDecidedEvent)
    ]


def told(events: list[Event]) -> str:
    """What the fake agent was told (it echoes the answer as its last message)."""
    return [e for e in events if isinstance(e, AgentMessageEvent)][-1].text


def test_under_arun_an_async_callback_runs_on_the_callers_loop_beside_its_tasks(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    asked: list[str] = []
    events: dict[str, asyncio.Event] = {}

    async def decide(request: PermissionRequest) -> Decision:
        asked.append(request.title)
        events["called"].set()
        await asyncio.wait_for(events["go"].wait(), WAIT)  # the caller's loop runs meanwhile
        return "allow_once"

    conversation = conversations(fake_agent(ASKS), permission=decide)

    async def main() -> None:
        called, go = events["called"], events["go"] = asyncio.Event(), asyncio.Event()

        async def releaser() -> None:  # another task of the caller: only it lets decide end
            await called.wait()
            go.set()

        helper = asyncio.create_task(releaser())
        await conversation.arun("go")
        await helper

    bounded(asyncio.run, main(), timeout=60)
    log = check_log(conversation)
    assert asked == ["May I?"]
    assert decisions(log) == [("allow_once", "callback", "user")]
    assert told(log) == "selected:allow_once"


def test_a_timeout_wins_over_a_slow_async_callback_which_is_then_cancelled(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    cancelled: list[asyncio.Event] = []

    async def ponder(request: PermissionRequest) -> Decision:
        stopped = asyncio.Event()
        cancelled.append(stopped)
        try:
            await asyncio.Event().wait()  # never decides
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "allow_once"

    conversation = conversations(fake_agent(ASKS), permission=ponder, permission_timeout=2.0)

    async def main() -> None:
        await conversation.arun("go")
        await asyncio.wait_for(cancelled[0].wait(), WAIT)  # fails unless it was cancelled

    bounded(asyncio.run, main(), timeout=60)
    log = check_log(conversation)
    assert decisions(log) == [("reject_once", "timeout", "host")]
    assert told(log) == "selected:reject_once"


def test_an_async_callback_that_raises_rejects(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    async def broken(request: PermissionRequest) -> Decision:
        await asyncio.sleep(0)
        raise RuntimeError("the policy service is down")

    conversation = conversations(fake_agent(ASKS), permission=broken)
    bounded(asyncio.run, conversation.arun("go"), timeout=60)
    assert decisions(check_log(conversation)) == [("reject_once", "callback", "user")]


def test_under_run_an_async_callback_is_awaited_on_a_loop_of_its_own(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    async def decide(request: PermissionRequest) -> bool:
        await asyncio.sleep(0)
        return True

    conversation = conversations(fake_agent(ASKS), permission=decide)
    bounded(conversation.run, "go", timeout=60)
    events = check_log(conversation)
    assert decisions(events) == [("allow_once", "callback", "user")]
    assert told(events) == "selected:allow_once"


def test_an_async_elicitation_callback_fills_the_form_in_arun_and_in_run(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def fill(request: ElicitationRequest) -> dict[str, Any]:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return {"action": "accept", "content": {"name": request.message.split()[0]}}

    in_arun, in_run = (conversations(fake_agent(QUESTION), elicitation=fill) for _ in "ab")

    async def main() -> asyncio.AbstractEventLoop:
        await in_arun.arun("go")
        return asyncio.get_running_loop()

    callers = bounded(asyncio.run, main(), timeout=60)
    bounded(in_run.run, "go", timeout=60)
    assert loops[0] is callers  # arun: the caller's loop; run: a loop of its own
    assert loops[1] is not callers
    for conversation in (in_arun, in_run):
        events = check_log(conversation)
        [answered] = [e for e in events if isinstance(e, ElicitationAnsweredEvent)]
        assert (answered.action, answered.answered_by, answered.source) == (
            "accept",
            "callback",
            "user",
        )
        assert json.loads(told(events)) == {"action": "accept", "content": {"name": "Who"}}


def test_an_elicitation_callback_that_raises_declines_and_says_why(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    async def broken(request: ElicitationRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        raise RuntimeError("the form service is down")

    def also_broken(request: ElicitationRequest) -> dict[str, Any]:
        raise RuntimeError("the form service is down")

    in_arun = conversations(fake_agent(QUESTION), elicitation=broken)
    in_run = conversations(fake_agent(QUESTION), elicitation=also_broken)
    bounded(asyncio.run, in_arun.arun("go"), timeout=60)
    bounded(in_run.run, "go", timeout=60)
    for conversation in (in_arun, in_run):
        events = check_log(conversation)
        [answered] = [e for e in events if isinstance(e, ElicitationAnsweredEvent)]
        assert (answered.action, answered.answered_by) == ("decline", "callback")
        assert answered.reason == "the elicitation callback raised"
        assert json.loads(told(events)) == {"action": "decline"}
