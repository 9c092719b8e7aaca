"""Checking an answer against an elicitation's form: ACP's flat schema of primitives and enums.

A form is an object whose properties are strings (optionally an ``enum`` or titled ``oneOf``
choice, a length, a ``pattern``, a ``format``), numbers, integers (optionally bounded),
booleans, or arrays of choices (multi-select). A type acphost does not know is accepted as is.
Problems name the field and what is wrong, never the value given (it may be personal).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from acphost.errors import InvalidElicitationAnswer

__all__ = ["ACTIONS", "check_response", "choices"]

ACTIONS = ("accept", "decline", "cancel")
"""What an elicitation's answer may do: submit (or consent), refuse, or dismiss it."""


def check_response(
    mode: str, schema: Mapping[str, Any] | None, action: str, content: Any
) -> dict[str, Any]:
    """The ACP response for an answer (``{"action", "content"?}``), or
    :class:`InvalidElicitationAnswer` if it does not fit the request."""
    if action not in ACTIONS:
        raise InvalidElicitationAnswer(
            [f"action must be one of {', '.join(ACTIONS)}, not {action!r}"]
        )
    if action != "accept":
        return {"action": action}  # content is only meaningful on accept (the spec)
    if mode != "form":
        return {"action": "accept"}  # a URL: consent to open it; the interaction is elsewhere
    if content is None:
        content = {}
    if not isinstance(content, Mapping):
        raise InvalidElicitationAnswer(["content must be an object of field values"])
    problems = _problems(schema or {}, content)
    if problems:
        raise InvalidElicitationAnswer(problems)
    return {"action": "accept", "content": dict(content)}


def choices(prop: Mapping[str, Any]) -> list[str] | None:
    """The values a string field (or the items of a multi-select field) may take, if limited."""
    if isinstance(prop.get("enum"), list):
        return [str(v) for v in prop["enum"]]
    titled = prop.get("oneOf") or prop.get("anyOf")
    if isinstance(titled, list):
        return [str(o.get("const")) for o in titled if isinstance(o, Mapping)]
    items = prop.get("items")
    if prop.get("type") == "array" and isinstance(items, Mapping):
        return choices(items)
    return None


def _problems(schema: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    problems = [
        f"{name!r} is required"
        for name in (required if isinstance(required, list) else ())
        if content.get(name) is None
    ]
    for name, value in content.items():
        prop = properties.get(name)
        if prop is None:
            problems.append(f"{name!r} is not a field of this form")
        elif value is not None and isinstance(prop, Mapping):
            problem = _field_problem(prop, value)
            if problem:
                problems.append(f"{name!r} {problem}")
    return problems


def _field_problem(prop: Mapping[str, Any], value: Any) -> str | None:
    kind = prop.get("type")
    if kind == "string":
        return _string_problem(prop, value)
    if kind in ("number", "integer"):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind == "integer" and not float(value).is_integer()):
            return f"must be {'an integer' if kind == 'integer' else 'a number'}"
        return _range_problem(prop, value, "minimum", "maximum", "")
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "array":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "must be a list of choices"
        allowed = choices(prop)
        if allowed is not None and any(v not in allowed for v in value):
            return f"may only hold {', '.join(allowed)}"
        return _range_problem(prop, len(value), "minItems", "maxItems", " choices")
    return None  # a type acphost does not know: the agent checks it


def _string_problem(prop: Mapping[str, Any], value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    allowed = choices(prop)
    if allowed is not None and value not in allowed:
        return f"must be one of {', '.join(allowed)}"
    problem = _range_problem(prop, len(value), "minLength", "maxLength", " characters")
    if problem:
        return problem
    pattern = prop.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                return f"must match {pattern}"
        except re.error:
            pass  # a pattern Python cannot read: the agent checks it
    fmt = prop.get("format")
    if isinstance(fmt, str) and not _fits_format(fmt, value):
        return f"must be a valid {fmt}"
    return None


def _range_problem(
    prop: Mapping[str, Any], size: float, low_key: str, high_key: str, unit: str
) -> str | None:
    low, high = prop.get(low_key), prop.get(high_key)
    if isinstance(low, int | float) and size < low:
        return f"must be at least {low}{unit}"
    if isinstance(high, int | float) and size > high:
        return f"must be at most {high}{unit}"
    return None


def _fits_format(fmt: str, value: str) -> bool:
    try:
        if fmt == "email":
            local, _, domain = value.partition("@")
            return bool(local) and "." in domain
        if fmt == "uri":
            return bool(urlparse(value).scheme)
        if fmt == "date":
            datetime.date.fromisoformat(value)
        elif fmt == "date-time":
            datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
