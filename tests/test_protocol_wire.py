"""Protocol currency on the wire (issue 16): what agents send now is typed, kept and shown.

Each test drives a real fake-agent subprocess through a conversation and reads the log back
(``check_log`` also checks that the store holds exactly the live log and folds to the state).
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from acphost.agents import ACPAgent
from acphost.cli._render import Renderer
from acphost.conversation import Conversation
from acphost.errors import CapabilityMissing, RequestTimeout, UsageError
from acphost.events import (
    AgentMessageEvent,
    CompactionEvent,
    ConfigOptionsEvent,
    ErrorEvent,
    Event,
    NoticeEvent,
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    RawEvent,
    SessionEvent,
    SessionInfoEvent,
    SubagentEvent,
    SubagentUpdateEvent,
    ToolCallEvent,
    TurnEndedEvent,
    parse_event,
)
from acphost.testing import Scenario, boolean_option, select_option
from test_server_support import server_and_client
from test_server_ws import wait_idle

MakeConversation = Callable[..., Conversation]


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def rendered(events: list[Event]) -> str:
    buffer = io.StringIO()
    renderer = Renderer(Console(file=buffer, markup=False, soft_wrap=True, width=100))
    for event in events:
        renderer.on_event(event)
    return buffer.getvalue()


def report_of(events: list[Event]) -> dict[str, Any]:
    texts = [m.text for m in of(events, AgentMessageEvent) if m.text.startswith("{")]
    report: dict[str, Any] = json.JSONDecoder().raw_decode(texts[-1])[0]  # text may follow
    return report


# --- item 1: notices and compaction -----------------------------------------------------------


def test_notices_and_compactions_are_typed_kept_and_shown(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (
        Scenario("compacting")
        .turn()
        .report()
        .notice("Rate limited", severity="warning", description="retrying in 5 s", meta={"x": 1})
        .compaction("c1", "in_progress")
        .compaction_summary("c1", "We fixed the parser; tests pass.", chunks=4)
        .compaction("c1", "completed")
        .compaction("c2", "in_progress", meta={"k": "v"})
        .compaction("c2", "failed", error="context too large")
        .raw_update(  # a newer severity, and a key no field carries: kept as sent
            {"sessionUpdate": "notice", "severity": "_vendor", "title": "Hi", "extraKey": 7}
        )
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)

    # the client said it takes them (the fake agent sends compaction updates only then)
    caps = report_of(events)["clientCapabilities"]
    assert caps["session"]["notices"] == {}
    assert caps["session"]["compaction"] == {}
    assert report_of(events)["failures"] == []
    assert not of(events, RawEvent)

    notices = of(events, NoticeEvent)
    assert [(n.severity, n.title, n.description) for n in notices] == [
        ("warning", "Rate limited", "retrying in 5 s"),
        ("_vendor", "Hi", None),
    ]
    assert notices[0].meta == {"x": 1}
    assert notices[1].extra == {"extraKey": 7}

    snapshots = of(events, CompactionEvent)
    c1 = [s for s in snapshots if s.compaction_id == "c1"]
    # started, its four streamed chunks joined into one snapshot, completed
    assert [s.status for s in c1] == ["in_progress", "in_progress", "completed"]
    summary = [{"type": "text", "text": "We fixed the parser; tests pass."}]
    assert c1[1].summary == summary
    assert c1[2].summary == summary  # a completion keeps it
    c2 = conversation.state.compactions["c2"]
    assert (c2.status, c2.error, c2.meta) == ("failed", "context too large", {"k": "v"})
    assert conversation.state.compactions["c1"].summary == summary

    shown = rendered(events)
    assert "! Rate limited" in shown
    assert "retrying in 5 s" in shown
    assert "the agent's context was compacted" in shown
    assert "We fixed the parser; tests pass." in shown
    assert "compacting the agent's context failed" in shown
    assert "context too large" in shown


def test_compaction_patches_follow_the_schema(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    """Left out keeps, null clears, a value replaces; a malformed update is kept raw."""
    scenario = (
        Scenario("patches")
        .turn()
        .compaction("c1", "in_progress", meta={"a": 1})
        .compaction("c1", "completed", summary="first")
        .raw_update(
            {
                "sessionUpdate": "compaction_update",
                "compactionId": "c1",
                "status": "_x",
                "_meta": None,
            }
        )
        .raw_update({"sessionUpdate": "compaction_update", "compactionId": "c1", "status": 5})
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    snapshots = of(events, CompactionEvent)
    assert [(s.status, s.meta) for s in snapshots] == [
        ("in_progress", {"a": 1}),
        ("completed", {"a": 1}),
        ("_x", None),
    ]
    assert snapshots[-1].summary == [{"type": "text", "text": "first"}]
    raw = of(events, RawEvent)
    assert [r.update_kind for r in raw] == ["compaction_update"]
    assert raw[0].data["status"] == 5


# --- item 2: the tool's programmatic name ----------------------------------------------------


def test_tool_call_name_is_kept_beside_the_title(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (
        Scenario("named-tools")
        .turn()
        .tool_call("t1", title="Reading configuration file", kind="read", name="read_file")
        .tool_update("t1", status="completed")
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    calls = of(events, ToolCallEvent)
    assert [(c.name, c.title, c.status) for c in calls] == [
        ("read_file", "Reading configuration file", "pending"),
        ("read_file", "Reading configuration file", "completed"),  # merged: kept
    ]
    assert calls[0].extra is None  # a field of its own now, not an unknown key
    assert conversation.state.tool_calls["t1"].name == "read_file"
    assert "Reading configuration file (read_file · read) completed" in rendered(events)


# --- item 3: a request acphost does not know is answered -32601 and recorded ------------------


def test_unknown_agent_requests_are_answered_and_recorded_every_time(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    """Qwen Code sends ``craft/drainMidTurnQueue`` every turn: never silent, never an error."""
    scenario = (
        Scenario("qwen-like")
        .turn()
        .request("craft/drainMidTurnQueue", {"queue": "mid-turn"}, echo_result=True)
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "one", timeout=20)
    bounded(conversation.run, "two", timeout=20)  # the scenario repeats its last turn
    events = check_log(conversation)

    answers = [m.text for m in of(events, AgentMessageEvent)]  # what the agent was told
    assert answers == ["error: Method not found: craft/drainMidTurnQueue"] * 2
    recorded = of(events, RawEvent)
    assert [(r.method, r.turn) for r in recorded] == [
        ("craft/drainMidTurnQueue", t) for t in (1, 2)
    ]
    assert all(r.data == {"queue": "mid-turn"} for r in recorded)
    assert all(r.request_id is not None for r in recorded)
    assert all("-32601" in (r.error or "") for r in recorded)
    assert conversation.state.last_error is None  # nothing failed
    assert conversation.state.status == "idle"


# --- item 4: the speed category and boolean options ------------------------------------------


def test_speed_and_boolean_options_are_typed_and_settable(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    options = [
        select_option("model", "Model", ["small", "large"], category="model"),
        select_option("effort", "Effort", ["low", "high"], category="thought_level"),
        select_option("tier", "Speed", ["standard", "fast"], category="speed"),
        boolean_option("web", "Web search", False, category="_vendor_tools"),
    ]
    scenario = Scenario("options", config_options=options, after_last_turn="end_turn")
    scenario.turn().report().stop()
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.start, timeout=20)
    state = conversation.state
    # categories as sent, also in the session/new answer (a newer one is not dropped)
    assert [o.get("category") for o in state.config_options] == [
        "model",
        "thought_level",
        "speed",
        "_vendor_tools",
    ]
    assert (state.model, state.thought_level, state.speed) == ("small", "low", "standard")
    assert state.boolean_options == {"web": False}

    bounded(conversation.set_config_option, "web", True, timeout=20)
    bounded(conversation.set_config_option, "tier", "fast", timeout=20)
    assert state.boolean_options == {"web": True}  # the agent took a boolean of type boolean
    assert state.speed == "fast"

    for config_id, value in (("web", "yes"), ("tier", True), ("nope", "x")):
        with pytest.raises(UsageError):
            conversation.set_config_option(config_id, value)

    bounded(conversation.run, "report", timeout=20)
    events = check_log(conversation)
    report = report_of(events)
    assert report["clientCapabilities"]["session"]["configOptions"] == {"boolean": {}}
    assert {o["id"]: o["currentValue"] for o in report["configOptions"]} == {
        "model": "small",
        "effort": "low",
        "tier": "fast",
        "web": True,
    }
    assert of(events, ConfigOptionsEvent)[-1].config_options == state.config_options


# --- item 5: a client system prompt ---------------------------------------------------------


def test_system_prompt_goes_to_every_session_the_agent_opens(
    conversations: MakeConversation,
    fake_agent: Any,
    bounded: Any,
    check_log: Any,
    store_path: Path,
    tmp_path: Path,
) -> None:
    caps: dict[str, Any] = {"resume": {}, "systemPrompt": {"override": {}}}
    scenario = Scenario("instructed", session_capabilities=caps)
    scenario.turn().report().stop()
    argv = fake_agent(scenario, state_dir=tmp_path / "agent-state")
    conversation = conversations(argv, system_prompt="Be terse.", system_prompt_mode="override")
    bounded(conversation.run, "who are you?", timeout=20)
    told = [{"type": "text", "text": "Be terse."}]
    report = report_of(check_log(conversation))
    assert (report["systemPrompt"], report["systemPromptMode"]) == (told, "override")
    conversation.close()

    again = Conversation.resume(conversation.id, store=store_path)  # a new agent process
    try:
        bounded(again.run, "and now?", timeout=20)
        events = check_log(again)
    finally:
        again.close()
    sessions = of(events, SessionEvent)
    assert [(s.kind, s.system_prompt, s.system_prompt_mode) for s in sessions] == [
        ("session_started", told, "override"),
        ("session_resumed", told, "override"),  # given again, and recorded again
    ]
    assert report_of(events)["systemPrompt"] == told


def test_system_prompt_the_agent_cannot_take_fails_the_turn_not_silently(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    append_only = Scenario("append-only", session_capabilities={"systemPrompt": {}})
    for agent, mode in ((Scenario("plain"), "append"), (append_only, "override")):
        conversation = conversations(
            fake_agent(agent), system_prompt="Be terse.", system_prompt_mode=mode
        )
        with pytest.raises(CapabilityMissing):
            bounded(conversation.run, "hi", timeout=20)
        events = check_log(conversation)
        assert not of(events, SessionEvent)  # no session ran without its instructions
        assert [e.code for e in of(events, ErrorEvent)] == ["capability_missing"]
    with pytest.raises(UsageError):
        conversations(fake_agent(Scenario("plain")), system_prompt="x", system_prompt_mode="y")


def test_system_prompt_from_the_cli_and_the_rest_api(
    fake_agent: Any, workspace: Path, store_path: Path
) -> None:
    scenario = Scenario("instructed", session_capabilities={"systemPrompt": {}})
    scenario.turn().report().stop()
    argv = fake_agent(scenario)
    told = [{"type": "text", "text": "Answer in French."}]

    command = [sys.executable, "-m", "acphost.cli", "run", "--command", shlex.join(argv)]
    options = ["--cwd", str(workspace), "--store", ":memory:", "--json"]
    done = subprocess.run(
        [*command, *options, "--system-prompt", "Answer in French.", "go"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    events = [parse_event(line) for line in lines if "kind" in line]
    assert of(events, SessionEvent)[0].system_prompt == told
    assert report_of(events)["systemPrompt"] == told

    with server_and_client(store_path) as (_server, client):
        body = {
            "command": argv[0],
            "args": argv[1:],
            "workspace": str(workspace),
            "system_prompt": "Answer in French.",
            "message": "go",
        }
        created = client.post("/api/conversations", json=body)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        wait_idle(client, cid)
        page = client.get(f"/api/conversations/{cid}/events").json()
    events = [parse_event(e) for e in page["events"]]
    session = of(events, SessionEvent)[0]
    assert (session.system_prompt, session.system_prompt_mode) == (told, "append")
    assert report_of(events)["systemPromptMode"] == "append"


# --- item 6: $/cancel_request when acphost gives up on a request ------------------------------


def test_a_request_acphost_gives_up_on_is_cancelled_and_recorded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    options = [select_option("model", "Model", ["small", "large"], category="model")]
    scenario = Scenario(
        "slow-options",
        config_options=options,
        method_delays={"session/set_config_option": 30},
    )
    scenario.turn().report().stop()
    agent = ACPAgent(fake_agent(scenario), request_timeout=0.5)
    conversation = conversations(agent)
    bounded(conversation.start, timeout=20)
    with pytest.raises(RequestTimeout) as raised:
        bounded(conversation.set_config_option, "model", "large", timeout=20)
    assert "$/cancel_request" in raised.value.message

    bounded(conversation.run, "report", timeout=20)
    events = check_log(conversation)
    # the agent was told, and stopped at once (the turn after ran normally)
    assert report_of(events)["cancelledRequests"] == ["session/set_config_option"]
    (gave_up,) = of(events, ErrorEvent)  # the log says what happened, and what was said
    assert (gave_up.code, gave_up.details["method"]) == ("timeout", "session/set_config_option")
    assert conversation.state.model == "small"
    assert not of(events, RawEvent)  # its late answer (-32800) was expected, not a stray


# --- item 7: subagents (unstable, opt-in) ----------------------------------------------------


def _subagent_scenario() -> Scenario:
    child_call = {
        "sessionUpdate": "tool_call",
        "toolCallId": "t1",  # the parent's id space is not the child's
        "title": "Run the failing test",
        "status": "pending",
    }
    return (
        Scenario("delegating")
        .turn()
        .report()
        .text("Delegating. ")
        .subagent("child-1", name="test-investigator", task="Find the failing test")
        .raw_update(child_call, session_id="child-1")
        .permission("t1", title="Run pytest", session_id="child-1", echo_result=True)
        .subagent_state("child-1", "completed")
        .text("Done.")
        .stop()
    )


def test_subagent_sessions_are_recorded_and_their_permissions_decided(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    asked: list[str] = []

    def policy(request: Any) -> bool:
        asked.append(request.session_id)
        return True

    agent = ACPAgent(fake_agent(_subagent_scenario()), subagents=True)
    conversation = conversations(agent, permission=policy)
    bounded(conversation.run, "fix it", timeout=20)
    events = check_log(conversation)

    assert report_of(events)["clientCapabilities"]["subagents"] == {}
    spawned, ended = of(events, SubagentEvent)
    assert (spawned.subagent_session_id, spawned.name, spawned.state) == (
        "child-1",
        "test-investigator",
        "running",
    )
    assert spawned.parent_session_id == conversation.state.session_id
    assert (ended.state, ended.task) == ("completed", "Find the failing test")  # merged
    (update,) = of(events, SubagentUpdateEvent)
    assert (update.subagent_session_id, update.update_kind) == ("child-1", "tool_call")
    assert "t1" not in conversation.state.tool_calls  # not the parent's tool call

    assert asked == ["child-1"]  # routed to the policy, not refused
    (request,) = of(events, PermissionRequestedEvent)
    assert (request.session_id, request.title) == ("child-1", "Run pytest")
    texts = [m.text for m in of(events, AgentMessageEvent)]
    assert texts[-2:] == ["selected:allow_once", "Done."]  # what the subagent was told
    assert conversation.state.subagents["child-1"].state == "completed"
    shown = rendered(events)
    assert "↳ subagent test-investigator: Find the failing test" in shown
    assert "permission requested: Run pytest (subagent child-1)" in shown
    assert "↳ subagent test-investigator completed" in shown


def test_without_the_opt_in_a_subagents_permission_request_is_refused_and_recorded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(_subagent_scenario()), permission="allow")
    bounded(conversation.run, "fix it", timeout=20)
    events = check_log(conversation)
    assert "subagents" not in report_of(events)["clientCapabilities"]
    assert not of(events, PermissionRequestedEvent)  # unknown session: answered, not asked
    (refused,) = [e for e in of(events, ErrorEvent) if e.code == "protocol_error"]
    assert refused.details["request"]["params"]["sessionId"] == "child-1"


def test_interrupting_cancels_a_subagents_pending_permission(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    """No request is left hanging: the parent's cancel answers its subagents' too."""
    scenario = (
        Scenario("stuck-child", after_last_turn="end_turn")
        .turn()
        .subagent("child-1")
        .permission("t1", session_id="child-1", save_as="outcome")
        .sleep(30)
        .stop()
        .turn()
        .report()
        .stop()
    )
    agent = ACPAgent(fake_agent(scenario), subagents=True)
    asked = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, PermissionRequestedEvent):
            asked.set()

    conversation = conversations(agent, permission="ask", callbacks=[on_event], cancel_grace=5)
    runner = threading.Thread(target=conversation.run, args=("go",), daemon=True)
    runner.start()
    assert asked.wait(20)
    conversation.interrupt()
    runner.join(20)
    assert not runner.is_alive()
    bounded(conversation.run, "what happened?", timeout=20)
    events = check_log(conversation)
    (decided,) = of(events, PermissionDecidedEvent)
    assert (decided.decision, decided.decided_by) == ("cancelled", "cancel")
    assert of(events, TurnEndedEvent)[0].stop_reason == "cancelled"
    # the agent heard the cancel at once and was not stopped: same session, outcome told
    assert [e.kind for e in of(events, SessionEvent)] == ["session_started"]
    assert report_of(events)["vars"]["outcome"] == "cancelled"


# --- item 7: session/fork and session/set_title (unstable) ----------------------------------


def test_fork_starts_a_new_conversation_from_this_ones_context(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any, tmp_path: Path
) -> None:
    caps: dict[str, Any] = {"resume": {}, "fork": {}}
    scenario = Scenario("forkable", session_capabilities=caps, after_last_turn="end_turn")
    scenario.turn().text("noted").stop().turn().report().stop()
    argv = fake_agent(scenario, state_dir=tmp_path / "agent-state")
    original = conversations(argv, permission="allow")
    bounded(original.run, "remember blue", timeout=20)
    parent_session = original.state.session_id
    assert parent_session is not None

    fork = original.fork()
    try:
        bounded(fork.run, "what do you remember?", timeout=20)
        events = check_log(fork)
    finally:
        fork.close()
    assert fork.id != original.id
    (session,) = of(events, SessionEvent)
    assert session.kind == "session_forked"
    assert session.session_id != parent_session
    assert parent_session in session.reason
    report = report_of(events)
    assert report["vars"]["forked_from"] == parent_session
    assert report["historyLength"] >= 2  # the parent's turn came along
    assert original.state.session_id == parent_session  # the original goes on unchanged

    plain = conversations(fake_agent(Scenario("no-fork")))
    bounded(plain.run, "hi", timeout=20)
    no_fork = plain.fork()
    try:
        with pytest.raises(CapabilityMissing):
            bounded(no_fork.run, "hi", timeout=20)
    finally:
        no_fork.close()
    with pytest.raises(UsageError):
        conversations(fake_agent(Scenario("fresh"))).fork()  # no session yet


def test_set_title_names_the_conversation_and_tells_the_agent(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    caps: dict[str, Any] = {"setTitle": {}}
    scenario = Scenario("titled", session_capabilities=caps)
    scenario.turn().report().stop()
    conversation = conversations(fake_agent(scenario))
    conversation.set_title("Before any session")  # only ours: no agent to tell yet
    bounded(conversation.run, "first prompt", timeout=20)
    assert report_of(check_log(conversation))["title"] == "first prompt"  # the agent's own
    bounded(conversation.set_title, "Investigate OAuth timeout", timeout=20)
    bounded(conversation.run, "report", timeout=20)
    events = check_log(conversation)
    titles = [(e.source, e.title) for e in of(events, SessionInfoEvent)]
    assert titles[0] == ("user", "Before any session")  # the first prompt made none
    assert ("user", "Investigate OAuth timeout") in titles
    assert titles[-1] == ("agent", "Investigate OAuth timeout")  # it confirmed
    assert report_of(events)["title"] == "Investigate OAuth timeout"
    assert conversation.state.title == "Investigate OAuth timeout"
    stored = conversation.store.get_conversation(conversation.id)
    assert stored is not None
    assert stored.title == "Investigate OAuth timeout"
    with pytest.raises(UsageError):
        conversation.set_title("  ")
