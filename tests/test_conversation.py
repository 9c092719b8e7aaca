"""Events and turns of a conversation, against the fake ACP agent (a real subprocess)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.agents import AgentBase, AgentContext, TurnResult
from acphost.conversation import Conversation
from acphost.conversation._loop import IOLoop
from acphost.errors import AgentExited, AgentRequestError, RequestTimeout, UsageError
from acphost.events import (
    AgentMessageEvent,
    CommandsEvent,
    ConfigOptionsEvent,
    ErrorEvent,
    Event,
    ModeChangedEvent,
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    PlanEvent,
    RawEvent,
    SessionEvent,
    SessionInfoEvent,
    StatusChangedEvent,
    TerminalEvent,
    ThoughtEvent,
    TokenUsage,
    ToolCallEvent,
    TurnEndedEvent,
    TurnStartedEvent,
    UsageEvent,
    UserMessageEvent,
)
from acphost.testing import (
    Scenario,
    boolean_option,
    select_option,
    session_modes,
    text_content,
)

MakeConversation = Callable[..., Conversation]


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def signal_on(cls: type[Any], flag: threading.Event) -> Callable[[Event], None]:
    """A callback that sets ``flag`` when an event of type ``cls`` is delivered."""

    def callback(event: Event) -> None:
        if isinstance(event, cls):
            flag.set()

    return callback


def status_of(conversation: Conversation) -> str:
    return conversation.state.status


def last_calls(events: list[Event]) -> dict[str, ToolCallEvent]:
    return {e.tool_call_id: e for e in of(events, ToolCallEvent)}


# --- a demo turn ------------------------------------------------------------------------------


def test_demo_turn_events_and_state(
    conversations: MakeConversation, workspace: Path, bounded: Any, check_log: Any
) -> None:
    tokens: list[str] = []
    thoughts: list[str] = []
    conversation = conversations(
        "demo", permission="allow", on_token=tokens.append, on_thought=thoughts.append
    )
    ended = bounded(conversation.run, "Summarise the project", timeout=30)
    events = check_log(conversation)
    assert isinstance(ended, TurnEndedEvent)
    assert ended is events[-2]
    kinds = [e.kind for e in events]
    assert kinds[:5] == [
        "user_message",
        "session_info",  # the host titles the conversation after its first prompt
        "turn_started",
        "status_changed",
        "session_started",
    ]
    assert conversation.state.title == "Summarise the project"
    assert kinds[-2:] == ["turn_ended", "status_changed"]
    assert all(e.turn == 1 for e in events)

    session = of(events, SessionEvent)[0]
    assert session.agent_info is not None
    assert session.agent_info["name"] == "acphost-fake-agent"
    assert session.modes is not None
    assert session.modes["currentModeId"] == "code"

    calls = last_calls(events)
    assert set(calls) == {"ls-0", "read-0", "wc-0", "write-0"}
    assert all(c.status == "completed" for c in calls.values())
    ls_history = [e.status for e in of(events, ToolCallEvent) if e.tool_call_id == "ls-0"]
    assert ls_history == ["pending", "in_progress", "completed"]
    assert calls["ls-0"].tool_kind == "execute"
    assert "README.md" in calls["ls-0"].content[0]["content"]["text"]
    assert calls["read-0"].locations == [{"path": str(workspace / "README.md")}]
    write = calls["write-0"]
    assert write.tool_kind == "edit"
    assert write.content[0]["type"] == "diff"
    assert write.content[0]["path"].endswith("NOTES.md")

    terminals = of(events, TerminalEvent)
    assert [(t.command, t.status) for t in terminals] == [
        ("ls", "started"),
        ("ls", "released"),
        ("wc", "started"),
        ("wc", "released"),
    ]
    ls_done = terminals[1]
    assert "README.md" in ls_done.output
    assert ls_done.exit_code == 0
    assert ls_done.args == ["-la"]
    assert ls_done.cwd == str(workspace)
    shown = [e for e in of(events, ToolCallEvent) if e.tool_call_id == "ls-0"][1]
    assert shown.content == [{"type": "terminal", "terminalId": ls_done.terminal_id}]
    assert conversation.state.terminals[ls_done.terminal_id] == ls_done

    asked = of(events, PermissionRequestedEvent)
    decided = of(events, PermissionDecidedEvent)
    assert len(asked) == len(decided) == 1
    assert asked[0].tool_call_id == "write-0"
    assert asked[0].title == "Write NOTES.md"
    assert {o["kind"] for o in asked[0].options} >= {"allow_once", "reject_once"}
    assert (decided[0].request_id, decided[0].decision, decided[0].decided_by) == (
        asked[0].request_id,
        "allow_once",
        "policy",
    )
    assert decided[0].option_id == "allow_once"
    assert asked[0].seq < decided[0].seq
    assert (workspace / "NOTES.md").read_text().startswith("# Notes")

    plans = of(events, PlanEvent)
    assert len(plans) == 5
    assert [entry["status"] for entry in plans[-1].entries] == ["completed"] * 5
    assert of(events, ThoughtEvent)[0].text == "".join(thoughts)
    message = of(events, AgentMessageEvent)
    assert len(message) == 1
    assert len(tokens) == 4
    assert message[0].text == "".join(tokens)
    assert message[0].text.startswith('You asked: "Summarise the project".')

    usage = of(events, UsageEvent)[0]
    assert usage.size == 200_000
    assert usage.cost is not None
    assert usage.currency == "USD"
    assert isinstance(ended.usage, TokenUsage)
    assert ended.usage.total_tokens > 0
    assert ended.cost == pytest.approx(usage.cost)
    assert ended.stop_reason == "end_turn"
    assert ended.error_code is None

    state = conversation.state
    assert state.status == "idle"
    assert state.turns == 1
    assert state.usage == ended.usage
    assert state.cost == pytest.approx(usage.cost)
    assert state.mode_id == "code"
    assert state.model == "fake-small"
    assert state.plan == plans[-1].entries
    assert state.running_tool_calls == []
    assert state.pending_permissions == {}
    assert [type(m) for m in state.messages] == [UserMessageEvent, AgentMessageEvent]
    assert state.session_id == session.session_id
    record = conversation.store.get_conversation(conversation.id)
    assert record is not None
    assert (record.status, record.session_id) == ("idle", session.session_id)


def test_permission_deny_writes_nothing(
    conversations: MakeConversation, workspace: Path, bounded: Any, check_log: Any
) -> None:
    conversation = conversations("demo", permission="deny")
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    assert not (workspace / "NOTES.md").exists()
    assert last_calls(events)["write-0"].status == "failed"
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by, d.option_id) for d in decided] == [
        ("reject_once", "policy", "reject_once")
    ]
    assert "not written" in of(events, AgentMessageEvent)[0].text


def test_permission_callable(
    conversations: MakeConversation, workspace: Path, bounded: Any, check_log: Any
) -> None:
    asked: list[tuple[str, str | None]] = []

    def decide(request: PermissionRequest) -> Decision:
        asked.append((request.title, request.tool_call.kind))
        return "allow_always"

    conversation = conversations("demo", permission=decide)
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    assert asked == [("Write NOTES.md", "edit")]
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by, d.option_id) for d in decided] == [
        ("allow_always", "callback", "allow_always")
    ]
    assert (workspace / "NOTES.md").exists()


def test_permission_ask_answered_from_another_thread(
    conversations: MakeConversation, workspace: Path, bounded: Any, check_log: Any
) -> None:
    conversation: Conversation
    answered: list[threading.Thread] = []
    pending_seen: list[list[str]] = []

    def on_event(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent):
            pending_seen.append(list(conversation.state.pending_permissions))

            def answer() -> None:
                time.sleep(0.05)
                conversation.answer_permission(event.request_id, True)

            thread = threading.Thread(target=answer)
            thread.start()
            answered.append(thread)

    conversation = conversations("demo", permission="ask", callbacks=[on_event])
    bounded(conversation.run, "go", timeout=30)
    for thread in answered:
        thread.join(5)
    events = check_log(conversation)
    asked = of(events, PermissionRequestedEvent)
    assert pending_seen == [[asked[0].request_id]]
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by) for d in decided] == [("allow_once", "user")]
    # the decision is logged before what the agent did with it
    assert decided[0].seq < last_calls(events)["write-0"].seq
    assert (workspace / "NOTES.md").exists()
    with pytest.raises(UsageError):
        conversation.answer_permission(asked[0].request_id, False)


# --- real agents' quirks ----------------------------------------------------------------------

LATE_SOURCE = """
import asyncio
from pathlib import Path

_tasks = set()

async def scenario(ctx, prompt):
    async def later():
        await asyncio.sleep(0.2)
        await ctx.text("late words")
        await ctx.session_info(title="Late title " + prompt)
        Path(__file__).with_suffix(f".{prompt}.sent").touch()

    _tasks.add(asyncio.get_running_loop().create_task(later()))
    await ctx.text("answer to " + prompt)
    return "end_turn"
"""


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    time.sleep(0.3)  # and the host has read what was sent before it


def test_updates_after_the_prompt_response_are_delivered(
    conversations: MakeConversation,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
) -> None:
    seen: list[int] = []
    conversation = conversations(
        fake_agent(source=LATE_SOURCE), callbacks=[lambda e: seen.append(e.seq)]
    )
    bounded(conversation.run, "one", timeout=20)
    wait_for_file(tmp_path / "scenario_1.one.sent")  # sent while no turn runs
    conversation.deliver_pending()
    events = check_log(conversation)
    late = events[-2:]
    assert [e.kind for e in late] == ["agent_message", "session_info"]
    assert late[0].text == "late words"
    assert late[1].title == "Late title one"
    assert all(e.turn == 1 for e in late)
    assert conversation.state.title == "Late title one"

    bounded(conversation.run, "two", timeout=20)
    wait_for_file(tmp_path / "scenario_1.two.sent")
    bounded(conversation.run, "three", timeout=20)  # delivers turn 2's late updates first
    events = check_log(conversation)
    assert seen == [e.seq for e in events]
    sent3 = next(e for e in of(events, UserMessageEvent) if e.turn == 3)
    before = events[: events.index(sent3)]
    assert [(type(e), e.turn) for e in before[-3:]] == [
        (StatusChangedEvent, 2),
        (AgentMessageEvent, 2),
        (SessionInfoEvent, 2),
    ]
    assert before[-1].title == "Late title two"


def test_tool_call_quirks_and_unknown_updates(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (
        Scenario("quirks")
        .turn()
        .tool_call("t1", title="Read a", kind="read", status="pending", content=[text_content("x")])
        .tool_call("t1", title="Read a (again)", kind="read", status="in_progress")  # same id
        .tool_update("ghost", status="completed", title="Never announced")  # unknown id
        .permission("pending", title="Run ls")  # a synthetic id: no such tool call
        .raw_update({"sessionUpdate": "x_future_kind", "answer": 42})
        .notify("_vendor/ping", {"n": 1})
        .commands([{"name": "help", "description": "Help"}])
        .malformed("this is not json")
        .tool_update("t1", status="completed")
        .text("still here")
        .stop()
    )
    conversation = conversations(fake_agent(scenario), permission="allow")
    ended = bounded(conversation.run, "go", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    history = [(e.tool_call_id, e.status, e.title) for e in of(events, ToolCallEvent)]
    assert history == [
        ("t1", "pending", "Read a"),
        ("t1", "in_progress", "Read a (again)"),
        ("ghost", "completed", "Never announced"),
        ("t1", "completed", "Read a (again)"),
    ]
    merged = conversation.state.tool_calls["t1"]
    assert merged.tool_kind == "read"
    assert merged.content == [text_content("x")]

    asked = of(events, PermissionRequestedEvent)
    assert [(a.tool_call_id, a.title) for a in asked] == [("pending", "Run ls")]
    assert asked[0].tool_call["toolCallId"] == "pending"
    assert of(events, PermissionDecidedEvent)[0].decision == "allow_once"

    raws = of(events, RawEvent)
    assert [(r.method, r.update_kind, r.data) for r in raws] == [
        ("session/update", "x_future_kind", {"sessionUpdate": "x_future_kind", "answer": 42}),
        ("_vendor/ping", None, {"n": 1}),
    ]
    assert conversation.state.commands == [{"name": "help", "description": "Help"}]
    assert len(of(events, CommandsEvent)) == 1
    errors = of(events, ErrorEvent)
    assert [e.code for e in errors] == ["protocol_error"]
    assert errors[0].details["line_preview"] == "this is not json"
    assert of(events, AgentMessageEvent)[-1].text == "still here"
    assert conversation.state.status == "idle"


CRASH_SOURCE = """
async def scenario(ctx, prompt):
    if prompt == "crash":
        await ctx.text("partial answer")
        await ctx.stderr("boom: the agent is about to die")
        await ctx.crash(3)
    await ctx.text("back: " + prompt)
    return "end_turn"
"""


def test_crash_mid_turn_then_the_agent_restarts(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(source=CRASH_SOURCE))
    with pytest.raises(AgentExited) as raised:
        bounded(conversation.run, "crash", timeout=20)
    assert raised.value.exit_code == 3
    events = check_log(conversation)
    errors = of(events, ErrorEvent)
    assert [e.code for e in errors] == ["agent_exited"]  # reported once, not retried
    assert errors[0].details["exit_code"] == 3
    assert errors[0].stderr_tail is not None
    assert "boom: the agent is about to die" in (errors[0].stderr_tail)
    assert errors[0].retryable is True
    assert of(events, AgentMessageEvent)[0].text == "partial answer"
    assert of(events, AgentMessageEvent)[0].seq < errors[0].seq
    assert len(of(events, SessionEvent)) == 1  # no second attempt
    ended = of(events, TurnEndedEvent)[0]
    assert (ended.stop_reason, ended.error_code) == ("error", "agent_exited")
    assert conversation.state.status == "error"
    assert conversation.state.last_error == errors[0]

    ended = bounded(conversation.run, "hello", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    events = check_log(conversation)
    restarted = of(events, SessionEvent)[-1]
    assert restarted.kind == "session_restarted"
    assert restarted.context_restored is False
    assert "could not reattach" in restarted.reason
    assert of(events, AgentMessageEvent)[-1].text == "back: hello"
    assert status_of(conversation) == "idle"


FLAKY_SOURCE = """
import os
from pathlib import Path

MARKER = Path(__file__).with_suffix(".crashed")

async def scenario(ctx, prompt):
    if prompt == "always" or not MARKER.exists():
        MARKER.touch()
        os._exit(7)  # before sending anything for the turn
    await ctx.text("second try worked")
    return "end_turn"
"""


def test_crash_before_any_output_is_retried(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(source=FLAKY_SOURCE))
    ended = bounded(conversation.run, "go", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert ended.error_code is None
    events = check_log(conversation)
    assert len(of(events, TurnStartedEvent)) == 1
    assert [s.kind for s in of(events, SessionEvent)] == ["session_started", "session_restarted"]
    assert [e.code for e in of(events, ErrorEvent)] == ["agent_exited"]
    assert of(events, AgentMessageEvent)[0].text == "second try worked"
    assert conversation.state.status == "idle"


def test_retries_are_bounded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(source=FLAKY_SOURCE), max_retries=1)
    with pytest.raises(AgentExited):
        bounded(conversation.run, "always", timeout=20)
    events = check_log(conversation)
    assert len(of(events, SessionEvent)) == 2  # the first attempt and one retry
    assert of(events, TurnEndedEvent)[0].error_code == "agent_exited"


TICKING_SOURCE = """
import asyncio

async def scenario(ctx, prompt):
    for i in range(200):
        await ctx.thought(f"tick {i} ")
        if not await ctx.sleep(0.05):
            return "cancelled"
    return "end_turn"
"""


@pytest.mark.parametrize("which", ["idle", "turn"])
def test_timeouts_cancel_the_turn(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any, which: str
) -> None:
    if which == "idle":
        agent = fake_agent(Scenario("idle").turn().text("thinking").sleep(20).stop())
        conversation = conversations(agent, idle_timeout=0.3)
    else:
        conversation = conversations(
            fake_agent(source=TICKING_SOURCE), idle_timeout=0.5, turn_timeout=0.6
        )
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as raised:
        bounded(conversation.run, "go", timeout=20)
    assert time.monotonic() - started < 8
    assert raised.value.code == "timeout"
    events = check_log(conversation)
    errors = of(events, ErrorEvent)
    assert [e.code for e in errors] == ["timeout"]
    what = "sent nothing for 0.3" if which == "idle" else "took longer than 0.6"
    assert what in errors[0].message
    ended = of(events, TurnEndedEvent)[0]
    assert (ended.stop_reason, ended.error_code) == ("cancelled", "timeout")
    assert conversation.state.status == "error"


def test_waiting_for_the_user_is_not_idle(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = Scenario("ask").turn().permission("t", title="May I?").text("thanks").stop()
    conversation: Conversation

    def answer_late(event: Event) -> None:
        # two idle periods later: the answer lands on an idle deadline, and the agent must
        # still get the whole idle_timeout to reply
        if isinstance(event, PermissionRequestedEvent):
            timer = threading.Timer(2.0, conversation.answer_permission, (event.request_id, True))
            timer.start()

    conversation = conversations(
        fake_agent(scenario), permission="ask", idle_timeout=1.0, callbacks=[answer_late]
    )
    ended = bounded(conversation.run, "go", timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert of(check_log(conversation), ErrorEvent) == []


COST_SOURCE = """
async def scenario(ctx, prompt):
    await ctx.text("ok")
    # the agent reports its session's running cost
    spent = {"a": 0.01, "b": 0.02, "crash": 0.0, "c": 0.005}[prompt]
    ctx.vars["cost"] = ctx.vars.get("cost", 0.0) + spent
    await ctx.usage(100 * (ctx.turn_index + 1), 1000, cost=round(ctx.vars["cost"], 6))
    if prompt == "crash":
        await ctx.crash(1)
    ctx.prompt_usage = {"inputTokens": 10, "outputTokens": len(prompt), "thoughtTokens": 1}
    return "end_turn"
"""


def test_usage_and_cost_are_summed_never_double_counted(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(source=COST_SOURCE))
    for prompt in ("a", "b"):
        bounded(conversation.run, prompt, timeout=20)
    state = conversation.state
    assert state.usage == TokenUsage(
        input_tokens=20, output_tokens=2, thought_tokens=2, total_tokens=22
    )
    assert state.cost == pytest.approx(0.03)  # the running total, not 0.01 + 0.03
    assert (state.context_used, state.context_size, state.currency) == (200, 1000, "USD")
    with pytest.raises(AgentExited):
        bounded(conversation.run, "crash", timeout=20)
    bounded(conversation.run, "c", timeout=20)  # a new session: its count starts again
    events = check_log(conversation)
    assert [e.cost for e in of(events, TurnEndedEvent)] == pytest.approx([0.01, 0.02, 0.0, 0.005])
    assert state.cost == pytest.approx(0.035)
    assert state.usage.input_tokens == 30  # the crashed turn had no PromptResponse.usage


def test_modes_and_config_options(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (
        Scenario(
            "configurable",
            modes=session_modes(["ask", "code"], current="ask"),
            config_options=[
                select_option("model", "Model", ["m-small", "m-large"], category="model"),
                boolean_option("thinking", "Thinking", False),
            ],
        )
        .turn()
        .text("ok")
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    conversation.start()
    state = conversation.state
    assert state.mode_id == "ask"
    assert [m["id"] for m in state.modes] == ["ask", "code"]
    assert state.model == "m-small"
    conversation.set_mode("code")
    assert state.mode_id == "code"
    conversation.set_config_option("thinking", True)
    thinking = next(o for o in state.config_options if o["id"] == "thinking")
    assert thinking["currentValue"] is True
    conversation.set_model("m-large")
    assert state.model == "m-large"
    with pytest.raises(AgentRequestError):
        conversation.set_model("m-huge")
    assert state.model == "m-large"
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    assert [e.mode_id for e in of(events, ModeChangedEvent)] == ["code"]
    assert len(of(events, ConfigOptionsEvent)) == 2  # one per change, not one per message


def test_set_model_without_a_model_option(conversations: MakeConversation, fake_agent: Any) -> None:
    conversation = conversations(fake_agent(Scenario("plain").turn().text("ok").stop()))
    conversation.start()
    with pytest.raises(UsageError):
        conversation.set_model("anything")


# --- a plain Python agent ---------------------------------------------------------------------


class ToolAgent(AgentBase):
    """A sync agent: streams text, shows a tool call, asks permission, acts on the answer."""

    name = "tool-agent"

    def __init__(self) -> None:
        self.step_threads: list[int] = []

    def step(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> TurnResult:
        self.step_threads.append(threading.get_ident())
        ctx.think("planning")
        call = {"toolCallId": "w1", "title": "Write out.txt", "kind": "edit", "status": "pending"}
        ctx.update({"sessionUpdate": "tool_call", **call})
        decision = ctx.ask_permission(call)
        allowed = decision.startswith("allow")
        status = "completed" if allowed else "failed"
        ctx.update({"sessionUpdate": "tool_call_update", "toolCallId": "w1", "status": status})
        for word in ("done ", "with ", prompt[0]["text"]):
            ctx.say(word)
        return TurnResult("end_turn", usage={"inputTokens": 3, "outputTokens": 4})


def test_plain_python_agent(conversations: MakeConversation, bounded: Any, check_log: Any) -> None:
    idents: list[int] = []
    tokens: list[str] = []

    def decide(request: PermissionRequest) -> bool:
        idents.append(threading.get_ident())
        return request.tool_call.tool_call_id == "w1"

    def on_token(text: str) -> None:
        idents.append(threading.get_ident())
        tokens.append(text)

    agent = ToolAgent()
    conversation = conversations(
        agent,
        permission=decide,
        callbacks=[lambda e: idents.append(threading.get_ident())],
        on_token=on_token,
    )
    caller: list[int] = []

    def drive() -> TurnEndedEvent | None:
        caller.append(threading.get_ident())
        return conversation.run("it")

    ended = bounded(drive, timeout=20)
    assert ended is not None
    assert ended.stop_reason == "end_turn"
    assert ended.usage is not None
    assert ended.usage.output_tokens == 4
    assert set(idents) == {caller[0]}
    assert agent.step_threads
    assert agent.step_threads[0] not in (
        caller[0],
        IOLoop.get().thread.ident,
    )
    events = check_log(conversation)
    assert [e.status for e in of(events, ToolCallEvent)] == ["pending", "completed"]
    decided = of(events, PermissionDecidedEvent)
    assert [(d.decision, d.decided_by) for d in decided] == [("allow_once", "callback")]
    assert tokens == ["done ", "with ", "it"]
    assert of(events, AgentMessageEvent)[0].text == "done with it"
    assert of(events, ThoughtEvent)[0].text == "planning"
    assert of(events, SessionEvent)[0].session_id == "tool-agent-session"
    record = conversation.store.get_conversation(conversation.id)
    assert record is not None
    assert record.metadata["agent"]["type"] == "python"


def test_plain_python_agent_in_arun(conversations: MakeConversation, check_log: Any) -> None:
    idents: set[int] = set()
    conversation = conversations(
        ToolAgent(), permission="deny", callbacks=[lambda e: idents.add(threading.get_ident())]
    )

    async def main() -> int:
        await asyncio.wait_for(conversation.arun("x"), 20)
        return threading.get_ident()

    assert idents == {asyncio.run(main())}
    events = check_log(conversation)
    assert [e.status for e in of(events, ToolCallEvent)] == ["pending", "failed"]


# --- closing ------------------------------------------------------------------------------------


def test_close_from_another_thread_mid_turn(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = Scenario("slow").turn().tool_call("a", title="A", status="in_progress").sleep(20)
    ready = threading.Event()
    conversation = conversations(fake_agent(scenario), callbacks=[signal_on(ToolCallEvent, ready)])

    def closer_thread() -> None:
        assert ready.wait(10)
        conversation.close()

    closer = threading.Thread(target=closer_thread)
    closer.start()
    ended = bounded(conversation.run, "go", timeout=20)
    closer.join(20)
    assert not closer.is_alive()
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    events = check_log(conversation)
    assert conversation.state.status == "finished"
    assert last_calls(events)["a"].status == "failed"
    record = conversation.store.get_conversation(conversation.id)
    assert record is not None
    assert record.status == "finished"


def test_close_from_a_callback(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = Scenario("slow").turn().tool_call("a", title="A", status="in_progress").sleep(20)
    conversation: Conversation

    def close_now(event: Event) -> None:
        if isinstance(event, ToolCallEvent):
            conversation.close()

    conversation = conversations(fake_agent(scenario), callbacks=[close_now])
    conversation.send_message("queued for later")
    ended = bounded(conversation.run, "go", timeout=20)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.turn == 1
    check_log(conversation)
    assert conversation.state.status == "finished"


# --- driving ------------------------------------------------------------------------------------


def test_pause_lets_the_turn_finish_and_holds_the_queue(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation: Conversation
    refused: list[BaseException] = []

    def on_event(event: Event) -> None:
        if isinstance(event, AgentMessageEvent) and event.turn == 1:
            conversation.pause()
            try:
                conversation.run()  # a callback may not drive: it would wait for itself
            except UsageError as exc:
                refused.append(exc)

    scenario = Scenario("echo", after_last_turn="echo")
    conversation = conversations(fake_agent(scenario), callbacks=[on_event])
    conversation.send_message("one")
    conversation.send_message("two")
    ended = bounded(conversation.run, timeout=20)
    assert ended is not None
    assert (ended.turn, ended.stop_reason) == (1, "end_turn")
    assert conversation.state.status == "paused"
    assert len(refused) == 1
    ended = bounded(conversation.run, timeout=20)  # the next run() goes on with the queue
    assert ended is not None
    assert ended.turn == 2
    assert status_of(conversation) == "idle"
    texts = [m.text for m in of(check_log(conversation), AgentMessageEvent)]
    assert texts == ["one", "two"]


def test_title_given_at_creation_stays_until_the_agent_names_the_session(
    conversations: MakeConversation, fake_agent: Any, bounded: Any
) -> None:
    scenario = (
        Scenario("titled").turn().text("a").stop().turn().session_info(title="Agent's").stop()
    )
    conversation = conversations(fake_agent(scenario), title="Mine")

    def title() -> str | None:
        record = conversation.store.get_conversation(conversation.id)
        assert record is not None
        return record.title

    bounded(conversation.run, "one", timeout=20)
    assert title() == "Mine"
    assert conversation.state.title is None
    bounded(conversation.run, "two", timeout=20)
    assert title() == conversation.state.title == "Agent's"
