"""Elicitation end to end: the fake agent (a real subprocess) asks, the conversation records,
routes and answers (a callback, a person via answer_elicitation, the decline policy, a cancel)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from acphost.conversation import Conversation, ElicitationRequest
from acphost.errors import InvalidElicitationAnswer, RequestTimeout, UsageError
from acphost.events import (
    AgentMessageEvent,
    ElicitationAnsweredEvent,
    ElicitationCompletedEvent,
    ElicitationRequestedEvent,
    Event,
    TurnEndedEvent,
    TurnStalledEvent,
)
from acphost.testing import Scenario

MakeConversation = Callable[..., Conversation]

FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Your name", "minLength": 1},
        "level": {"type": "string", "enum": ["junior", "senior"], "default": "senior"},
        "years": {"type": "integer", "minimum": 0},
        "remote": {"type": "boolean"},
    },
    "required": ["name", "level"],
}
URL = "https://auth.example.com/connect?elicitationId=gh-1"


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def echoed(events: list[Event]) -> dict[str, Any]:
    """What the fake agent was told: it echoes the answer as its message."""
    text = of(events, AgentMessageEvent)[-1].text
    answer: dict[str, Any] = json.loads(text)
    return answer


def form_scenario(**step: Any) -> Scenario:
    return (
        Scenario("form")
        .turn()
        .elicitation("Tell me about you", FORM, tool_call_id="t1", echo_result=True, **step)
        .stop()
    )


def test_a_callback_fills_the_form_and_the_agent_is_told(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    asked: list[ElicitationRequest] = []

    def fill(request: ElicitationRequest) -> dict[str, Any]:
        asked.append(request)
        return {"action": "accept", "content": {"name": "Ada", "level": "senior", "years": 3}}

    conversation = conversations(fake_agent(form_scenario()), elicitation=fill)
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    [request] = asked
    assert (request.mode, request.message, request.tool_call_id) == (
        "form",
        "Tell me about you",
        "t1",
    )
    assert request.requested_schema == FORM
    [requested] = of(events, ElicitationRequestedEvent)
    assert requested.request_id == request.request_id
    assert (requested.source, requested.mode, requested.requested_schema) == ("agent", "form", FORM)
    [answered] = of(events, ElicitationAnsweredEvent)
    assert (answered.action, answered.answered_by) == ("accept", "callback")
    assert answered.source == "user"
    assert answered.content == {"name": "Ada", "level": "senior", "years": 3}
    assert echoed(events) == {"action": "accept", "content": answered.content}
    assert requested.seq < answered.seq < of(events, AgentMessageEvent)[-1].seq
    assert conversation.state.pending_elicitations == {}


def test_asked_a_person_answers_and_a_bad_answer_is_refused(
    conversations: MakeConversation,
    fake_agent: Any,
    bounded: Any,
    check_log: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    conversation: Conversation
    refused: list[InvalidElicitationAnswer] = []
    pending: list[list[str]] = []

    def answer(event: Event) -> None:
        if isinstance(event, ElicitationRequestedEvent):
            pending.append(list(conversation.state.pending_elicitations))
            with pytest.raises(InvalidElicitationAnswer) as bad:
                conversation.answer_elicitation(
                    event.request_id, "accept", {"level": "lead", "years": 1.5}
                )
            refused.append(bad.value)
            conversation.answer_elicitation(
                event.request_id, "accept", {"name": "Grace", "level": "junior", "remote": True}
            )

    caplog.set_level(logging.DEBUG, logger="acphost")
    conversation = conversations(fake_agent(form_scenario()), permission="ask", callbacks=[answer])
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    [requested] = of(events, ElicitationRequestedEvent)
    assert pending == [[requested.request_id]]
    [error] = refused
    assert error.code == "invalid_elicitation_answer"
    assert error.problems == [
        "'name' is required",
        "'level' must be one of junior, senior",
        "'years' must be an integer",
    ]
    [answered] = of(events, ElicitationAnsweredEvent)
    assert (answered.action, answered.answered_by, answered.source) == ("accept", "user", "user")
    assert echoed(events)["content"] == {"name": "Grace", "level": "junior", "remote": True}
    assert "Grace" not in caplog.text  # what the user entered is in the log, never in logs
    assert requested.request_id in caplog.text  # the waiting request says how to answer
    with pytest.raises(UsageError):
        conversation.answer_elicitation(requested.request_id, "decline")


def test_with_nobody_to_ask_it_is_declined_at_once_with_the_reason(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(fake_agent(form_scenario()))  # permission="deny"
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    [requested] = of(events, ElicitationRequestedEvent)
    [answered] = of(events, ElicitationAnsweredEvent)
    assert answered.request_id == requested.request_id
    assert (answered.action, answered.answered_by, answered.source) == (
        "decline",
        "policy",
        "policy",
    )
    assert "decline" in answered.reason
    assert echoed(events) == {"action": "decline"}


def test_an_interrupt_cancels_a_pending_elicitation(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation: Conversation

    def stop(event: Event) -> None:
        if isinstance(event, ElicitationRequestedEvent):
            conversation.interrupt()

    scenario = Scenario("form").turn().elicitation("Name?", FORM).text("after").stop()
    conversation = conversations(fake_agent(scenario), permission="ask", callbacks=[stop])
    ended = bounded(conversation.run, "go", timeout=30)
    assert isinstance(ended, TurnEndedEvent)
    assert ended.stop_reason == "cancelled"
    events = check_log(conversation)
    [answered] = of(events, ElicitationAnsweredEvent)
    assert (answered.action, answered.answered_by, answered.source) == ("cancel", "cancel", "host")
    assert answered.seq < ended.seq
    assert conversation.state.pending_elicitations == {}
    assert conversation.state.status == "paused"


def test_a_url_is_consented_to_then_completed_by_the_agent(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    scenario = (
        Scenario("url")
        .turn()
        .elicitation("Authorize GitHub", url=URL, elicitation_id="gh-1", complete=True)
        .notify("elicitation/complete", {"elicitationId": "gh-1"})  # completed already
        .text("done")
        .stop()
    )
    asked: list[ElicitationRequest] = []

    def consent(request: ElicitationRequest) -> str:
        asked.append(request)
        return "accept"

    conversation = conversations(fake_agent(scenario), elicitation=consent)
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    assert [(r.mode, r.url, r.elicitation_id) for r in asked] == [("url", URL, "gh-1")]
    [requested] = of(events, ElicitationRequestedEvent)
    assert (requested.mode, requested.url, requested.elicitation_id) == ("url", URL, "gh-1")
    [answered] = of(events, ElicitationAnsweredEvent)
    assert (answered.action, answered.content) == ("accept", None)
    first, again = of(events, ElicitationCompletedEvent)
    assert (first.request_id, first.known) == (requested.request_id, True)
    assert (again.request_id, again.known) == (None, False)  # ignored, but recorded
    assert conversation.state.open_url_elicitations == {}


def test_a_stalled_turn_names_the_elicitation_it_waits_for(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation: Conversation

    def answer_when_stalled(event: Event) -> None:
        if isinstance(event, TurnStalledEvent):
            for request_id in event.pending_elicitations:
                conversation.answer_elicitation(request_id, "cancel")

    conversation = conversations(
        fake_agent(form_scenario()),
        elicitation="ask",
        stall_timeout=1.0,
        callbacks=[answer_when_stalled],
    )
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    [stalled] = of(events, TurnStalledEvent)
    [answered] = of(events, ElicitationAnsweredEvent)
    assert stalled.pending_elicitations == [answered.request_id]
    assert (answered.action, answered.answered_by) == ("cancel", "user")
    assert echoed(events) == {"action": "cancel"}


def test_the_capability_is_advertised_and_a_policy_must_be_known(
    conversations: MakeConversation, fake_agent: Any, bounded: Any
) -> None:
    scenario = Scenario("report").turn().report().stop()
    conversation = conversations(fake_agent(scenario))
    bounded(conversation.run, "go", timeout=30)
    report = json.loads(conversation.state.messages[-1].text)
    assert report["clientCapabilities"]["elicitation"] == {"form": {}, "url": {}}
    with pytest.raises(ValueError, match="elicitation policy"):
        conversations(fake_agent(scenario), elicitation="allow")


def test_a_malformed_request_is_refused_invalid_params_and_recorded(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    bad = {"mode": "url", "message": "Open this", "url": URL}  # no elicitationId
    scenario = Scenario("bad").turn().request("elicitation/create", bad, echo_result=True).stop()
    conversation = conversations(fake_agent(scenario), permission="ask")
    bounded(conversation.run, "go", timeout=30)
    events = check_log(conversation)
    assert of(events, ElicitationRequestedEvent) == []
    [error] = [e for e in events if e.kind == "error"]
    assert "elicitationId" in error.message
    told = of(events, AgentMessageEvent)[-1].text
    assert told.startswith("error: Invalid params for elicitation/create")
    assert conversation.state.pending_elicitations == {}


def test_a_turn_that_times_out_cancels_the_question_and_the_agent_hears_it(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, check_log: Any
) -> None:
    conversation = conversations(
        fake_agent(form_scenario()), permission="ask", turn_timeout=0.5, cancel_grace=30
    )
    with pytest.raises(RequestTimeout):
        bounded(conversation.run, "go", timeout=20)
    events = check_log(conversation)
    [answered] = of(events, ElicitationAnsweredEvent)
    assert (answered.action, answered.answered_by, answered.source) == ("cancel", "cancel", "host")
    # the agent was told at once: it ended its turn, not left waiting to be killed (30 s)
    ended = of(events, TurnEndedEvent)[-1]
    assert (ended.stop_reason, ended.error_code) == ("cancelled", "timeout")
    assert answered.seq < ended.seq


def test_a_resumed_conversation_keeps_the_policy_it_was_given(
    conversations: MakeConversation, fake_agent: Any, bounded: Any, store_path: Any
) -> None:
    first = conversations(fake_agent(form_scenario()), elicitation="ask", permission="deny")
    first.close()
    again: Conversation

    def answer(event: Event) -> None:
        if isinstance(event, ElicitationRequestedEvent):
            again.answer_elicitation(event.request_id, "decline")

    again = Conversation.resume(first.id, store=store_path, callbacks=[answer])
    try:
        bounded(again.run, "go", timeout=30)
        [answered] = of(list(again.state.events), ElicitationAnsweredEvent)
    finally:
        again.close()
    assert answered.answered_by == "user"  # asked, as it was given: not the permission's deny


WIDE = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"anyOf": [{"const": "a"}, {"const": "b"}]}},
        "plan": {"type": "string", "oneOf": [{"const": "x", "title": "X"}]},
        "when": {"type": "string", "format": "date"},
    },
}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"email": "nobody"}, "'email' must be a valid email"),
        ({"code": "abc"}, "'code' must match ^[A-Z]{3}$"),
        ({"code": "ABCD"}, "'code' must be at most 3 characters"),
        ({"ratio": 2}, "'ratio' must be at most 1"),
        ({"ratio": True}, "'ratio' must be a number"),
        ({"tags": ["a", "c"]}, "'tags' may only hold a, b"),
        ({"plan": "y"}, "'plan' must be one of x"),
        ({"when": "June"}, "'when' must be a valid date"),
        ({"extra": 1}, "'extra' is not a field of this form"),
    ],
)
def test_form_content_is_checked_field_by_field(content: dict[str, Any], problem: str) -> None:
    request = ElicitationRequest("r", "form", "?", WIDE)
    with pytest.raises(InvalidElicitationAnswer) as raised:
        request.respond("accept", content)
    assert raised.value.problems == [problem]
    good = {"email": "a@b.io", "code": "ABC", "ratio": 0.5, "tags": ["b"], "plan": "x"}
    assert request.respond("accept", good) == {"action": "accept", "content": good}
    assert request.respond("decline", content) == {"action": "decline"}  # content ignored
