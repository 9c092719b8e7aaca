"""Typed events: the durable record of a conversation.

A conversation's state is a fold of its events, so everything a user may want later (a tool
call's diff, a permission decision, the stop reason and usage of a turn) is in an event. Events
are JSON-friendly pydantic models with a ``kind`` discriminator; payloads from the agent stay
plain JSON (as the agent sent them, camelCase keys included), so a newer agent cannot break
the log.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AgentMessageEvent",
    "CommandsEvent",
    "ConfigOptionsEvent",
    "ErrorEvent",
    "Event",
    "EventBase",
    "ModeChangedEvent",
    "PermissionDecidedEvent",
    "PermissionRequestedEvent",
    "PlanEvent",
    "RawEvent",
    "SessionEvent",
    "SessionInfoEvent",
    "StatusChangedEvent",
    "TerminalEvent",
    "ThoughtEvent",
    "TokenUsage",
    "ToolCallEvent",
    "TurnEndedEvent",
    "TurnStartedEvent",
    "UsageEvent",
    "UserMessageEvent",
    "parse_event",
]

Source: TypeAlias = Literal["user", "agent", "host", "policy"]
"""Who produced an event: the user (or their callback), the agent, acphost itself (turns,
status, the ``failed`` it gives tool calls left running on cancel), or a fixed permission
policy."""
Status: TypeAlias = Literal["idle", "running", "paused", "finished", "error"]


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count(1)


def _new_id() -> str:
    # Unique without a syscall per event: a random per-process prefix and a counter.
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


class EventBase(BaseModel):
    """Fields every event has. ``seq`` increases by one per event within a conversation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    seq: int = 0
    id: str = Field(default_factory=_new_id)
    ts: float = Field(default_factory=time.time)
    source: Source = "agent"
    turn: int | None = None


class _FromUpdate(EventBase):
    """An event made from one agent update: what it has no field for is kept, not dropped."""

    extra: dict[str, Any] | None = None
    """Keys of the agent's update that no field of the event carries, as sent."""


class _FromChunks(EventBase):
    """A message joined from chunks: what its text and blocks cannot say is kept, not dropped."""

    message_id: str | None = None
    """The ``messageId`` the agent gave its chunks, if any."""
    raw_chunks: list[dict[str, Any]] | None = None
    """The chunks that carried more than plain text (``_meta``, annotations, other keys), each
    as sent (``chunk``) with ``at``, the offset in ``text`` where it arrived."""


class UserMessageEvent(_FromChunks):
    """What the user sent to start a turn: its text and the ACP content blocks the agent got.

    With ``source="agent"``, a user message the agent relayed in ``user_message_chunk``
    updates (an echo of the prompt): not a new message, so not in ``state.messages``.
    """

    kind: Literal["user_message"] = "user_message"
    source: Source = "user"
    text: str
    content: list[dict[str, Any]] = Field(default_factory=list)


class AgentMessageEvent(_FromChunks):
    """A whole agent message: its chunks joined (tokens were streamed through ``on_token``)."""

    kind: Literal["agent_message"] = "agent_message"
    text: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    replay: bool = False


class ThoughtEvent(_FromChunks):
    """A whole agent thought (its streamed chunks joined): the agent's reasoning."""

    kind: Literal["thought"] = "thought"
    text: str


class ToolCallEvent(_FromUpdate):
    """A full merged snapshot of one tool call, emitted on start, on change and at the end."""

    kind: Literal["tool_call"] = "tool_call"
    tool_call_id: str
    title: str = ""
    tool_kind: str | None = None
    status: str = "pending"
    content: list[dict[str, Any]] = Field(default_factory=list)
    locations: list[dict[str, Any]] = Field(default_factory=list)
    raw_input: Any = None
    raw_output: Any = None
    meta: dict[str, Any] | None = None
    synthetic: bool = False


class TerminalEvent(EventBase):
    """A client terminal the agent ran: ``started``, then ``released`` with its final output;
    ``killed`` (with the signal) when acphost ended it (a cancelled turn's command, a close),
    ``exited`` when it had ended on its own but was never released.

    Tool calls refer to it by ``terminal_id`` in a ``{"type": "terminal"}`` content block.
    """

    kind: Literal["terminal"] = "terminal"
    source: Source = "host"
    terminal_id: str
    status: str
    command: str
    args: list[str] = Field(default_factory=list)
    cwd: str | None = None
    output: str = ""
    truncated: bool = False
    exit_code: int | None = None
    signal: str | None = None


class PlanEvent(_FromUpdate):
    """The agent's plan: its entries (content, priority, status) as it last sent them."""

    kind: Literal["plan"] = "plan"
    entries: list[dict[str, Any]] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


class ModeChangedEvent(_FromUpdate):
    """The session's mode changed (by the agent, or on request), with the modes on offer."""

    kind: Literal["mode_changed"] = "mode_changed"
    mode_id: str
    available_modes: list[dict[str, Any]] | None = None


class ConfigOptionsEvent(_FromUpdate):
    """The agent's session config options now (model, mode, thought level...), values included."""

    kind: Literal["config_options"] = "config_options"
    config_options: list[dict[str, Any]]


class CommandsEvent(_FromUpdate):
    """The slash commands the agent offers now (``available_commands_update``)."""

    kind: Literal["commands"] = "commands"
    commands: list[dict[str, Any]]


class SessionInfoEvent(_FromUpdate):
    """The session's metadata, such as its title: from the agent, or (``source="host"``) the
    title the host gives an untitled conversation from its first prompt."""

    kind: Literal["session_info"] = "session_info"
    title: str | None = None
    updated_at: str | None = None
    meta: dict[str, Any] | None = None


class UsageEvent(_FromUpdate):
    """The agent's ``usage_update``: context ``used``/``size`` and the session's cost so far."""

    kind: Literal["usage"] = "usage"
    used: int | None = None
    size: int | None = None
    cost: float | None = None
    currency: str | None = None


class TokenUsage(BaseModel):
    """Raw token counts of one turn (from ``PromptResponse.usage``)."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cached_read_tokens: int = 0
    cached_write_tokens: int = 0
    thought_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            **{name: getattr(self, name) + getattr(other, name) for name in TokenUsage.model_fields}
        )


class PermissionRequestedEvent(EventBase):
    """The agent asks permission for a tool call; answer with the request id and an option kind."""

    kind: Literal["permission_requested"] = "permission_requested"
    request_id: str
    tool_call_id: str
    title: str = ""
    options: list[dict[str, Any]] = Field(default_factory=list)
    tool_call: dict[str, Any] = Field(default_factory=dict)


class PermissionDecidedEvent(EventBase):
    """How a permission request was answered, by whom (policy, callback, user, cancel), and the
    option the agent was told.
    """

    kind: Literal["permission_decided"] = "permission_decided"
    source: Source = "user"
    request_id: str
    decision: str
    option_id: str | None = None
    decided_by: Literal["policy", "callback", "user", "cancel", "timeout"] = "policy"


class TurnStartedEvent(EventBase):
    """A turn began: the prompt sent to the agent, and which attempt it is (retries start at 2)."""

    kind: Literal["turn_started"] = "turn_started"
    source: Source = "host"
    prompt: str = ""
    attempt: int = 1


class TurnEndedEvent(EventBase):
    """A turn ended: the stop reason, usage, cost and duration; ``error_code`` if it failed."""

    kind: Literal["turn_ended"] = "turn_ended"
    source: Source = "host"
    stop_reason: str
    usage: TokenUsage | None = None
    cost: float | None = None
    duration_s: float = 0.0
    error_code: str | None = None
    extra: dict[str, Any] | None = None
    """What the agent's ``session/prompt`` answer carried beyond the stop reason and the usage
    read here (its ``_meta``, other keys, usage fields acphost does not know), as sent."""


class StatusChangedEvent(EventBase):
    """The conversation's status changed (see :data:`~acphost.conversation.Status`)."""

    kind: Literal["status_changed"] = "status_changed"
    source: Source = "host"
    status: Status
    previous: Status | None = None


class ErrorEvent(EventBase):
    """Something failed: the error's stable code, message, hint, whether a retry may help, and
    the agent's stderr tail when the agent is to blame.
    """

    kind: Literal["error"] = "error"
    source: Source = "host"
    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    stderr_tail: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class SessionEvent(EventBase):
    """The agent session began: new, loaded (history replayed), resumed, or restarted."""

    kind: Literal["session_started", "session_loaded", "session_resumed", "session_restarted"]
    source: Source = "host"
    session_id: str
    context_restored: bool = True
    reason: str = ""
    agent_info: dict[str, Any] | None = None
    modes: dict[str, Any] | None = None
    config_options: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    """Why the earlier session could not be reattached: the agent's error as sent (its
    JSON-RPC ``rpc_code``, ``message`` and ``data``), when that is the reason."""


class RawEvent(EventBase):
    """What acphost does not type: an unknown update kind, an extension notification, or
    (``replay``) history the agent replayed on ``session/load``/``session/resume``."""

    kind: Literal["raw"] = "raw"
    method: str
    update_kind: str | None = None
    data: Any = None
    error: str | None = None
    replay: bool = False
    """History the agent replayed while its session was reattached: kept as sent, folded
    into nothing (the log already has it from the turns that made it)."""


Event: TypeAlias = Annotated[
    UserMessageEvent
    | AgentMessageEvent
    | ThoughtEvent
    | ToolCallEvent
    | TerminalEvent
    | PlanEvent
    | ModeChangedEvent
    | ConfigOptionsEvent
    | CommandsEvent
    | SessionInfoEvent
    | UsageEvent
    | PermissionRequestedEvent
    | PermissionDecidedEvent
    | TurnStartedEvent
    | TurnEndedEvent
    | StatusChangedEvent
    | ErrorEvent
    | SessionEvent
    | RawEvent,
    Field(discriminator="kind"),
]
"""Any stored event: a union discriminated by ``kind`` (parse one with :func:`parse_event`)."""

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: bytes | str | dict[str, Any]) -> Event:
    """An event from its JSON (as stored) or a dict."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)
