"""Honest records: the log keeps what the agent sent, says who sent it, and nothing twice.

Each test drives a real fake-agent subprocess through a conversation and reads the log back
from the store (``check_log`` also checks that the store holds exactly the live log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acphost.acp.messages import SessionUpdate
from acphost.conversation import Conversation, ConversationState
from acphost.conversation._items import Token
from acphost.conversation._translate import Translator, short_title
from acphost.errors import AgentRequestError
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
    ThoughtEvent,
    ToolCallEvent,
    TurnEndedEvent,
    UsageEvent,
    UserMessageEvent,
)
from acphost.store import SQLiteStore
from acphost.testing import Scenario, select_option, session_modes

MakeConversation = Callable[..., Conversation]


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


@pytest.fixture
def resumed(store_path: Path) -> Iterator[Callable[..., Conversation]]:
    """``resumed(id)``: Conversation.resume from this test's store, closed after."""
    made: list[Conversation] = []

    def resume(conversation_id: str, **options: Any) -> Conversation:
        conversation = Conversation.resume(conversation_id, store=store_path, **options)
        made.append(conversation)
        return conversation

    yield resume
    for conversation in made:
        conversation.close()


# --- issue 12 item 5: history an agent replays on resume is not a new turn's output ----------


@pytest.mark.parametrize("how", ["resume", "load"])
def test_history_replayed_on_reattach_is_recorded_as_replay(
    conversations: MakeConversation,
    resumed: Any,
    fake_agent: Any,
    tmp_path: Path,
    bounded: Any,
    check_log: Any,
    how: str,
) -> None:
    settings: dict[str, Any] = {"replay_on_resume": True}  # as fast-agent does
    if how == "load":
        settings["session_capabilities"] = {"list": {}}  # no resume: load it is
    scenario = Scenario("memory", after_last_turn="echo", **settings)
    argv = fake_agent(scenario, state_dir=tmp_path / "agent-state")
    conversation = conversations(argv)
    bounded(conversation.run, "first", timeout=20)
    conversation.close()

    again = resumed(conversation.id)
    bounded(again.run, "second", timeout=20)
    events = check_log(again)
    session = of(events, SessionEvent)[-1]
    assert session.kind == ("session_resumed" if how == "resume" else "session_loaded")
    answers = [m.text for m in of(events, AgentMessageEvent)]
    assert answers == ["first", "second"]  # the replayed "first" is no answer of turn 2
    assert [m.text for m in again.state.messages] == ["first", "first", "second", "second"]

    replayed = [e for e in of(events, RawEvent) if e.replay]
    assert [(r.update_kind, r.turn) for r in replayed] == [
        ("user_message_chunk", None),
        ("agent_message_chunk", None),
    ]
    assert replayed[1].data == {
        "sessionUpdate": "agent_message_chunk",
        "content": {"type": "text", "text": "first"},
    }
    assert events.index(replayed[-1]) < events.index(session)  # before the answer, as sent


# --- issue 12 item 7: unknown fields of known update kinds are kept --------------------------

EXTRA = {"x_vendor": {"kept": True}}
META = {"vendor.example/trace": "abc"}


def _noisy_scenario() -> Scenario:
    modes = session_modes(["ask", "code"])
    model = select_option("model", "Model", ["small", "large"], category="model")
    return (
        Scenario("noisy", modes=modes, config_options=[model])
        .turn()
        .raw_update(
            {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "Hel"},
            }
        )
        .raw_update(
            {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "lo", "annotations": {"priority": 1}},
                **EXTRA,
            },
            meta=META,
        )
        .raw_update(
            {
                "sessionUpdate": "agent_thought_chunk",
                "content": {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            }
        )
        .raw_update(
            {
                "sessionUpdate": "tool_call",
                "toolCallId": "t1",
                "title": "Read",
                "name": "read_file",
                **EXTRA,
            },
            meta=META,
        )
        .raw_update(
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": "t1",
                "status": "completed",
                "x_more": 1,
            }
        )
        .raw_update({"sessionUpdate": "plan", "entries": [], **EXTRA}, meta=META)
        .raw_update(
            {
                "sessionUpdate": "usage_update",
                "used": 10,
                "size": 100,
                "cost": {"amount": 0.5, "currency": "USD", "x_breakdown": [1]},
                **EXTRA,
            }
        )
        .raw_update(
            {"sessionUpdate": "available_commands_update", "availableCommands": [], **EXTRA}
        )
        .raw_update({"sessionUpdate": "current_mode_update", "currentModeId": "code", **EXTRA})
        .raw_update({"sessionUpdate": "config_option_update", "configOptions": [], **EXTRA})
        .raw_update({"sessionUpdate": "session_info_update", "title": "T", **EXTRA})
        .stop(meta=META)
    )


def test_unknown_fields_of_known_updates_are_kept(
    conversations: MakeConversation, resumed: Any, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(_noisy_scenario()))
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)  # the store holds exactly this, extras included

    (message,) = of(events, AgentMessageEvent)
    assert message.text == "Hello"
    second_chunk = {
        "sessionUpdate": "agent_message_chunk",
        "content": {"type": "text", "text": "lo", "annotations": {"priority": 1}},
        **EXTRA,
        "_meta": META,
    }
    assert message.raw_chunks == [{"at": 3, "chunk": second_chunk}]
    (thought,) = of(events, ThoughtEvent)
    assert thought.raw_chunks is not None
    assert thought.raw_chunks[0]["chunk"]["content"]["type"] == "image"

    announced, done = of(events, ToolCallEvent)
    assert announced.extra == EXTRA
    assert (announced.name, done.name) == ("read_file", "read_file")  # a field (issue 16)
    assert announced.meta == META
    assert done.extra == {**EXTRA, "x_more": 1}  # merged like the fields
    assert of(events, PlanEvent)[0].extra == {**EXTRA, "_meta": META}
    usage = of(events, UsageEvent)[0]
    assert (usage.cost, usage.currency) == (0.5, "USD")
    assert usage.extra == {**EXTRA, "cost": {"amount": 0.5, "currency": "USD", "x_breakdown": [1]}}
    for cls in (CommandsEvent, ModeChangedEvent, ConfigOptionsEvent, SessionInfoEvent):
        assert of(events, cls)[-1].extra == EXTRA, cls
    assert of(events, TurnEndedEvent)[0].extra == {"_meta": META}  # the prompt answer's
    assert not [e for e in of(events, RawEvent) if e.method == "session/update"]

    conversation.close()
    again = resumed(conversation.id)  # read back from the store: nothing lost on the way
    assert [e.model_dump() for e in again.state.events] == [
        e.model_dump() for e in conversation.state.events
    ]


def test_an_update_that_is_not_an_object_is_kept_raw(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    garbage = {"sessionId": "s", "update": ["not", "an", "object"]}
    scenario = Scenario("garbage").turn().notify("session/update", garbage).stop()
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=20)
    (raw,) = of(check_log(conversation), RawEvent)
    assert raw.update_kind == "<invalid>"
    assert raw.data["value"] == ["not", "an", "object"]  # what the agent sent, not a stand-in


# --- issue 12 item 8: user_message_chunk is typed --------------------------------------------


def test_user_message_chunks_become_a_user_message_from_the_agent(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (  # as vibe does every turn: the prompt relayed back, in chunks
        Scenario("relay").turn().user_text("say hello").user_text(" twice").text("done").stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "say hello twice", timeout=20)
    events = check_log(conversation)
    sent, relayed = of(events, UserMessageEvent)
    assert (sent.source, sent.text) == ("user", "say hello twice")
    assert (relayed.source, relayed.text, relayed.turn) == ("agent", "say hello twice", 1)
    assert not [e for e in of(events, RawEvent) if e.update_kind == "user_message_chunk"]
    # the agent's echo is not a second message of the conversation
    assert [(m.source, m.text) for m in conversation.state.messages] == [
        ("user", "say hello twice"),
        ("agent", "done"),
    ]


# --- issue 12 item 9: the agent's error detail is kept ---------------------------------------


def test_a_failed_reattach_keeps_the_agents_error_data(
    conversations: MakeConversation, resumed: Any, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    detail = {"reason": "session file is corrupt", "path": "/tmp/x.json"}
    failing = {"session/resume": {"code": -32603, "message": "Internal error", "data": detail}}
    scenario = Scenario("broken-resume", after_last_turn="echo", method_errors=failing)
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "first", timeout=20)
    conversation.close()

    again = resumed(conversation.id)
    bounded(again.run, "second", timeout=20)
    session = of(check_log(again), SessionEvent)[-1]
    assert (session.kind, session.context_restored) == ("session_restarted", False)
    assert "Internal error" in session.reason
    assert session.error is not None
    assert session.error["data"] == detail
    assert (session.error["code"], session.error["rpc_code"]) == ("agent_request_failed", -32603)


def test_a_failed_turn_keeps_the_agents_error_data(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    detail = {"reason": "model overloaded", "retry_after": 30}
    scenario = Scenario("failing").turn().fail("Internal error", data=detail)
    conversation = conversations(fake_agent(scenario), max_retries=0)
    with pytest.raises(AgentRequestError):
        bounded(conversation.run, "go", timeout=20)
    (error,) = of(check_log(conversation), ErrorEvent)
    assert (error.code, error.message) == ("agent_request_failed", "Internal error")
    assert (error.details["rpc_code"], error.details["data"]) == (-32603, detail)


# --- issue 12 item 10: a permission request for another session, or malformed ----------------


def test_permission_requests_for_another_session_or_malformed_are_refused_and_recorded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    option = {"optionId": "yes", "name": "Yes", "kind": "allow_once"}
    foreign = {
        "sessionId": "someone-elses-session",
        "toolCall": {"toolCallId": "t9", "title": "rm -rf /"},
        "options": [option],
    }
    malformed = {"sessionId": "whatever", "toolCall": "not an object", "options": [option]}
    scenario = (
        Scenario("stray-permissions")
        .turn()
        .request("session/request_permission", foreign, echo_result=True)
        .request("session/request_permission", malformed, echo_result=True)
        .permission("t1", title="A real one")
        .stop()
    )
    conversation = conversations(fake_agent(scenario), permission="allow")
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)

    asked = of(events, PermissionRequestedEvent)
    assert [a.tool_call_id for a in asked] == ["t1"]  # only the real one reached the policy
    assert [d.decision for d in of(events, PermissionDecidedEvent)] == ["allow_once"]
    answer = " ".join(m.text for m in of(events, AgentMessageEvent))  # what the agent got
    assert answer.count("error: Invalid params for session/request_permission") == 2, answer
    assert "someone-elses-session" in answer

    refused = [e for e in of(events, ErrorEvent) if e.code == "protocol_error"]
    assert len(refused) == 2
    assert "someone-elses-session" in refused[0].message
    assert refused[0].details["request"]["params"] == foreign
    assert refused[1].details["request"]["params"] == malformed
    assert "toolCall" in refused[1].message


def test_malformed_requests_and_unknown_methods_are_answered_and_recorded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    no_path = {"sessionId": "$session_id", "line": 1}
    scenario = (
        Scenario("stray-requests")
        .turn()
        .request("fs/read_text_file", no_path, echo_result=True)
        .request("vendor/frobnicate", {"x": 1}, echo_result=True)
        .stop()
    )
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    answer = " ".join(m.text for m in of(events, AgentMessageEvent))
    assert "error: Invalid params for fs/read_text_file" in answer
    assert "error: Method not found: vendor/frobnicate" in answer
    refused = [e for e in of(events, ErrorEvent) if e.code == "protocol_error"]
    assert [e.details["request"]["method"] for e in refused] == ["fs/read_text_file"]
    assert refused[0].details["request"]["params"] == no_path
    assert "-32602" in refused[0].hint
    # a method acphost does not offer is no failure of the agent: kept raw (issue 16)
    (unknown,) = of(events, RawEvent)
    assert (unknown.method, unknown.data) == ("vendor/frobnicate", {"x": 1})
    assert unknown.error is not None
    assert "-32601" in unknown.error


# --- issue 13 item 6: titles -----------------------------------------------------------------


def test_title_comes_from_the_first_prompt_unless_the_agent_names_it(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, store_path: Path
) -> None:
    prompt = "Please fix the failing test in parser.py\nand explain what was wrong with it, briefly"
    plain = conversations(fake_agent(Scenario("plain", after_last_turn="echo")))
    bounded(plain.run, prompt, timeout=20)
    bounded(plain.run, "something else", timeout=20)
    title = plain.state.title
    assert title is not None
    assert title.startswith("Please fix the failing test in parser.py")
    assert "\n" not in title
    assert len(title) <= 60
    (info,) = of(list(plain.state.events), SessionInfoEvent)
    assert (info.source, info.turn) == ("host", 1)

    named = Scenario("named").turn().session_info(title="Fix parser test").text("ok").stop()
    by_agent = conversations(fake_agent(named))
    bounded(by_agent.run, prompt, timeout=20)
    assert by_agent.state.title == "Fix parser test"

    given = conversations(fake_agent(Scenario("given", after_last_turn="echo")), title="Mine")
    bounded(given.run, prompt, timeout=20)
    assert not of(list(given.state.events), SessionInfoEvent)  # a title was given: kept

    with SQLiteStore(store_path) as store:
        titles = {r.id: r.title for r in store.list_conversations()}
    assert titles == {plain.id: title, by_agent.id: "Fix parser test", given.id: "Mine"}


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("  Fix   the\tbug  ", "Fix the bug"),
        ("\n\nsecond line first\nthird", "second line first"),
        ("word " * 30, "word word word word word word word word word word word…"),
        ("x" * 100, "x" * 59 + "…"),
        ("   \n  ", None),
    ],
)
def test_short_title(prompt: str, title: str | None) -> None:
    assert short_title(prompt) == title


def test_replayed_history_folds_into_nothing_but_what_the_session_is_now() -> None:
    state = ConversationState("c")
    tr = Translator(state)
    tr.turn = 2
    history: list[dict[str, Any]] = [
        {"sessionUpdate": "tool_call", "toolCallId": "old", "title": "Old", "status": "pending"},
        {"sessionUpdate": "plan", "entries": [{"content": "old plan"}]},
        {"sessionUpdate": "usage_update", "used": 1, "size": 2, "cost": {"amount": 9.0}},
        {"sessionUpdate": "available_commands_update", "availableCommands": [{"name": "x"}]},
        {"sessionUpdate": "current_mode_update", "currentModeId": "code"},
    ]
    for update in history:
        tr.message(SessionUpdate("s", update, replay=True))
    made = [e for e in tr.take() if not isinstance(e, Token)]
    assert [(e.kind, e.turn) for e in made] == [
        ("raw", None),
        ("raw", None),
        ("raw", None),
        ("commands", 2),
        ("mode_changed", 2),
    ]
    assert [e.data for e in made[:3]] == history[:3]  # type: ignore[union-attr]
    assert not state.tool_calls
    assert (state.plan, state.cost) == ([], None)  # history is not counted again
    assert (state.commands, state.mode_id) == ([{"name": "x"}], "code")  # the session now
