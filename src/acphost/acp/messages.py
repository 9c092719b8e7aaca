"""What the agent tells the client, as typed messages delivered to one consumer in order.

``session/update`` payloads are parsed into the official SDK's pydantic models. Kinds the SDK
does not know (a newer schema, ``_vendor`` extensions) or payloads it cannot validate become a
:class:`RawUpdate` carrying the original JSON: nothing the agent says is dropped.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from acp import schema
from pydantic import BaseModel, ValidationError

from acphost.errors import AgentExited, ProtocolError

__all__ = [
    "UPDATE_KINDS",
    "AgentExitMessage",
    "AgentMessage",
    "ExtensionNotification",
    "KnownUpdate",
    "ProtocolErrorMessage",
    "RawUpdate",
    "SessionUpdate",
    "parse_update",
]

KnownUpdate: TypeAlias = (
    schema.UserMessageChunk
    | schema.AgentMessageChunk
    | schema.AgentThoughtChunk
    | schema.ToolCallStart
    | schema.ToolCallProgress
    | schema.AgentPlanUpdate
    | schema.AgentPlanContentUpdate
    | schema.AgentPlanRemovedUpdate
    | schema.AvailableCommandsUpdate
    | schema.CurrentModeUpdate
    | schema.ConfigOptionUpdate
    | schema.SessionInfoUpdate
    | schema.UsageUpdate
)


def _update_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(KnownUpdate):
        kind = typing.get_args(model.model_fields["session_update"].annotation)[0]
        models[kind] = model
    return models


_MODELS = _update_models()
UPDATE_KINDS: frozenset[str] = frozenset(_MODELS)


@dataclass(frozen=True, slots=True)
class RawUpdate:
    """An update acphost could not type: an unknown kind, or a known kind that failed validation."""

    kind: str
    data: dict[str, Any]
    error: str | None = None


class SessionUpdate:
    """One ``session/update`` notification.

    ``data`` is the update object exactly as the agent sent it; ``update`` is its typed form,
    parsed on first use (a host that only needs the JSON never pays for validation).
    ``replay`` is true for updates sent while answering ``session/load`` (history, not new work).
    """

    __slots__ = ("_typed", "data", "meta", "replay", "session_id")

    def __init__(
        self,
        session_id: str,
        data: dict[str, Any],
        meta: dict[str, Any] | None = None,
        replay: bool = False,
    ) -> None:
        self.session_id = session_id
        self.data = data
        self.meta = meta
        self.replay = replay
        self._typed: KnownUpdate | RawUpdate | None = None

    @property
    def kind(self) -> str:
        kind = self.data.get("sessionUpdate")
        return kind if isinstance(kind, str) else "<missing>"

    @property
    def update(self) -> KnownUpdate | RawUpdate:
        if self._typed is None:
            self._typed = parse_update(self.data)
        return self._typed

    def __repr__(self) -> str:
        return f"SessionUpdate({self.session_id!r}, kind={self.kind!r}, replay={self.replay})"


@dataclass(frozen=True, slots=True)
class ExtensionNotification:
    """A notification other than ``session/update`` (e.g. ``_vendor/x``), kept as sent."""

    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class TerminalMessage:
    """A client terminal the agent started (``started``) or released (``released``, with its
    final output), so hosts can show and store what the command printed."""

    session_id: str
    terminal_id: str
    status: str
    command: str
    args: tuple[str, ...] = ()
    cwd: str | None = None
    output: str = ""
    truncated: bool = False
    exit_code: int | None = None
    signal: str | None = None


@dataclass(frozen=True, slots=True)
class ProtocolErrorMessage:
    """The agent broke the protocol (e.g. a malformed line); the session goes on."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class AgentExitMessage:
    """The agent process ended; pending requests fail with the same error."""

    error: AgentExited
    expected: bool = field(default=False)


AgentMessage: TypeAlias = (
    SessionUpdate
    | ExtensionNotification
    | TerminalMessage
    | ProtocolErrorMessage
    | AgentExitMessage
)


def parse_update(update: Any) -> KnownUpdate | RawUpdate:
    """Type one ``update`` object; anything unknown or invalid comes back raw."""
    if not isinstance(update, dict):
        return RawUpdate(kind="<invalid>", data={"value": update}, error="update is not an object")
    kind = update.get("sessionUpdate")
    if not isinstance(kind, str):
        return RawUpdate(kind="<missing>", data=update, error="update has no sessionUpdate kind")
    model = _MODELS.get(kind)
    if model is None:
        return RawUpdate(kind=kind, data=update)
    try:
        parsed: KnownUpdate = model.model_validate(update)  # type: ignore[assignment]
    except ValidationError as exc:
        return RawUpdate(kind=kind, data=update, error=_short(exc))
    return parsed


def _short(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    location = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{location}: {first.get('msg')}{more}"
