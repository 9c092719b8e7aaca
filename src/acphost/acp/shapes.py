"""The few ACP shapes acphost reads itself, checked without the official SDK.

Importing the SDK (``acp``) costs ~40 MB and ~0.5 s, so the hot path (initialize, sessions,
prompts, permission requests) reads the agent's JSON with these small checks instead; the
SDK's typed models are built only when someone asks for them.

A check takes a JSON value and returns it as the SDK would dump its model
(``model_dump(by_alias=True, exclude_none=True)``: known keys only, no nulls) or raises
:class:`Malformed`. As in the SDK's schema, a field is REQUIRED, OPTIONAL (null or absent is
fine, anything else must be valid) or SALVAGED (an invalid value is dropped, the object
stands), invalid items of some arrays are skipped, and ``_meta`` is always salvaged. Unlike
the SDK nothing is coerced (``"5"`` is not a number), so what passes here validates there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from acphost.errors import ProtocolError

__all__ = [
    "CONFIG_OPTIONS",
    "IMPLEMENTATION",
    "INITIALIZE",
    "NEW_SESSION",
    "PERMISSION_KINDS",
    "PERMISSION_OPTION",
    "PERMISSION_REQUEST",
    "PROMPT",
    "SESSION",
    "SET_CONFIG_OPTION",
    "Malformed",
    "read_json",
    "salvage_json",
]

Check: TypeAlias = Callable[[Any], Any]
Mode: TypeAlias = Literal["required", "optional", "salvaged"]
REQUIRED: Mode = "required"
OPTIONAL: Mode = "optional"
SALVAGED: Mode = "salvaged"


class Malformed(ValueError):
    """A JSON value is not the shape the ACP schema gives it; ``path`` says where."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason, path)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.reason}" if self.path else self.reason


def read_json(what: str, check: Check, value: Any) -> Any:
    """``check(value)``; a malformed value is a :class:`ProtocolError` naming ``what``."""
    try:
        return check(value)
    except Malformed as exc:
        raise ProtocolError(
            f"the agent sent a malformed {what}: {exc}",
            hint="it does not match the ACP schema; is the agent up to date?",
        ) from None


def salvage_json(check: Check, value: Any) -> Any:
    """``check(value)``, or None when the value is absent or malformed."""
    if value is None:
        return None
    try:
        return check(value)
    except Malformed:
        return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise Malformed(f"expected a string, got {_kind(value)}")


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Malformed(f"expected a boolean, got {_kind(value)}")


def count(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise Malformed(f"expected a non-negative integer, got {value!r}")


def mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise Malformed(f"expected an object, got {_kind(value)}")


def anything(value: Any) -> Any:
    return value


def one_of(*options: str) -> Check:
    def check(value: Any) -> str:
        if isinstance(value, str) and value in options:
            return value
        raise Malformed(f"expected one of {', '.join(map(repr, options))}, got {value!r}")

    return check


def either(*checks: Check) -> Check:
    """The first check that passes (a union)."""

    def check(value: Any) -> Any:
        errors = []
        for each in checks:
            try:
                return each(value)
            except Malformed as exc:
                errors.append(exc)
        raise errors[0]

    return check


def array(item: Check, *, skip_invalid: bool = False) -> Check:
    """A list whose items pass ``item``; with ``skip_invalid`` the others are dropped."""

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Malformed(f"expected an array, got {_kind(value)}")
        items = []
        for index, each in enumerate(value):
            try:
                items.append(item(each))
            except Malformed as exc:
                if not skip_invalid:
                    raise Malformed(exc.reason, (str(index), *exc.path)) from None
        return items

    return check


def _field_name(alias: str) -> str:
    # the SDK's models also accept their Python field names (populate_by_name)
    return "field_meta" if alias == "_meta" else re.sub(r"(?<!^)([A-Z])", r"_\1", alias).lower()


def record(*fields: tuple[str, Check, Mode]) -> Check:
    """An object with these fields (by JSON name); other keys are dropped, as the SDK does."""
    spec = [(alias, _field_name(alias), check, mode) for alias, check, mode in fields]
    spec.append(("_meta", "field_meta", mapping, SALVAGED))

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Malformed(f"expected an object, got {_kind(value)}")
        out: dict[str, Any] = {}
        for alias, name, each, mode in spec:
            item = value[alias] if alias in value else value.get(name)
            if item is None:
                if mode == REQUIRED:
                    reason = "must not be null" if alias in value else "missing"
                    raise Malformed(reason, (alias,))
                continue
            try:
                out[alias] = each(item)
            except Malformed as exc:
                if mode != SALVAGED:
                    raise Malformed(exc.reason, (alias, *exc.path)) from None
        return out

    return check


def tagged(key: str, shapes: dict[str, Check]) -> Check:
    """A union told apart by ``key`` (a pydantic discriminator)."""

    def check(value: Any) -> Any:
        tag = value.get(key) if isinstance(value, dict) else None
        shape = shapes.get(tag) if isinstance(tag, str) else None
        if shape is None:
            raise Malformed(f"expected {', '.join(map(repr, shapes))}, got {tag!r}", (key,))
        return shape(value)

    return check


# --- the shapes --------------------------------------------------------------------------

IMPLEMENTATION = record(
    ("name", text, REQUIRED), ("title", text, SALVAGED), ("version", text, REQUIRED)
)
"""Checks an ``Implementation`` (name, title, version of a client or agent)."""


def _protocol_version(value: Any) -> int:
    version = count(value)
    if version > 65535:
        raise Malformed(f"expected at most 65535, got {version}")
    return version


INITIALIZE = record(
    ("protocolVersion", _protocol_version, REQUIRED),
    ("agentCapabilities", mapping, SALVAGED),
    ("authMethods", array(anything), OPTIONAL),
    ("agentInfo", IMPLEMENTATION, SALVAGED),
)
"""Checks the agent's answer to ``initialize``."""

_MODE = record(("id", text, REQUIRED), ("name", text, REQUIRED), ("description", text, SALVAGED))
_MODES = record(
    ("currentModeId", text, REQUIRED),
    ("availableModes", array(_MODE, skip_invalid=True), REQUIRED),
)
_CHOICE = record(
    ("value", text, REQUIRED), ("name", text, REQUIRED), ("description", text, SALVAGED)
)
_GROUP = record(
    ("group", text, REQUIRED),
    ("name", text, REQUIRED),
    ("options", array(_CHOICE, skip_invalid=True), REQUIRED),
)
# mode, model, model_config, thought_level, speed, or a newer one (``_x``: a vendor's): as sent
_CATEGORY = either(text, mapping)
_OPTION_FIELDS: tuple[tuple[str, Check, Mode], ...] = (
    ("id", text, REQUIRED),
    ("name", text, REQUIRED),
    ("description", text, SALVAGED),
    ("category", _CATEGORY, SALVAGED),
)
_SELECT = record(
    ("currentValue", text, REQUIRED),
    ("options", either(array(_CHOICE), array(_GROUP)), REQUIRED),
    *_OPTION_FIELDS,
    ("type", one_of("select"), REQUIRED),
)
_BOOLEAN = record(
    ("currentValue", flag, REQUIRED),
    *_OPTION_FIELDS,
    ("type", one_of("boolean"), REQUIRED),
)
CONFIG_OPTIONS = array(tagged("type", {"select": _SELECT, "boolean": _BOOLEAN}), skip_invalid=True)
"""Checks a list of session config options; an invalid option is skipped, not fatal."""

SESSION = record(("modes", _MODES, SALVAGED), ("configOptions", CONFIG_OPTIONS, OPTIONAL))
"""Checks the modes and config options of a session answer."""
"""A ``session/load`` or ``session/resume`` answer."""
NEW_SESSION = record(
    ("sessionId", text, REQUIRED),
    ("modes", _MODES, SALVAGED),
    ("configOptions", CONFIG_OPTIONS, OPTIONAL),
)
"""Checks the agent's answer to ``session/new``."""
SET_CONFIG_OPTION = record(("configOptions", CONFIG_OPTIONS, REQUIRED))
"""Checks the agent's answer to ``session/set_config_option``."""

_USAGE = record(
    ("totalTokens", count, REQUIRED),
    ("inputTokens", count, REQUIRED),
    ("outputTokens", count, REQUIRED),
    ("thoughtTokens", count, SALVAGED),
    ("cachedReadTokens", count, SALVAGED),
    ("cachedWriteTokens", count, SALVAGED),
)
_STOP_REASON = one_of("end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled")
PROMPT = record(("stopReason", _STOP_REASON, REQUIRED), ("usage", _USAGE, SALVAGED))
"""Checks the agent's answer to ``session/prompt`` (stop reason, usage)."""

PERMISSION_KINDS = ("allow_once", "allow_always", "reject_once", "reject_always")
"""The ACP permission option kinds."""
PERMISSION_OPTION = record(
    ("optionId", text, REQUIRED),
    ("name", text, REQUIRED),
    ("kind", one_of(*PERMISSION_KINDS), REQUIRED),
)
"""Checks one permission option the agent offers."""
_TOOL_CALL = record(  # only what the SDK could reject, and the title
    ("toolCallId", text, REQUIRED),
    ("title", text, SALVAGED),
    ("content", array(anything), OPTIONAL),
    ("locations", array(anything), OPTIONAL),
)
PERMISSION_REQUEST = record(
    ("sessionId", text, REQUIRED),
    ("toolCall", _TOOL_CALL, REQUIRED),
    ("options", array(PERMISSION_OPTION), REQUIRED),
)
"""Checks a ``session/request_permission`` request's params."""
