"""Subagents (unstable, an ACP draft): ``subagent_spawned`` and ``subagent_state_update``
merged into one snapshot per subagent, as tool calls are."""

from __future__ import annotations

from typing import Any

from acphost.events import SubagentEvent

__all__ = ["KINDS", "snapshot"]

KINDS = ("subagent_spawned", "subagent_state_update")
"""The update kinds, sent on the parent's session, that say a subagent began or ended."""
_KNOWN = {
    "subagent_spawned": frozenset(
        ("sessionUpdate", "subagentSessionId", "name", "task", "capabilities")
    ),
    "subagent_state_update": frozenset(("sessionUpdate", "subagentSessionId", "state")),
}
# what a snapshot does not carry over from the one before it
_FRESH = {"seq", "id", "ts", "turn", "kind", "source", "extra", "subagent_session_id"}


def snapshot(
    kind: str, parent: str, data: dict[str, Any], previous: SubagentEvent | None
) -> dict[str, Any]:
    """The fields of the subagent's next snapshot (validated when the event is made)."""
    fields: dict[str, Any] = previous.model_dump(exclude=_FRESH) if previous else {}
    if kind == "subagent_spawned":
        fields.update(
            parent_session_id=parent,
            name=data.get("name", ""),
            task=data.get("task", ""),
            capabilities=data.get("capabilities") or {},
        )
    else:
        fields["state"] = data.get("state")
    extra = {k: v for k, v in data.items() if k not in _KNOWN[kind]}
    fields.update(subagent_session_id=data.get("subagentSessionId"), extra=extra or None)
    return fields
