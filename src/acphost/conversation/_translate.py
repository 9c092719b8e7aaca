"""Turn what agents say into events, folding each into the state as it is made.

Runs on the driver (caller's thread or loop) under the state lock. Message chunks are joined
into one message event (their deltas go to ``on_token`` as they come); tool calls are merged
into full snapshots, tolerating real agents' quirks (a repeated ``tool_call`` id merges, an
update for an unknown id creates the call); anything that cannot be typed becomes a raw event.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from acphost.acp.messages import (
    AgentExitMessage,
    ExtensionNotification,
    ProtocolErrorMessage,
    SessionUpdate,
    TerminalMessage,
)
from acphost.conversation._items import CONFIRMED, Token
from acphost.conversation._state import ConversationState
from acphost.errors import AcphostError, AgentExited
from acphost.events import (
    AgentMessageEvent,
    CommandsEvent,
    ConfigOptionsEvent,
    ErrorEvent,
    Event,
    EventBase,
    ModeChangedEvent,
    PlanEvent,
    RawEvent,
    SessionInfoEvent,
    Source,
    TerminalEvent,
    ThoughtEvent,
    ToolCallEvent,
    UsageEvent,
)

__all__ = ["Translator"]

E = TypeVar("E", bound=EventBase)

_CHUNKS = ("agent_message_chunk", "agent_thought_chunk")
_TOOL_TYPES: dict[str, type] = {
    "title": str,
    "tool_kind": str,
    "status": str,
    "content": list,
    "locations": list,
    "meta": dict,
}
_TOOL_FIELDS = {
    "title": "title",
    "kind": "tool_kind",
    "status": "status",
    "content": "content",
    "locations": "locations",
    "rawInput": "raw_input",
    "rawOutput": "raw_output",
    "_meta": "meta",
}


@functools.cache
def _plan(cls: type[EventBase]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    """Each field's name, default and default factory, in field order."""
    return tuple(
        (name, field.default, field.default_factory)  # type: ignore[misc]
        for name, field in cls.model_fields.items()
    )


def construct(cls: type[E], fields: dict[str, Any]) -> E:
    """``cls.model_construct(**fields)`` for fields acphost typed itself, without its cost.

    pydantic's ``model_construct`` looks up and copies every default per call, which made it
    the largest single cost of a tool-call storm; this fills the same ``__dict__`` directly.
    """
    values: dict[str, Any] = {}
    for name, default, factory in _plan(cls):
        if name in fields:
            values[name] = fields[name]
        elif factory is not None:
            values[name] = factory()
        elif default is PydanticUndefined:
            raise TypeError(f"{cls.__name__} needs {name!r}")
        else:
            values[name] = default
    event = cls.__new__(cls)
    setattr_ = object.__setattr__
    setattr_(event, "__dict__", values)
    setattr_(event, "__pydantic_fields_set__", set(fields))
    setattr_(event, "__pydantic_extra__", None)
    setattr_(event, "__pydantic_private__", None)
    return event


class Translator:
    """Builds one delivery batch: a list of events and token deltas, in arrival order."""

    def __init__(
        self, state: ConversationState, *, tokens: bool = True, thoughts: bool = True
    ) -> None:
        self.state = state
        self._streams = {"agent_message_chunk": tokens, "agent_thought_chunk": thoughts}
        self.turn: int | None = None
        self.out: list[Event | Token] = []
        # made and queued, folded into the state only when delivered (see new(hold=True))
        self.held: deque[Event] = deque()
        self._chunk_kind: str | None = None
        self._texts: list[str] = []
        self._blocks: list[dict[str, Any]] = []
        self._reported: deque[AcphostError] = deque(maxlen=8)

    def take(self) -> list[Event | Token]:
        out, self.out = self.out, []
        return out

    def new(self, cls: type[E], *, trusted: bool = False, hold: bool = False, **fields: Any) -> E:
        """Make the next event, fold it into the state, and queue it for delivery.

        ``trusted`` skips validation, for fields acphost built and typed itself. ``hold``
        folds it only when it is delivered (:meth:`release`): a turn's end is stored with
        the turn's last updates, and their callbacks still see the conversation running.
        """
        if self.held and not hold:
            self.release()  # what is made next comes after them, in the state too
        if "turn" not in fields:
            fields["turn"] = self.turn
        seq = self.state.last_seq + len(self.held) + 1
        if trusted:
            fields["seq"] = seq
            event = construct(cls, fields)
        else:
            event = cls(seq=seq, **fields)
        if hold:
            self.held.append(event)  # type: ignore[arg-type]
        else:
            self.state.apply(event)  # type: ignore[arg-type]
        self.out.append(event)  # type: ignore[arg-type]
        return event

    def release(self, upto: Event | None = None) -> None:
        """Fold held events into the state: all of them, or up to ``upto``."""
        held = self.held
        while held:
            event = held.popleft()
            self.state.apply(event)
            if event is upto:
                return

    def reported(self, error: AcphostError) -> bool:
        """Whether this very error was already recorded (an exit both ends and fails a turn)."""
        return any(error is seen for seen in self._reported)

    def error(self, error: AcphostError, **extra: Any) -> ErrorEvent:
        self._reported.append(error)
        details = error.to_dict()
        for name in ("code", "message", "hint", "retryable", "stderr_tail"):
            details.pop(name, None)
        return self.new(
            ErrorEvent,
            code=error.code,
            message=error.message,
            hint=error.hint,
            retryable=error.retryable,
            stderr_tail=error.stderr_tail if isinstance(error, AgentExited) else None,
            details=details,
            **extra,
        )

    # --- agent messages ------------------------------------------------------------------

    def message(self, message: Any) -> None:
        if isinstance(message, SessionUpdate):
            if message.replay:
                return  # history the agent replays on session/load is already in our log
            if message.meta and message.meta.get(CONFIRMED) and self._known(message.data):
                return  # the agent already announced what its answer confirms
            kind = message.kind
            if kind in _CHUNKS:
                self._chunk(kind, message.data)
                return
            self.flush()
            try:
                self._update(kind, message.data)
            except (ValidationError, TypeError, KeyError, AttributeError, ValueError) as exc:
                self.new(
                    RawEvent,
                    method="session/update",
                    update_kind=kind,
                    data=message.data,
                    error=f"could not type this update: {exc}".splitlines()[0],
                )
            return
        self.flush()
        if isinstance(message, TerminalMessage):
            self.new(
                TerminalEvent,
                terminal_id=message.terminal_id,
                status=message.status,
                command=message.command,
                args=list(message.args),
                cwd=message.cwd,
                output=message.output,
                truncated=message.truncated,
                exit_code=message.exit_code,
                signal=message.signal,
            )
        elif isinstance(message, ExtensionNotification):
            self.new(RawEvent, method=message.method, data=message.params)
        elif isinstance(message, ProtocolErrorMessage):
            self.error(message.error)
        elif isinstance(message, AgentExitMessage) and not message.expected:
            self.error(message.error)

    def _known(self, data: dict[str, Any]) -> bool:
        kind = data.get("sessionUpdate")
        if kind == "current_mode_update":
            return data.get("currentModeId") == self.state.mode_id
        if kind == "config_option_update":
            return data.get("configOptions") == self.state.config_options
        return False

    def _chunk(self, kind: str, data: dict[str, Any]) -> None:
        if kind != self._chunk_kind:
            self.flush()
            self._chunk_kind = kind
        content = data.get("content")
        if isinstance(content, dict) and content.get("type") == "text":
            text = content.get("text")
            if isinstance(text, str) and text:
                self._texts.append(text)
                if self._streams[kind]:  # only when someone listens
                    self.out.append(Token(text, kind == "agent_thought_chunk"))
        elif isinstance(content, dict):
            self._blocks.append(content)

    def flush(self) -> None:
        """Close the message being streamed, if any, as one event."""
        kind = self._chunk_kind
        if kind is None:
            return
        self._chunk_kind = None
        text = "".join(self._texts)
        blocks = self._blocks
        self._texts, self._blocks = [], []
        if not text and not blocks:
            return
        # trusted: the text is joined from strings, the blocks are dicts (see _chunk)
        if kind == "agent_message_chunk":
            self.new(AgentMessageEvent, trusted=True, text=text, content=blocks)
        else:
            self.new(ThoughtEvent, trusted=True, text=text)

    def _update(self, kind: str, data: dict[str, Any]) -> None:
        if kind in ("tool_call", "tool_call_update"):
            self.tool_call(data, announced=kind == "tool_call")
        elif kind == "plan":
            self.new(PlanEvent, entries=data.get("entries") or [])
        elif kind == "plan_removed":
            self.new(PlanEvent, entries=[], data=data)
        elif kind == "plan_update":
            self.new(PlanEvent, entries=self.state.plan, data=data)
        elif kind == "available_commands_update":
            self.new(CommandsEvent, commands=data.get("availableCommands") or [])
        elif kind == "current_mode_update":
            self.new(ModeChangedEvent, mode_id=data["currentModeId"])
        elif kind == "config_option_update":
            self.new(ConfigOptionsEvent, config_options=data.get("configOptions") or [])
        elif kind == "session_info_update":
            self.new(
                SessionInfoEvent,
                title=data.get("title"),
                updated_at=data.get("updatedAt"),
                meta=data.get("_meta"),
            )
        elif kind == "usage_update":
            raw_cost = data.get("cost")
            cost: dict[str, Any] = raw_cost if isinstance(raw_cost, dict) else {}
            fields: dict[str, Any] = {
                "used": data.get("used"),
                "size": data.get("size"),
                "cost": cost.get("amount"),
                "currency": cost.get("currency"),
            }
            self.new(UsageEvent, trusted=_usage_typed(fields), **fields)
        else:
            self.new(RawEvent, method="session/update", update_kind=kind, data=data)

    def tool_call(
        self, data: dict[str, Any], *, announced: bool, source: Source = "agent"
    ) -> ToolCallEvent:
        tool_call_id = data["toolCallId"]
        if not isinstance(tool_call_id, str):
            raise TypeError("toolCallId is not a string")
        fields: dict[str, Any] = {}
        for key, name in _TOOL_FIELDS.items():
            value = data.get(key)
            if value is None:
                continue
            expected = _TOOL_TYPES.get(name)
            if expected is not None and not isinstance(value, expected):
                raise TypeError(f"{key} is not a {expected.__name__}")
            if expected is list and not all(isinstance(item, dict) for item in value):
                raise TypeError(f"{key} holds something other than objects")
            fields[name] = value
        previous = self.state.tool_calls.get(tool_call_id)
        if previous is not None:  # a shallow merge: snapshots are never mutated
            merged = {name: getattr(previous, name) for name in _TOOL_FIELDS.values()}
            merged.update(fields)
            fields = merged
        # checked above, field by field: the snapshot needs no second validation
        return self.new(
            ToolCallEvent, trusted=True, source=source, tool_call_id=tool_call_id, **fields
        )


def _usage_typed(fields: dict[str, Any]) -> bool:
    """Whether a usage update's fields already have their types (else pydantic checks them)."""
    cost, currency = fields["cost"], fields["currency"]
    return (
        all(fields[name] is None or type(fields[name]) is int for name in ("used", "size"))
        and (cost is None or type(cost) is float)
        and (currency is None or type(currency) is str)
    )
