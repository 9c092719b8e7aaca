"""The translator's trusted constructor builds exactly what pydantic would."""

from __future__ import annotations

from typing import Any

import pytest

from acphost import events
from acphost.conversation._translate import construct

SAMPLES: dict[str, Any] = {
    "commands": [{"name": "c"}],
    "config_options": [{"id": "o"}],
    "kind": "session_started",
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
