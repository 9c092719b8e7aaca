"""What the agent tells the client, as typed messages delivered to one consumer in order.

``session/update`` payloads become the official SDK's pydantic models on first use of
:attr:`SessionUpdate.update`. Kinds the SDK does not know (a newer schema, ``_vendor``
extensions) or payloads it cannot validate become a :class:`RawUpdate` carrying the original
JSON: nothing the agent says is dropped.

The SDK (``import acp``: ~40 MB, ~0.5 s) is imported only when someone asks for a typed
model; what acphost itself needs from the agent's answers (:class:`SessionAnswer`,
:class:`PromptAnswer`) is read with the checks of :mod:`acphost.acp.shapes`.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ValidationError

from acphost.acp import shapes
from acphost.errors import AgentExited, ProtocolError

if TYPE_CHECKING:
    from acp import schema

__all__ = [
    "UPDATE_KINDS",
    "AgentExitMessage",
    "AgentMessage",
    "ExtensionNotification",
    "KnownUpdate",
    "PromptAnswer",
    "ProtocolErrorMessage",
    "RawUpdate",
    "RefusedRequest",
    "SessionAnswer",
    "SessionUpdate",
    "parse_update",
]

if TYPE_CHECKING:
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
    """A ``session/update`` body typed with the ACP SDK's model for its kind."""

_UPDATE_MODELS = {  # sessionUpdate kind -> the SDK's model
    "user_message_chunk": "UserMessageChunk",
    "agent_message_chunk": "AgentMessageChunk",
    "agent_thought_chunk": "AgentThoughtChunk",
    "tool_call": "ToolCallStart",
    "tool_call_update": "ToolCallProgress",
    "plan": "AgentPlanUpdate",
    "plan_update": "AgentPlanContentUpdate",
    "plan_removed": "AgentPlanRemovedUpdate",
    "available_commands_update": "AvailableCommandsUpdate",
    "current_mode_update": "CurrentModeUpdate",
    "config_option_update": "ConfigOptionUpdate",
    "session_info_update": "SessionInfoUpdate",
    "usage_update": "UsageUpdate",
}
UPDATE_KINDS: frozenset[str] = frozenset(_UPDATE_MODELS)
"""The ``sessionUpdate`` kinds acphost types; any other is kept raw, never dropped."""


def __getattr__(name: str) -> Any:
    if name == "KnownUpdate":  # the runtime union, for whoever inspects it
        from acp import schema

        models = tuple(getattr(schema, model) for model in _UPDATE_MODELS.values())
        return typing.Union[models]  # noqa: UP007
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _update_models() -> dict[str, type[BaseModel]]:
    from acp import schema

    return {kind: getattr(schema, model) for kind, model in _UPDATE_MODELS.items()}


@dataclass(frozen=True, slots=True)
class RawUpdate:
    """An update acphost could not type: an unknown kind, or a known kind that failed validation."""

    kind: str
    data: dict[str, Any]
    error: str | None = None


class SessionUpdate:
    """One ``session/update`` notification.

    ``data`` is the update object exactly as the agent sent it; ``update`` is its typed form,
    parsed on first use (a host that only needs the JSON never pays for the SDK).
    ``replay`` is true for updates sent while answering ``session/load`` or ``session/resume``
    (history, not new work)."""

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
        """The update's ``sessionUpdate`` kind (``<missing>`` if it has none)."""
        kind = self.data.get("sessionUpdate")
        return kind if isinstance(kind, str) else "<missing>"

    @property
    def update(self) -> KnownUpdate | RawUpdate:
        """The update typed by the ACP SDK, or raw if its kind is unknown or it is invalid."""
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
class RefusedRequest:
    """A request whose method acphost does not offer (Qwen Code's ``craft/drainMidTurnQueue``),
    answered with error ``code``: not a failure of the agent, but kept as sent."""

    request_id: Any
    method: str
    params: Any
    code: int
    message: str


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
    | RefusedRequest
    | AgentExitMessage
)
"""Anything the agent's connection posts to a conversation's mailbox."""


def parse_update(update: Any) -> KnownUpdate | RawUpdate:
    """Type one ``update`` object; anything unknown or invalid comes back raw."""
    if not isinstance(update, dict):
        return RawUpdate(kind="<invalid>", data={"value": update}, error="update is not an object")
    kind = update.get("sessionUpdate")
    if not isinstance(kind, str):
        return RawUpdate(kind="<missing>", data=update, error="update has no sessionUpdate kind")
    if kind not in UPDATE_KINDS:
        return RawUpdate(kind=kind, data=update)
    try:
        parsed: KnownUpdate = _update_models()[kind].model_validate(update)  # type: ignore[assignment]
    except ValidationError as exc:
        return RawUpdate(kind=kind, data=update, error=_short(exc))
    return parsed


def _short(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    location = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{location}: {first.get('msg')}{more}"


# --- the agent's answers, read without the SDK ---------------------------------------------


_SESSION_SHAPES = {
    "session/new": shapes.NEW_SESSION,
    "session/fork": shapes.NEW_SESSION,
    "session/set_config_option": shapes.SET_CONFIG_OPTION,
}


@dataclass(frozen=True, slots=True)
class SessionAnswer:
    """What ``session/new``, ``/load``, ``/resume`` or ``/set_config_option`` answered.

    ``data`` is the answer as sent (typed forms are validated from it); ``modes`` and
    ``config_options`` are as the SDK's models would dump them.
    """

    data: dict[str, Any]
    session_id: str | None = None
    modes: dict[str, Any] | None = None
    config_options: list[dict[str, Any]] | None = None

    @classmethod
    def read(cls, method: str, result: Any) -> SessionAnswer:
        """Check ``result``; a malformed answer raises :class:`ProtocolError`."""
        data = {} if result is None else result
        shape = _SESSION_SHAPES.get(method, shapes.SESSION)
        dump = shapes.read_json(f"{method} answer", shape, data)
        return cls(data, dump.get("sessionId"), dump.get("modes"), dump.get("configOptions"))


@dataclass(frozen=True, slots=True)
class PromptAnswer:
    """How a ``session/prompt`` turn ended; ``usage`` as the SDK's model would dump it."""

    data: dict[str, Any]
    stop_reason: str
    usage: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None

    @classmethod
    def read(cls, result: Any) -> PromptAnswer:
        """Check ``result``; a malformed answer raises :class:`ProtocolError`."""
        data = result or {}
        dump = shapes.read_json("session/prompt answer", shapes.PROMPT, data)
        return cls(data, dump["stopReason"], dump.get("usage"), dump.get("_meta"))

    @property
    def extra(self) -> dict[str, Any] | None:
        """What the answer carries beyond ``stopReason`` and the ``usage`` read, as sent."""
        extra = {k: v for k, v in self.data.items() if k not in ("stopReason", "usage")}
        if self.data.get("usage") not in (None, self.usage):
            extra["usage"] = self.data["usage"]  # fields beyond the schema's, or invalid ones
        return extra or None
