"""The JSON a scenario's steps and settings carry: tool-call content blocks, session modes,
config options (bare ids and values are named after themselves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = (
    "boolean_option",
    "diff_content",
    "select_option",
    "session_modes",
    "terminal_content",
    "text_content",
)


def text_content(text: str) -> dict[str, Any]:
    """Tool-call content: a text block."""
    return {"type": "content", "content": {"type": "text", "text": text}}


def diff_content(path: str, new_text: str, old_text: str | None = None) -> dict[str, Any]:
    """Tool-call content: a file diff (``oldText`` null means a new file)."""
    return {"type": "diff", "path": path, "oldText": old_text, "newText": new_text}


def terminal_content(terminal_id: str) -> dict[str, Any]:
    """Tool-call content: a live client terminal."""
    return {"type": "terminal", "terminalId": terminal_id}


def session_modes(
    available: Sequence[str | Mapping[str, Any]], current: str | None = None
) -> dict[str, Any]:
    """A ``modes`` setting from mode ids (named after themselves) or full ``SessionMode``s."""
    modes = [
        {"id": m, "name": m.replace("_", " ").title()} if isinstance(m, str) else dict(m)
        for m in available
    ]
    return {"currentModeId": current or modes[0]["id"], "availableModes": modes}


def select_option(
    option_id: str,
    name: str,
    values: Sequence[str | Mapping[str, Any]],
    *,
    current: str | None = None,
    category: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A ``select`` config option; bare value strings are named after themselves."""
    options = [{"value": v, "name": v} if isinstance(v, str) else dict(v) for v in values]
    option: dict[str, Any] = {
        "type": "select",
        "id": option_id,
        "name": name,
        "currentValue": current if current is not None else options[0]["value"],
        "options": options,
    }
    if category is not None:
        option["category"] = category
    if description is not None:
        option["description"] = description
    return option


def boolean_option(
    option_id: str,
    name: str,
    value: bool = False,
    *,
    category: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A ``boolean`` (on/off) config option."""
    option: dict[str, Any] = {
        "type": "boolean",
        "id": option_id,
        "name": name,
        "currentValue": value,
    }
    if category is not None:
        option["category"] = category
    if description is not None:
        option["description"] = description
    return option
