"""The threading contract of conversations (DESIGN.md, "The contract that matters most").

Every test drives a real fake-agent subprocess. Waits are bounded: ``bounded()`` runs a
blocking call in a thread and fails the test (with every stack) if it does not return.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from acphost.acp.permissions import PermissionRequest
from acphost.conversation import Conversation, FIFOLock
from acphost.conversation._loop import IOLoop
from acphost.errors import UsageError
from acphost.events import (
    AgentMessageEvent,
    Event,
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    PlanEvent,
    RawEvent,
    SessionEvent,
    StatusChangedEvent,
    ThoughtEvent,
    ToolCallEvent,
    TurnEndedEvent,
    TurnStartedEvent,
    UserMessageEvent,
)
from acphost.testing import Scenario

MakeConversation = Callable[..., Conversation]


def io_thread_ident() -> int | None:
    return IOLoop.get().thread.ident


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def signal_on(cls: type[Any], flag: threading.Event) -> Callable[[Event], None]:
    """A callback that sets ``flag`` when an event of type ``cls`` is delivered."""

    def callback(event: Event) -> None:
        if isinstance(event, cls):
            flag.set()

    return callback


# --- (a) callbacks may take the state lock, send messages and read state -------------------


def tool_turn() -> Scenario:
    return (
        Scenario("tools")
        .turn()
        .tool_call("t1", title="Read a file", kind="read", status="pending")
        .tool_update("t1", status="in_progress")
        .text("reading", chunks=3)
        .tool_update("t1", status="completed")
        .plan(["one", "two"])
        .text("done")
        .stop()
    )


def test_state_is_a_fifo_lock(conversations: MakeConversation, fake_agent: Any) -> None:
    conversation = conversations(fake_agent(tool_turn()))
    assert isinstance(conversation.state.lock, FIFOLock)


def test_callback_takes_the_state_lock_during_run(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    seen: list[tuple[int, int, str]] = []
    conversation: Conversation

    def locking(event: Event) -> None:
        with conversation.state:  # re-entrant: the driver holds it while calling us
            seen.append((event.seq, conversation.state.last_seq, conversation.state.status))

    conversation = conversations(fake_agent(tool_turn()), callbacks=[locking])

    def run_holding_the_lock() -> TurnEndedEvent | None:
        with conversation.state:
            return conversation.run("go")

    ended = bounded(run_holding_the_lock, timeout=20)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    assert [s[0] for s in seen] == [e.seq for e in events]
    # the state already holds the event (stored and folded before callbacks)
    assert all(last >= seq for seq, last, _ in seen)


def test_callback_takes_the_state_lock_during_arun(
    conversations: MakeConversation, fake_agent: Any, check_log: Any
) -> None:
    seen: list[int] = []
    conversation: Conversation

    def locking(event: Event) -> None:
        with conversation.state:
            seen.append(event.seq)

    conversation = conversations(fake_agent(tool_turn()), callbacks=[locking])

    async def main() -> TurnEndedEvent | None:
        # the caller may hold the lock around an await of arun (the shape of the original bug)
        with conversation.state:
            return await asyncio.wait_for(conversation.arun("go"), 20)

    ended = asyncio.run(main())
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert seen == [e.seq for e in check_log(conversation)]


def test_callback_sends_a_message_and_reads_state(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = Scenario("two").turn().text("first answer").stop().turn().text("second").stop()
    order: list[int] = []
    reads: list[tuple[str, int]] = []
    sent: list[UserMessageEvent] = []
    conversation: Conversation

    def first(event: Event) -> None:
        order.append(event.seq)
        reads.append((conversation.state.status, len(conversation.state.events)))
        if isinstance(event, AgentMessageEvent) and event.turn == 1:
            message = conversation.send_message("and then?")
            # stored at once, even from inside a callback
            assert conversation.store.get_event(conversation.id, message.seq) is not None
            sent.append(message)

    second_seen: list[int] = []
    conversation = conversations(
        fake_agent(scenario), callbacks=[first, lambda e: second_seen.append(e.seq)]
    )
    ended = bounded(conversation.run, "hello", timeout=20)
    assert ended is not None
    assert ended.turn == 2
    events = check_log(conversation)
    # every callback saw every event once, in emission order (also the one sent from a callback)
    assert order == second_seen == [e.seq for e in events]
    assert sent
    assert sent[0].turn == 2
    assert [m.text for m in of(events, AgentMessageEvent)] == ["first answer", "second"]
    assert all(count >= 1 for _, count in reads)


# --- (b) every callback runs on the caller's thread, never on the I/O loop ------------------


def busy_turn() -> Scenario:
    return (
        Scenario("busy")
        .turn()
        .thought("hmm")
        .tool_call("a", title="Edit", kind="edit", status="pending")
        .tool_update("a", status="in_progress")
        .permission("a", title="Edit it?")
        .text("one ", chunks=2)
        .tool_update("a", status="completed")
        .tool_call("b", title="Run", kind="execute", status="in_progress")
        .tool_update("b", status="completed")
        .text("two")
        .stop()
    )


def test_callbacks_run_on_the_caller_thread_in_run(
    conversations: MakeConversation, fake_agent: Any, bounded: Any
) -> None:
    idents: dict[str, set[int]] = {"event": set(), "token": set(), "thought": set(), "perm": set()}
    tool_calls_mid_turn: list[str] = []

    def on_event(event: Event) -> None:
        idents["event"].add(threading.get_ident())
        if isinstance(event, ToolCallEvent) and conversation.state.status == "running":
            tool_calls_mid_turn.append(event.status)

    def decide(request: PermissionRequest) -> bool:
        idents["perm"].add(threading.get_ident())
        return True

    conversation = conversations(
        fake_agent(busy_turn()),
        callbacks=[on_event],
        on_token=lambda t: idents["token"].add(threading.get_ident()),
        on_thought=lambda t: idents["thought"].add(threading.get_ident()),
        permission=decide,
    )
    caller: list[int] = []

    def drive() -> TurnEndedEvent | None:
        caller.append(threading.get_ident())
        return conversation.run("go")

    bounded(drive, timeout=20)
    assert tool_calls_mid_turn == [
        "pending",
        "in_progress",
        "completed",
        "in_progress",
        "completed",
    ]
    for name, where in idents.items():
        assert where == {caller[0]}, name
        assert io_thread_ident() not in where


def test_callbacks_run_on_the_loop_thread_in_arun(
    conversations: MakeConversation, fake_agent: Any
) -> None:
    idents: set[int] = set()
    in_loop: list[bool] = []
    loop_holder: list[asyncio.AbstractEventLoop] = []

    def record(*_: Any) -> None:
        idents.add(threading.get_ident())
        try:
            in_loop.append(asyncio.get_running_loop() is loop_holder[0])
        except RuntimeError:
            in_loop.append(False)

    def decide(request: PermissionRequest) -> bool:
        record()
        return True

    conversation = conversations(
        fake_agent(busy_turn()),
        callbacks=[record],
        on_token=record,
        on_thought=record,
        permission=decide,
    )

    async def main() -> int:
        loop_holder.append(asyncio.get_running_loop())
        await asyncio.wait_for(conversation.arun("go"), 20)
        return threading.get_ident()

    caller = asyncio.run(main())
    assert idents == {caller}
    assert io_thread_ident() != caller
    assert in_loop
    assert all(in_loop)


# --- (c) order survives a storm -------------------------------------------------------------

STORM = 10_000

STORM_SOURCE = f"""
def text(kind, i):
    return {{"sessionUpdate": kind, "content": {{"type": "text", "text": f"<{{i}}>"}}}}


async def scenario(ctx, prompt):
    for i in range({STORM}):
        m = i % 6
        if m == 0:
            u = text("agent_message_chunk", i)
        elif m == 1:
            u = text("agent_thought_chunk", i)
        elif m == 2:
            u = {{"sessionUpdate": "tool_call", "toolCallId": f"t{{i}}", "title": str(i)}}
        elif m == 3:
            u = {{"sessionUpdate": "tool_call_update", "toolCallId": f"t{{i - 1}}",
                 "status": "completed", "rawOutput": {{"i": i}}}}
        elif m == 4:
            entry = {{"content": str(i), "priority": "low", "status": "pending"}}
            u = {{"sessionUpdate": "plan", "entries": [entry]}}
        else:
            u = {{"sessionUpdate": "x_vendor_future_kind", "i": i}}
        await ctx.update(u)
    return "end_turn"
"""


def storm_index(event: Event) -> int | None:
    if isinstance(event, AgentMessageEvent | ThoughtEvent):
        return int(event.text.strip("<>"))
    if isinstance(event, ToolCallEvent):
        return int(event.title) if event.status == "pending" else int(event.raw_output["i"])
    if isinstance(event, PlanEvent):
        return int(event.entries[0]["content"])
    if isinstance(event, RawEvent):
        return int(event.data["i"])
    return None


def test_order_is_preserved_across_a_storm(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    seen: list[int] = []
    tokens: list[str] = []
    conversation = conversations(
        fake_agent(source=STORM_SOURCE),
        callbacks=[lambda e: seen.append(e.seq)],
        on_token=tokens.append,
    )
    ended = bounded(conversation.run, "storm", timeout=60)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    assert seen == [e.seq for e in events] == list(range(1, len(events) + 1))
    indices = [i for i in map(storm_index, events) if i is not None]
    assert indices == list(range(STORM))
    assert tokens == [f"<{i}>" for i in range(0, STORM, 6)]
    assert len(conversation.state.tool_calls) == STORM // 6 + (STORM % 6 > 2)


STUBBORN_SOURCE = """
async def scenario(ctx, prompt):
    if prompt == "slow":
        await ctx.tool_call("s", "Sleep", kind="execute", status="in_progress")
        await ctx.sleep(30)  # ignore_cancel: the cancel does not cut this short
        return "end_turn"
    await ctx.text("fresh " + ctx.session_id)
    return "end_turn"
"""


# --- (d) cancel mid-tool-call ---------------------------------------------------------------


def sleeping_in_tools() -> Scenario:
    return (
        Scenario("sleepy")
        .turn()
        .tool_call("a", title="Queued", kind="read", status="pending")
        .tool_call("b", title="Working", kind="execute", status="pending")
        .tool_update("b", status="in_progress")
        .sleep(20)
        .text("never")
        .stop()
        .turn()
        .text("ok")
        .stop()
    )


def asking_in_tools() -> Scenario:
    return (
        Scenario("asking")
        .turn()
        .tool_call("a", title="Queued", kind="read", status="pending")
        .tool_call("b", title="Write", kind="edit", status="in_progress")
        .permission("b", title="Write it?")
        .sleep(20)
        .text("never")
        .stop()
        .turn()
        .text("ok")
        .stop()
    )


def assert_cancelled_cleanly(conversation: Conversation, events: list[Event]) -> None:
    ended = of(events, TurnEndedEvent)[-1]
    assert ended.stop_reason == "cancelled"
    assert ended.error_code is None
    calls = {c.tool_call_id: c for c in of(events, ToolCallEvent)}  # last snapshot of each
    assert {k: c.status for k, c in calls.items()} == {"a": "failed", "b": "failed"}
    # the failures come before the turn's end
    assert max(c.seq for c in calls.values()) < ended.seq
    assert conversation.state.running_tool_calls == []
    assert conversation.state.pending_permissions == {}
    assert conversation.state.status == "paused"
    assert conversation.state.last_stop_reason == "cancelled"
    assert of(events, StatusChangedEvent)[-1].status == "paused"


@pytest.mark.parametrize("scenario", [sleeping_in_tools, asking_in_tools])
def test_interrupt_from_another_thread_mid_tool_call(
    conversations: MakeConversation,
    fake_agent: Any,
    bounded: Any,
    check_log: Any,
    scenario: Callable[[], Scenario],
) -> None:
    ready = threading.Event()

    def watch(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent) or (
            isinstance(event, ToolCallEvent) and event.status == "in_progress"
        ):
            ready.set()

    conversation = conversations(fake_agent(scenario()), callbacks=[watch], permission="ask")

    def interrupter() -> None:
        assert ready.wait(10)
        time.sleep(0.1)  # let the agent settle into its sleep / wait for the answer
        conversation.interrupt()

    thread = threading.Thread(target=interrupter)
    thread.start()
    started = time.monotonic()
    ended = bounded(conversation.run, "go", timeout=20)
    thread.join(10)
    assert time.monotonic() - started < 10  # the agent honoured the cancel; no 20 s sleep
    assert isinstance(ended, TurnEndedEvent)
    events = check_log(conversation)
    assert_cancelled_cleanly(conversation, events)
    asked = of(events, PermissionRequestedEvent)
    if asked:
        decided = of(events, PermissionDecidedEvent)
        assert [(d.request_id, d.decision, d.decided_by) for d in decided] == [
            (asked[0].request_id, "cancelled", "cancel")
        ]
    # paused: the next run() goes on normally
    ended = bounded(conversation.run, "again", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert conversation.state.status == "idle"


def test_cancelling_arun_interrupts_and_reraises(
    conversations: MakeConversation, fake_agent: Any, check_log: Any
) -> None:
    conversation: Conversation
    asked: asyncio.Event

    def watch(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent):
            asked.set()

    conversation = conversations(fake_agent(asking_in_tools()), callbacks=[watch], permission="ask")

    async def main() -> None:
        nonlocal asked
        asked = asyncio.Event()
        task = asyncio.create_task(conversation.arun("go"))
        await asyncio.wait_for(asked.wait(), 10)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        assert task.cancelled()

    asyncio.run(main())
    events = check_log(conversation)
    assert_cancelled_cleanly(conversation, events)
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by) for d in decided] == [("cancelled", "cancel")]


def test_interrupt_before_the_agent_got_the_prompt_is_not_lost(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation: Conversation

    def stop_at_once(event: Event) -> None:
        if isinstance(event, TurnStartedEvent) and event.turn == 1:
            conversation.interrupt()  # the turn exists, its prompt is not sent yet

    conversation = conversations(fake_agent(source=STUBBORN_SOURCE), callbacks=[stop_at_once])
    started = time.monotonic()
    ended = bounded(conversation.run, "slow", timeout=20)
    assert time.monotonic() - started < 10
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    assert conversation.state.status == "paused"
    events = check_log(conversation)
    assert of(events, ToolCallEvent) == []  # the agent never ran the turn
    ended = bounded(conversation.run, "again", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"


def test_run_while_holding_the_lock_and_another_thread_drives_fails_fast(
    conversations: MakeConversation, fake_agent: Any, bounded: Any
) -> None:
    ready = threading.Event()
    conversation = conversations(
        fake_agent(sleeping_in_tools()),
        callbacks=[signal_on(ToolCallEvent, ready)],
    )
    driver = threading.Thread(target=conversation.run, args=("go",), daemon=True)
    driver.start()
    assert ready.wait(10)

    def run_under_lock() -> None:
        with conversation.state:
            conversation.run("me too")  # waiting here would deadlock with the driver

    with pytest.raises(UsageError, match="holding the state lock"):
        bounded(run_under_lock, timeout=10)
    conversation.interrupt()
    driver.join(10)
    assert not driver.is_alive()


# --- (e) an agent that ignores session/cancel is stopped and its session restarted -----------


def test_agent_ignoring_cancel_is_killed_and_restarted(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    ready = threading.Event()
    conversation = conversations(
        fake_agent(source=STUBBORN_SOURCE, ignore_cancel=True),
        cancel_grace=0.5,
        callbacks=[signal_on(ToolCallEvent, ready)],
    )

    def interrupter() -> None:
        assert ready.wait(10)
        conversation.interrupt()

    thread = threading.Thread(target=interrupter)
    thread.start()
    ended = bounded(conversation.run, "slow", timeout=20)
    thread.join(10)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    assert conversation.state.status == "paused"
    first_session = conversation.state.session_id
    connection = conversation.agent.connection  # type: ignore[attr-defined]
    pid = connection.process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    ended = bounded(conversation.run, "next", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    sessions = of(events, SessionEvent)
    assert [s.kind for s in sessions] == ["session_started", "session_restarted"]
    restarted = sessions[-1]
    assert restarted.context_restored is False
    assert "ignored session/cancel" in restarted.reason
    assert restarted.session_id != first_session
    assert restarted.turn == 2
    assert of(events, AgentMessageEvent)[-1].text == f"fresh {restarted.session_id}"
    assert conversation.agent.connection.process.pid != pid  # type: ignore[attr-defined]


# --- (f) many threads, shared conversations ---------------------------------------------------


def test_stress_many_threads_on_shared_conversations(
    conversations: MakeConversation, fake_agent: Any, check_log: Any
) -> None:
    scenario = Scenario("fast").turn().thought("hm").text("ok", chunks=2).stop()
    failures: list[BaseException] = []
    io = io_thread_ident()
    shared: list[Conversation] = []
    seen: list[list[int]] = [[], [], []]
    follow_ups = [0, 0, 0]

    def make(index: int) -> Conversation:
        def record(event: Event) -> None:
            # callbacks run on a caller's thread (never the I/O loop) and may take the lock
            if threading.get_ident() == io:
                failures.append(AssertionError("a callback ran on the I/O thread"))
            conversation = shared[index]
            with conversation.state:
                seen[index].append(event.seq)
                assert conversation.state.last_seq >= event.seq
            if isinstance(event, TurnStartedEvent) and follow_ups[index] < 15:
                follow_ups[index] += 1
                conversation.send_message("a follow-up from a callback")

        return conversations(fake_agent(scenario), callbacks=[record])

    shared.extend(make(i) for i in range(3))
    deadline = time.monotonic() + 3.0
    counts = dict.fromkeys(("send", "run", "interrupt", "pause", "deliver", "read"), 0)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while time.monotonic() < deadline:
                conversation = rng.choice(shared)
                roll = rng.random()
                if roll < 0.3:
                    conversation.send_message(f"m{seed}")
                    counts["send"] += 1
                elif roll < 0.55:
                    conversation.run()
                    counts["run"] += 1
                elif roll < 0.65:
                    conversation.interrupt()
                    counts["interrupt"] += 1
                elif roll < 0.68:
                    conversation.pause()
                    counts["pause"] += 1
                elif roll < 0.72:
                    conversation.deliver_pending()
                    counts["deliver"] += 1
                else:
                    with conversation.state:
                        snapshot = conversation.state.snapshot()
                        assert snapshot["last_seq"] == len(conversation.state.events)
                        assert snapshot["events"] == snapshot["last_seq"]
                    counts["read"] += 1
                time.sleep(rng.random() * 0.004)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic() + 20))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads deadlocked: {stuck}"
    assert not failures, failures
    assert all(counts.values()), counts
    for index, conversation in enumerate(shared):
        done = threading.Thread(target=conversation.run, daemon=True)  # run what is queued
        done.start()
        done.join(20)
        assert not done.is_alive()
        events = check_log(conversation)
        # the callback saw every event once, in seq order, whichever thread delivered it
        assert seen[index] == [e.seq for e in events]
        turns = {e.turn for e in of(events, UserMessageEvent)}
        ended = {e.turn for e in of(events, TurnEndedEvent)}
        assert turns == ended, "every message ran as one turn"
        assert conversation.state.status in ("idle", "paused")
