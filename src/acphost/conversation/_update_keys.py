"""Which keys of an ACP session update each event field carries (the rest is kept as sent,
in ``extra``), and the types a tool call's fields must have to be trusted unchecked."""

from __future__ import annotations

from typing import Any

__all__ = [
    "COST_KEYS",
    "KNOWN_KEYS",
    "TOOL_FIELDS",
    "TOOL_TYPES",
    "extra_keys",
    "usage_typed",
]

# The keys of each update kind that its event's fields carry; the rest go to ``extra``.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    kind: frozenset(("sessionUpdate", *keys))
    for kind, keys in {
        "tool_call": (
            "toolCallId",
            "title",
            "name",
            "kind",
            "status",
            "content",
            "locations",
            "rawInput",
            "rawOutput",
            "_meta",
        ),
        "plan": ("entries",),
        "available_commands_update": ("availableCommands",),
        "current_mode_update": ("currentModeId",),
        "config_option_update": ("configOptions",),
        "session_info_update": ("title", "updatedAt", "_meta"),
        "usage_update": ("used", "size", "cost"),
        "notice": ("severity", "title", "description", "_meta"),
    }.items()
}
KNOWN_KEYS["tool_call_update"] = KNOWN_KEYS["tool_call"]
COST_KEYS = frozenset(("amount", "currency"))
TOOL_TYPES: dict[str, type] = {
    "title": str,
    "name": str,
    "tool_kind": str,
    "status": str,
    "content": list,
    "locations": list,
    "meta": dict,
}
TOOL_FIELDS = {
    "title": "title",
    "name": "name",
    "kind": "tool_kind",
    "status": "status",
    "content": "content",
    "locations": "locations",
    "rawInput": "raw_input",
    "rawOutput": "raw_output",
    "_meta": "meta",
}


def extra_keys(data: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """The keys of an update that its event has no field for, as sent (None: there are none)."""
    if data.keys() <= known:
        return None
    return {key: value for key, value in data.items() if key not in known}


def usage_typed(fields: dict[str, Any]) -> bool:
    """Whether a usage update's fields already have their types (else pydantic checks them)."""
    cost, currency = fields["cost"], fields["currency"]
    return (
        all(fields[name] is None or type(fields[name]) is int for name in ("used", "size"))
        and (cost is None or type(cost) is float)
        and (currency is None or type(currency) is str)
    )
