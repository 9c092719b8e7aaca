"""Building events acphost typed itself, without pydantic's per-call cost."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined

from acphost.events import EventBase

__all__ = ["E", "construct"]

E = TypeVar("E", bound=EventBase)
"""An event class (what :func:`construct` returns an instance of)."""


@functools.cache
def _plan(cls: type[EventBase]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    """Each field's name, default and default factory, in field order."""
    return tuple(
        (name, field.default, field.default_factory)  # type: ignore[misc]
        for name, field in cls.model_fields.items()
    )


def construct(cls: type[E], fields: dict[str, Any]) -> E:
    """``cls.model_construct(**fields)`` for fields acphost typed itself, without its cost.

    pydantic's ``model_construct`` looks up and copies every default per call, which made it
    the largest single cost of a tool-call storm; this fills the same ``__dict__`` directly.
    """
    values: dict[str, Any] = {}
    for name, default, factory in _plan(cls):
        if name in fields:
            values[name] = fields[name]
        elif factory is not None:
            values[name] = factory()
        elif default is PydanticUndefined:
            raise TypeError(f"{cls.__name__} needs {name!r}")
        else:
            values[name] = default
    event = cls.__new__(cls)
    setattr_ = object.__setattr__
    setattr_(event, "__dict__", values)
    setattr_(event, "__pydantic_fields_set__", set(fields))
    setattr_(event, "__pydantic_extra__", None)
    setattr_(event, "__pydantic_private__", None)
    return event
