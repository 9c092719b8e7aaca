"""The translator's trusted constructor builds exactly what pydantic would."""

from __future__ import annotations

from typing import Any

import pytest

from acphost import events
from acphost.acp.messages import SessionUpdate
from acphost.conversation._construct import construct
from acphost.conversation._state import ConversationState
from acphost.conversation._translate import Translator

SAMPLES: dict[str, Any] = {
    "commands": [{"name": "c"}],
    "config_options": [{"id": "o"}],
    "idle_s": 61.5,
    "stalled_s": 2.5,
    "kind": "session_started",
    "action": "accept",
    "status": "idle",
}

EVENT_CLASSES = [
    cls
    for name in events.__all__
    if isinstance(cls := getattr(events, name), type)
    and issubclass(cls, events.EventBase)
    and cls is not events.EventBase
]


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
def test_construct_matches_validation(cls: type[events.EventBase]) -> None:
    fields = {
        name: SAMPLES.get(name, "x")
        for name, field in cls.model_fields.items()
        if field.is_required()
    }
    fields.update(seq=7, turn=2, id="e1", ts=1.5)
    built = construct(cls, dict(fields))
    assert built == cls(**fields)
    assert built.model_dump_json() == cls(**fields).model_dump_json()
    assert built.model_fields_set == set(fields)
    with pytest.raises(Exception, match="frozen"):
        built.seq = 8  # type: ignore[misc]


def test_defaults_are_fresh_objects_and_missing_required_fields_fail() -> None:
    one = construct(events.UserMessageEvent, {"text": "a"})
    two = construct(events.UserMessageEvent, {"text": "b"})
    assert one.content == []
    assert one.content is not two.content
    assert one.id != two.id
    with pytest.raises(TypeError, match="text"):
        construct(events.UserMessageEvent, {})


def usage_event(update: dict[str, Any]) -> events.UsageEvent:
    tr = Translator(ConversationState("c"))
    tr.message(SessionUpdate("s", {"sessionUpdate": "usage_update", **update}))
    (event,) = tr.take()
    assert isinstance(event, events.UsageEvent)
    return event


def test_usage_is_built_trusted_only_when_its_fields_have_their_types() -> None:
    typed = usage_event({"used": 5, "size": 10, "cost": {"amount": 0.5, "currency": "USD"}})
    assert (typed.used, typed.size, typed.cost, typed.currency) == (5, 10, 0.5, "USD")
    loose = usage_event({"used": "5", "size": 10.0, "cost": {"amount": 1}})
    assert (loose.used, loose.size, loose.cost) == (5, 10, 1.0)  # pydantic's conversions
    assert type(loose.cost) is float
    assert loose.model_dump_json() == events.UsageEvent(**loose.model_dump()).model_dump_json()


def test_a_streamed_message_is_one_event_with_its_text_joined() -> None:
    tr = Translator(ConversationState("c"))
    for text in ("hel", "lo"):
        chunk = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
        tr.message(SessionUpdate("s", chunk))
    tr.flush()
    (event,) = [e for e in tr.take() if isinstance(e, events.AgentMessageEvent)]
    assert event == events.AgentMessageEvent(**event.model_dump())
    assert event.text == "hello"
