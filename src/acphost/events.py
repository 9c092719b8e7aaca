"""Typed events: the durable record of a conversation.

A conversation's state is a fold of its events, so everything a user may want later (a tool
call's diff, a permission decision, the stop reason and usage of a turn) is in an event. Events
are JSON-friendly pydantic models with a ``kind`` discriminator; payloads from the agent stay
plain JSON (as the agent sent them, camelCase keys included), so a newer agent cannot break
the log.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from acphost._ask_events import (
    ElicitationAnsweredEvent,
    ElicitationCompletedEvent,
    ElicitationRequestedEvent,
    PermissionDecidedEvent,
    PermissionModeEvent,
    PermissionRequestedEvent,
)
from acphost._event_base import EventBase, Source, Status, _FromChunks, _FromUpdate

__all__ = [
    "AgentMessageEvent",
    "CommandsEvent",
    "CompactionEvent",
    "ConfigOptionsEvent",
    "ElicitationAnsweredEvent",
    "ElicitationCompletedEvent",
    "ElicitationRequestedEvent",
    "ErrorEvent",
    "Event",
    "EventBase",
    "ModeChangedEvent",
    "NoticeEvent",
    "PermissionDecidedEvent",
    "PermissionModeEvent",
    "PermissionRequestedEvent",
    "PlanEvent",
    "RawEvent",
    "SessionEvent",
    "SessionInfoEvent",
    "StatusChangedEvent",
    "SubagentEvent",
    "SubagentUpdateEvent",
    "TerminalEvent",
    "ThoughtEvent",
    "TokenUsage",
    "ToolCallEvent",
    "TurnEndedEvent",
    "TurnResumedEvent",
    "TurnStalledEvent",
    "TurnStartedEvent",
    "UsageEvent",
    "UserMessageEvent",
    "parse_event",
]


class UserMessageEvent(_FromChunks):
    """What the user sent to start a turn: its text and the ACP content blocks the agent got.

    With ``source="agent"``, a user message the agent relayed in ``user_message_chunk``
    updates (an echo of the prompt): not a new message, so not in ``state.messages``.
    """

    kind: Literal["user_message"] = "user_message"
    source: Source = "user"
    text: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    steered: bool = False
    """Sent into the running turn (``Conversation.steer``), not as a prompt of its own."""


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
    name: str | None = None
    """The tool's programmatic name (``read_file``, ``Bash``), beside the human ``title``."""
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


class NoticeEvent(_FromUpdate):
    """Advice the agent gives the user (a ``notice`` update): not part of the conversation,
    shown and kept so nobody wonders later why the agent slowed down or switched models."""

    kind: Literal["notice"] = "notice"
    severity: str = "info"
    """``info``, ``warning``, ``error``, or a newer or vendor (``_x``) severity, as sent."""
    title: str
    description: str | None = None
    meta: dict[str, Any] | None = None


class CompactionEvent(_FromUpdate):
    """A full merged snapshot of one context compaction, emitted when it starts, changes and
    ends: the context the agent keeps from here on is its ``summary`` (content blocks)."""

    kind: Literal["compaction"] = "compaction"
    compaction_id: str
    status: str
    """``in_progress``, ``completed``, ``failed``, ``cancelled``, or a newer status, as sent."""
    summary: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    meta: dict[str, Any] | None = None
    raw_chunks: list[dict[str, Any]] | None = None
    """The ``compaction_summary_chunk`` updates joined into this snapshot that carried more
    than a content block (``_meta``, other keys), each as sent."""


class SubagentEvent(_FromUpdate):
    """Unstable (an ACP draft): a subagent the agent spawned (``subagent_spawned``) and how it
    ended (``subagent_state_update``), a full snapshot each time."""

    kind: Literal["subagent"] = "subagent"
    subagent_session_id: str
    parent_session_id: str = ""
    name: str = ""
    task: str = ""
    capabilities: dict[str, Any] = Field(default_factory=dict)
    """What the client may do to it: ``cancel``, ``close`` (as sent)."""
    state: str = "running"
    """``running``, then ``completed``, ``failed`` or ``cancelled``."""


class SubagentUpdateEvent(EventBase):
    """Unstable: what a subagent did (one ``session/update`` of its session), kept as sent."""

    kind: Literal["subagent_update"] = "subagent_update"
    subagent_session_id: str
    update_kind: str
    data: dict[str, Any] = Field(default_factory=dict)


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


class TurnStartedEvent(EventBase):
    """A turn began: the prompt sent to the agent, and which attempt it is (retries start at 2)."""

    kind: Literal["turn_started"] = "turn_started"
    source: Source = "host"
    prompt: str = ""
    attempt: int = 1


class TurnEndedEvent(EventBase):
    """A turn ended: the stop reason, usage, cost and duration; ``error_code`` if it failed.

    ``usage`` is the turn's token counts (``PromptResponse.usage``); ``cost`` is what the turn
    added to the agent's running cost total (its ``usage_update``s)."""

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


class TurnStalledEvent(EventBase):
    """The running turn made no progress for ``idle_s`` seconds (``stall_timeout``): never a
    silent hang. Says what it waits for: permission requests and elicitations still
    unanswered (by id), and the tool calls still running (id and title)."""

    kind: Literal["turn_stalled"] = "turn_stalled"
    source: Source = "host"
    idle_s: float
    pending_permissions: list[str] = Field(default_factory=list)
    pending_elicitations: list[str] = Field(default_factory=list)
    running_tools: list[dict[str, str]] = Field(default_factory=list)


class TurnResumedEvent(EventBase):
    """The stalled turn moved again (the agent's next word), ``stalled_s`` after it stalled."""

    kind: Literal["turn_resumed"] = "turn_resumed"
    source: Source = "host"
    stalled_s: float


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
    """The agent session began: new, loaded (history replayed), resumed, restarted, or
    forked from another conversation's session (unstable: ``reason`` names it)."""

    kind: Literal[
        "session_started",
        "session_loaded",
        "session_resumed",
        "session_restarted",
        "session_forked",
    ]
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
    system_prompt: list[dict[str, Any]] | None = None
    """The client system prompt the agent was given with this session (content blocks)."""
    system_prompt_mode: str | None = None
    """How: ``append`` (after the agent's own) or ``override`` (instead of it)."""


class RawEvent(EventBase):
    """What acphost does not type: an unknown update kind, an extension notification, a
    request of a method acphost does not offer (``request_id`` set, ``error`` says how it was
    answered), or (``replay``) history the agent replayed on ``session/load``/``session/resume``."""

    kind: Literal["raw"] = "raw"
    method: str
    update_kind: str | None = None
    data: Any = None
    error: str | None = None
    request_id: Any = None
    """The JSON-RPC id of the agent's request, for a request (``data`` is its params)."""
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
    | NoticeEvent
    | CompactionEvent
    | SubagentEvent
    | SubagentUpdateEvent
    | PermissionRequestedEvent
    | PermissionDecidedEvent
    | PermissionModeEvent
    | ElicitationRequestedEvent
    | ElicitationAnsweredEvent
    | ElicitationCompletedEvent
    | TurnStartedEvent
    | TurnEndedEvent
    | TurnStalledEvent
    | TurnResumedEvent
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
