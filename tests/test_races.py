"""Races and faults of the conversation core (issue 12): each test failed before its fix.

The fake agent writes what it was told (every permission outcome) to a file of the test, so a
test compares the log with what the agent actually received (see ``recording``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.agents import ACPAgent
from acphost.conversation import Conversation
from acphost.conversation._loop import IOLoop
from acphost.events import (
    AgentMessageEvent,
    Event,
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    SessionEvent,
    TerminalEvent,
    ToolCallEvent,
    TurnEndedEvent,
    UserMessageEvent,
)
from acphost.testing import Scenario
from recording import ASK_ONCE, assert_log_matches_agent, of, recording_agent, told

MakeConversation = Callable[..., Conversation]


@contextlib.contextmanager
def io_loop_held() -> Iterator[None]:
    """Keep acphost's I/O loop busy meanwhile: what is sent to it runs after, in order."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(10)

    IOLoop.get().call_soon(hold)
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()


# --- item 2: a permission answer racing interrupt() -------------------------------------------


def test_an_answer_racing_interrupt_is_what_the_agent_gets(
    conversations: MakeConversation,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
) -> None:
    conversation: Conversation

    def interrupt_then_answer(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent):
            # the user answers while the cancel is on its way: it reaches the I/O loop first
            with io_loop_held():
                conversation.interrupt()
                conversation.answer_permission(event.request_id, "allow_once")

    conversation = conversations(
        recording_agent(fake_agent, tmp_path, ASK_ONCE),
        permission="ask",
        callbacks=[interrupt_then_answer],
    )
    ended = bounded(conversation.run, "go", timeout=20)
    assert isinstance(ended, TurnEndedEvent)
    events = check_log(conversation)
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by) for d in decided] == [("allow_once", "user")]
    assert_log_matches_agent(events, told(tmp_path / "told.jsonl"))


# --- item 3: a permission request that crosses session/cancel ---------------------------------

ASK_AFTER_CANCEL = """
async def scenario(ctx, prompt):
    if prompt == "next":
        await ctx.text("still here")
        return "end_turn"
    await ctx.tool_call("w", "Write", kind="edit", status="in_progress")
    assert await ctx.cancel_request(20)
    # sent after session/cancel arrived, as an agent that had not read it yet would
    record("w", await ctx.request_permission("w", "Write it?"))
    return "cancelled"
"""


@pytest.mark.parametrize("policy", ["allow", "ask"])
def test_a_request_after_cancel_is_answered_cancelled(
    conversations: MakeConversation,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
    policy: str,
) -> None:
    conversation: Conversation
    in_progress = threading.Event()

    def interrupt_on_tool(event: Event) -> None:
        if isinstance(event, ToolCallEvent) and not in_progress.is_set():
            in_progress.set()
            conversation.interrupt()

    conversation = conversations(
        recording_agent(fake_agent, tmp_path, ASK_AFTER_CANCEL, ignore_cancel=True),
        permission=policy,
        cancel_grace=15,
        callbacks=[interrupt_on_tool],
    )
    ended = bounded(conversation.run, "go", timeout=20)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    events = check_log(conversation)
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by) for d in decided] == [("cancelled", "cancel")]
    assert told(tmp_path / "told.jsonl") == [
        {"tool_call_id": "w", "outcome": "cancelled", "option_id": None}
    ]
    assert_log_matches_agent(events, told(tmp_path / "told.jsonl"))
    # the agent was not stopped: its session goes on
    ended = bounded(conversation.run, "next", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    sessions = of(check_log(conversation), SessionEvent)
    assert [s.kind for s in sessions] == ["session_started"]


# --- item 1: a BaseException in run() settles the turn before it leaves ----------------------

SLOW_TOOL = """
async def scenario(ctx, prompt):
    if prompt == "slow":
        await ctx.tool_call("s", "Sleep", kind="execute", status="in_progress")
        await ctx.sleep(30)  # a honoured session/cancel cuts this short
        await ctx.text("too late")
        return "end_turn"
    await ctx.text("answer to " + prompt)
    return "end_turn"
"""


def assert_settled_then_goes_on(conversation: Conversation, check_log: Any, bounded: Any) -> None:
    events = check_log(conversation)  # every started turn ended once, none inside another
    ended = of(events, TurnEndedEvent)
    assert [(e.turn, e.stop_reason, e.error_code) for e in ended] == [(1, "cancelled", None)]
    assert conversation.state.status == "paused"
    assert conversation.state.running_tool_calls == []
    ended_next = bounded(conversation.run, "next", timeout=20)
    assert ended_next is not None
    assert ended_next.stop_reason == "end_turn"
    events = check_log(conversation)
    assert [(e.turn, e.stop_reason, e.error_code) for e in of(events, TurnEndedEvent)] == [
        (1, "cancelled", None),
        (2, "end_turn", None),
    ]
    texts = [(e.turn, e.text) for e in of(events, AgentMessageEvent)]
    assert texts == [(2, "answer to next")]
    assert max(e.seq for e in events if e.turn == 1) < min(e.seq for e in events if e.turn == 2)


@pytest.mark.parametrize("driver", ["run", "arun"])
def test_a_callback_raising_keyboard_interrupt_settles_the_turn_first(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any, driver: str
) -> None:
    conversation: Conversation
    status_when_raised: list[str] = []

    def ctrl_c(event: Event) -> None:
        if isinstance(event, ToolCallEvent) and event.status == "in_progress":
            raise KeyboardInterrupt

    conversation = conversations(fake_agent(source=SLOW_TOOL), callbacks=[ctrl_c])

    def run_slow() -> None:
        try:
            if driver == "run":
                conversation.run("slow")
            else:
                asyncio.run(conversation.arun("slow"))
        except KeyboardInterrupt:
            status_when_raised.append(conversation.state.status)
            raise

    with pytest.raises(KeyboardInterrupt):
        bounded(run_slow, timeout=20)
    assert status_when_raised == ["paused"]  # settled before the exception left run()
    assert_settled_then_goes_on(conversation, check_log, bounded)


def test_ctrl_c_in_the_main_thread_settles_the_turn_first(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    assert threading.current_thread() is threading.main_thread()
    in_progress = threading.Event()

    def watch(event: Event) -> None:
        if isinstance(event, ToolCallEvent) and event.status == "in_progress":
            in_progress.set()

    conversation = conversations(fake_agent(source=SLOW_TOOL), callbacks=[watch])

    def press_ctrl_c() -> None:
        if in_progress.wait(20):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        conversation.run("slow")  # waits in the mailbox when the signal comes
    presser.join(5)
    assert conversation.state.status == "paused"
    assert_settled_then_goes_on(conversation, check_log, bounded)


# --- item 6: every event says truthfully who produced it -------------------------------------


def test_each_event_names_who_produced_it(
    conversations: MakeConversation, fake_agent: Any, tmp_path: Path, bounded: Any, check_log: Any
) -> None:
    policy = conversations("demo", permission="allow")
    bounded(policy.run, "go", timeout=30)
    decided = of(check_log(policy), PermissionDecidedEvent)
    assert [(d.decided_by, d.source) for d in decided] == [("policy", "policy")]

    def decide(request: Any) -> bool:
        return False

    callback = conversations("demo", permission=decide)
    bounded(callback.run, "go", timeout=30)
    decided = of(check_log(callback), PermissionDecidedEvent)
    assert [(d.decided_by, d.source) for d in decided] == [("callback", "user")]

    conversation: Conversation

    def cancel_at_the_question(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent):
            conversation.interrupt()

    conversation = conversations(
        recording_agent(fake_agent, tmp_path, ASK_ONCE),
        permission="ask",
        callbacks=[cancel_at_the_question],
    )
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decided_by, d.source) for d in decided] == [("cancel", "host")]
    calls = of(events, ToolCallEvent)
    assert [(c.status, c.source) for c in calls] == [("pending", "agent"), ("failed", "host")]


# --- item 11: a client terminal gets the agent's environment, not the host's ------------------


def test_a_terminal_gets_the_agents_environment(
    conversations: MakeConversation,
    fake_agent: Any,
    bounded: Any,
    check_log: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACPHOST_TEST_API_KEY", "sk-host-only")
    scenario = Scenario("env").turn().terminal("env", [], env={"FROM_REQUEST": "asked"}).stop()
    agent = ACPAgent(
        fake_agent(scenario),
        env={"ACPHOST_TEST_API_KEY": None, "HOME": None, "FOR_THE_AGENT": "given"},
    )
    conversation = conversations(agent)
    bounded(conversation.run, "go", timeout=30)
    released = [t for t in of(check_log(conversation), TerminalEvent) if t.status == "released"]
    assert len(released) == 1
    seen = dict(line.split("=", 1) for line in released[0].output.splitlines() if "=" in line)
    assert "ACPHOST_TEST_API_KEY" not in seen  # removed for the agent: removed for its commands
    assert "HOME" not in seen
    assert seen["FOR_THE_AGENT"] == "given"
    assert seen["FROM_REQUEST"] == "asked"
    assert seen["PATH"] == os.environ["PATH"]


# --- item 4: cancel ends the turn's client terminals, and their state says how ---------------

TERMINALS = """
import asyncio

async def scenario(ctx, prompt):
    command = "echo $$ > " + prompt + ".pid; exec sleep 8"
    terminal_id = await ctx.create_terminal("/bin/sh", ["-c", command])
    await ctx.tool_call("t-" + prompt, "Run", kind="execute", status="in_progress",
                        content=[{"type": "terminal", "terminalId": terminal_id}])
    if prompt == "background":
        return "end_turn"  # left running, never released (a dev server, say)
    await ctx.sleep(30)  # the cancel cuts this short; the agent leaves its command running
    return "cancelled"
"""


def pid_of(workspace: Path, name: str, timeout: float = 20) -> int:
    """The pid the command wrote, waiting for the shell to write it (it runs on its own)."""
    path = workspace / f"{name}.pid"
    deadline = time.monotonic() + timeout
    while not (text := path.read_text() if path.exists() else "").endswith("\n"):
        assert time.monotonic() < deadline, f"{path.name} was never written"
        time.sleep(0.01)
    return int(text)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_ends_the_turns_terminals_and_says_how(
    conversations: MakeConversation,
    fake_agent: Any,
    workspace: Path,
    bounded: Any,
    check_log: Any,
) -> None:
    conversation: Conversation

    def interrupt_when_running(event: Event) -> None:
        if isinstance(event, ToolCallEvent) and event.tool_call_id == "t-foreground":
            pid_of(workspace, "foreground")  # the command is running before the cancel
            conversation.interrupt()

    conversation = conversations(fake_agent(source=TERMINALS), callbacks=[interrupt_when_running])
    bounded(conversation.run, "background", timeout=20)
    background = pid_of(workspace, "background")
    ended = bounded(conversation.run, "foreground", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "cancelled"
    assert gone(pid_of(workspace, "foreground"))  # ended with its turn
    assert not gone(background)  # an earlier turn's command is not the cancelled turn's
    events = check_log(conversation)
    terminals = of(events, TerminalEvent)
    killed = [t for t in terminals if t.status == "killed"]
    assert [(t.terminal_id, t.signal) for t in killed] == [("term-2", "SIGKILL")]
    assert killed[0].seq < ended.seq  # recorded within the turn it ended with
    assert {k: t.status for k, t in conversation.state.terminals.items()} == {
        "term-1": "started",
        "term-2": "killed",
    }
    conversation.close()
    assert gone(background)
    assert {k: t.status for k, t in conversation.state.terminals.items()} == {
        "term-1": "killed",
        "term-2": "killed",
    }


# --- issue 13 item 2: an "ask" nobody answers is visible, and may be bounded -----------------


def test_an_unanswered_ask_is_logged_once_and_denied_after_the_timeout(
    conversations: MakeConversation,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="acphost")
    conversation = conversations(
        recording_agent(fake_agent, tmp_path, ASK_ONCE), permission="ask", permission_timeout=0.2
    )
    ended = bounded(conversation.run, "go", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    asked = of(events, PermissionRequestedEvent)
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by, d.source) for d in decided] == [
        ("reject_once", "timeout", "host")
    ]
    assert_log_matches_agent(events, told(tmp_path / "told.jsonl"))
    waiting = [r.getMessage() for r in caplog.records if "waits" in r.getMessage()]
    assert len(waiting) == 1
    assert f"answer_permission('{asked[0].request_id}'" in waiting[0]
    assert conversation.id in waiting[0]


def test_keyboard_interrupt_in_a_callback_between_turns_is_raised_where_it_happened(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    def ctrl_c_at_the_message(event: Event) -> None:
        if isinstance(event, UserMessageEvent) and event.text == "queued":
            raise KeyboardInterrupt

    conversation = conversations(fake_agent(source=SLOW_TOOL), callbacks=[ctrl_c_at_the_message])
    with pytest.raises(KeyboardInterrupt):
        conversation.send_message("queued")  # delivered, then the interrupt goes on up
    ended = bounded(conversation.run, timeout=20)  # not interrupted by the earlier Ctrl-C
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert of(check_log(conversation), UserMessageEvent)[0].text == "queued"


STUBBORN = """
async def scenario(ctx, prompt):
    if prompt == "slow":
        await ctx.tool_call("s", "Sleep", kind="execute", status="in_progress")
        await ctx.cancel_request(30)
        await ctx.tool_update("s", title="cancel seen, and ignored")
        await ctx.sleep(60)  # ignore_cancel: the cancel does not cut this short
        return "end_turn"
    await ctx.text("fresh")
    return "end_turn"
"""


def test_a_second_ctrl_c_stops_an_agent_that_ignores_the_cancel_at_once(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    main = threading.main_thread().ident or 0
    running, ignored = threading.Event(), threading.Event()

    def watch(event: Event) -> None:
        if isinstance(event, ToolCallEvent):
            (ignored if event.title.startswith("cancel seen") else running).set()

    conversation = conversations(
        fake_agent(source=STUBBORN, ignore_cancel=True), cancel_grace=60, callbacks=[watch]
    )

    def press_ctrl_c_twice() -> None:
        if running.wait(20):
            signal.pthread_kill(main, signal.SIGINT)
        if ignored.wait(20):
            signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c_twice, daemon=True)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        conversation.run("slow")
    presser.join(5)
    assert conversation.state.status == "paused"
    ended = bounded(conversation.run, "next", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    restarted = of(check_log(conversation), SessionEvent)[-1]
    assert restarted.kind == "session_restarted"
    assert restarted.reason.endswith("stopped at the user's second interrupt")
