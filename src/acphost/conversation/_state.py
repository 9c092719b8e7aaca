"""Conversation state: a fold of the event log, guarded by the conversation's FIFO lock.

Nothing sets these fields except :meth:`ConversationState.apply`, so the state rebuilt from a
store is exactly the state the live conversation had.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

from acphost.conversation._eventlog import EventLog
from acphost.conversation._lock import FIFOLock
from acphost.conversation._messages import Messages
from acphost.conversation._toolcalls import ToolCalls
from acphost.errors import UsageError
from acphost.events import (
    AgentMessageEvent,
    CommandsEvent,
    CompactionEvent,
    ConfigOptionsEvent,
    ElicitationAnsweredEvent,
    ElicitationCompletedEvent,
    ElicitationRequestedEvent,
    ErrorEvent,
    Event,
    ModeChangedEvent,
    PermissionDecidedEvent,
    PermissionRequestedEvent,
    PlanEvent,
    SessionEvent,
    SessionInfoEvent,
    StatusChangedEvent,
    SubagentEvent,
    TerminalEvent,
    TokenUsage,
    ToolCallEvent,
    TurnEndedEvent,
    TurnResumedEvent,
    TurnStalledEvent,
    TurnStartedEvent,
    UsageEvent,
    UserMessageEvent,
)
from acphost.store import EventStore

__all__ = ["ConversationState", "Status"]

Status = Literal["idle", "running", "paused", "finished", "error"]
"""Where a conversation is: ``idle`` between turns, ``running`` a turn, ``paused`` after an
interrupt, ``finished`` once closed, ``error`` after a failed turn.
"""


class ConversationState:
    """What a conversation is now. Read it under ``with conversation.state:`` for consistency.

    The lock is re-entrant and fair; callbacks run with it held, so they may take it again.
    """

    def __init__(
        self,
        conversation_id: str,
        lock: FIFOLock | None = None,
        *,
        store: EventStore | None = None,
    ) -> None:
        self.id = conversation_id
        self.lock = lock or FIFOLock()
        # every event; with a store, only the newest stay in memory (see EventLog)
        self.events = EventLog(conversation_id, store)
        self.status: Status = "idle"
        self.last_seq = 0
        self.session_id: str | None = None
        self.title: str | None = None
        self.turns = 0
        self.last_stop_reason: str | None = None
        self.stalled: TurnStalledEvent | None = None  # the running turn has stalled: on what
        self.last_error: ErrorEvent | None = None
        self.usage = TokenUsage()
        self.context_used: int | None = None
        self.context_size: int | None = None
        self.currency: str | None = None
        self._cost_before_session = 0.0
        self._session_cost: float | None = None
        self.mode_id: str | None = None
        self.modes: list[dict[str, Any]] = []
        self.config_options: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.plan: list[dict[str, Any]] = []
        # every call's latest snapshot; with a store, old finished ones are read back from it
        self.tool_calls = ToolCalls(self.events)
        self.terminals: dict[str, TerminalEvent] = {}
        self.pending_permissions: dict[str, PermissionRequestedEvent] = {}
        self.pending_elicitations: dict[str, ElicitationRequestedEvent] = {}
        # accepted URL elicitations the agent may still complete: elicitationId -> request id
        self.open_url_elicitations: dict[str, str] = {}
        # every context compaction's latest snapshot, by compaction id
        self.compactions: dict[str, CompactionEvent] = {}
        # unstable: the subagents the agent showed, by their session id (latest snapshot)
        self.subagents: dict[str, SubagentEvent] = {}
        self.messages = Messages(self.events)  # the newest in memory, like the events

    # --- locking -------------------------------------------------------------------------

    def __enter__(self) -> ConversationState:
        self.lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.lock.release()

    # --- derived -------------------------------------------------------------------------

    @property
    def cost(self) -> float | None:
        """Total cost over every session of the conversation (from the agent's usage updates)."""
        if self._session_cost is None and not self._cost_before_session:
            return None
        return self._cost_before_session + (self._session_cost or 0.0)

    @property
    def model(self) -> str | None:
        """The current value of the ``model`` config option, if the agent has one."""
        option = self.model_option
        value = option.get("currentValue") if option else None
        return value if isinstance(value, str) else None

    @property
    def model_option(self) -> dict[str, Any] | None:
        """The agent's config option of category ``model`` (value and choices), if it has one."""
        return self.config_option("model")

    def config_option(self, category: str) -> dict[str, Any] | None:
        """The agent's first config option of ``category`` (``mode``, ``model``,
        ``thought_level``, ``speed``...), so callers need not know the agent's option ids."""
        return next((o for o in self.config_options if o.get("category") == category), None)

    @property
    def thought_level(self) -> str | None:
        """The current value of the ``thought_level`` config option, if the agent has one."""
        option = self.config_option("thought_level")
        value = option.get("currentValue") if option else None
        return value if isinstance(value, str) else None

    @property
    def speed(self) -> str | bool | None:
        """The current value of the ``speed`` config option (a choice, or on/off), if any."""
        option = self.config_option("speed")
        value = option.get("currentValue") if option else None
        return value if isinstance(value, str | bool) else None

    @property
    def boolean_options(self) -> dict[str, bool]:
        """The agent's on/off config options by id, with their current values."""
        return {
            str(o.get("id")): o["currentValue"]
            for o in self.config_options
            if o.get("type") == "boolean" and isinstance(o.get("currentValue"), bool)
        }

    def check_config_value(self, config_id: str, value: str | bool) -> None:
        """Raise ``UsageError`` for a value the agent's option cannot take (a string for an
        on/off option, a boolean for a choice, an unknown option): nothing is sent then."""
        known = {str(o.get("id")): o for o in self.config_options}
        option = known.get(config_id)
        if option is None:
            if known:
                raise UsageError(
                    f"the agent has no config option {config_id!r}",
                    hint=f"its options: {', '.join(known)}",
                )
            return  # options not known yet: the agent answers
        boolean = option.get("type") == "boolean"
        if boolean != isinstance(value, bool):
            kind = "on/off: pass True or False" if boolean else "a choice: pass one of its values"
            raise UsageError(f"config option {config_id!r} is {kind}, not {value!r}")

    @property
    def running_tool_calls(self) -> list[ToolCallEvent]:
        """Calls still pending or in progress, in the order they started."""
        return self.tool_calls.running

    def snapshot(self) -> dict[str, Any]:
        """Everything folded, as plain data (for comparisons and the server)."""
        return {
            "id": self.id,
            "status": self.status,
            "last_seq": self.last_seq,
            "session_id": self.session_id,
            "title": self.title,
            "turns": self.turns,
            "last_stop_reason": self.last_stop_reason,
            "usage": self.usage.model_dump(),
            "cost": self.cost,
            "currency": self.currency,
            "context_used": self.context_used,
            "context_size": self.context_size,
            "mode_id": self.mode_id,
            "modes": self.modes,
            "model": self.model,
            "thought_level": self.thought_level,
            "speed": self.speed,
            "config_options": self.config_options,
            "commands": self.commands,
            "plan": self.plan,
            "tool_calls": {k: v.model_dump() for k, v in self.tool_calls.items()},
            "terminals": {k: v.model_dump() for k, v in self.terminals.items()},
            "pending_permissions": {k: v.model_dump() for k, v in self.pending_permissions.items()},
            "pending_elicitations": {
                k: v.model_dump() for k, v in self.pending_elicitations.items()
            },
            "compactions": {k: v.model_dump() for k, v in self.compactions.items()},
            "subagents": {k: v.model_dump() for k, v in self.subagents.items()},
            "events": len(self.events),
        }

    # --- the fold ------------------------------------------------------------------------

    def apply(self, event: Event, *, stored: bool = False) -> None:
        """Fold one event in. Events must come in ``seq`` order; ``stored``: read from a store."""
        self.events.append(event)
        if stored:
            self.events.stored(event.seq)
        self.last_seq = event.seq
        if isinstance(event, ToolCallEvent):
            self.tool_calls.put(event)
        elif isinstance(event, StatusChangedEvent):
            self.status = event.status
        elif isinstance(event, TerminalEvent):
            self.terminals[event.terminal_id] = event
        elif isinstance(event, AgentMessageEvent):
            if not event.replay:
                self.messages.append(event)
        elif isinstance(event, UserMessageEvent):
            if event.source != "agent":  # not the agent relaying one (an echo, its history)
                self.messages.append(event)
        elif isinstance(event, TurnStartedEvent):
            self.turns = max(self.turns, event.turn or 0)
            self.stalled = None
        elif isinstance(event, TurnEndedEvent):
            self.last_stop_reason = event.stop_reason
            self.stalled = None
            if event.usage is not None:
                self.usage = self.usage + event.usage
        elif isinstance(event, UsageEvent):
            self._apply_usage(event)
        elif isinstance(event, PermissionRequestedEvent):
            self.pending_permissions[event.request_id] = event
        elif isinstance(event, PermissionDecidedEvent):
            self.pending_permissions.pop(event.request_id, None)
        elif isinstance(event, ElicitationRequestedEvent | ElicitationAnsweredEvent):
            self._apply_elicitation(event)
        elif isinstance(event, ElicitationCompletedEvent):
            self.open_url_elicitations.pop(event.elicitation_id, None)
        elif isinstance(event, PlanEvent):
            self.plan = event.entries
        elif isinstance(event, ModeChangedEvent):
            self.mode_id = event.mode_id
            if event.available_modes is not None:
                self.modes = event.available_modes
        elif isinstance(event, ConfigOptionsEvent):
            self.config_options = event.config_options
        elif isinstance(event, CommandsEvent):
            self.commands = event.commands
        elif isinstance(event, SessionInfoEvent):
            if event.title is not None:
                self.title = event.title
        elif isinstance(event, SessionEvent):
            self._apply_session(event)
        elif isinstance(event, ErrorEvent):
            self.last_error = event
        elif isinstance(event, CompactionEvent):
            self.compactions[event.compaction_id] = event
        elif isinstance(event, SubagentEvent):
            self.subagents[event.subagent_session_id] = event
        elif isinstance(event, TurnStalledEvent | TurnResumedEvent):
            self.stalled = event if isinstance(event, TurnStalledEvent) else None

    def _apply_elicitation(
        self, event: ElicitationRequestedEvent | ElicitationAnsweredEvent
    ) -> None:
        if isinstance(event, ElicitationRequestedEvent):
            self.pending_elicitations[event.request_id] = event
            return
        asked = self.pending_elicitations.pop(event.request_id, None)
        if asked is not None and asked.mode == "url" and event.action == "accept":
            self.open_url_elicitations[str(asked.elicitation_id)] = event.request_id

    def _apply_usage(self, event: UsageEvent) -> None:
        if event.used is not None:
            self.context_used = event.used
        if event.size is not None:
            self.context_size = event.size
        if event.cost is not None:
            # The agent reports its session's running total; a smaller total means it restarted
            # counting, so bank what it had reached (never count anything twice).
            if self._session_cost is not None and event.cost < self._session_cost:
                self._cost_before_session += self._session_cost
            self._session_cost = event.cost
            self.currency = event.currency or self.currency

    def _apply_session(self, event: SessionEvent) -> None:
        if event.kind not in ("session_loaded", "session_resumed") and self._session_cost:
            self._cost_before_session += self._session_cost
            self._session_cost = None
        self.session_id = event.session_id
        self.pending_permissions.clear()
        self.pending_elicitations.clear()
        if event.modes is not None:
            self.mode_id = event.modes.get("currentModeId", self.mode_id)
            self.modes = list(event.modes.get("availableModes") or [])
        if event.config_options is not None:
            self.config_options = event.config_options
