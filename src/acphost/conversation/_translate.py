"""Turn what agents say into events, folding each into the state as it is made.

Runs on the driver (caller's thread or loop) under the state lock. Message chunks are joined
into one message event (their deltas go to ``on_token`` as they come); tool calls are merged
into full snapshots, tolerating real agents' quirks (a repeated ``tool_call`` id merges, an
update for an unknown id creates the call); anything that cannot be typed becomes a raw event.
Nothing the agent sent is lost: what a typed event has no field for is kept on it as sent
(``extra``, ``raw_chunks``), and history replayed while a session is reattached is recorded
raw, as replay, folded into nothing.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import ValidationError

from acphost._event_base import Source
from acphost.acp.messages import (
    AgentExitMessage,
    ExtensionNotification,
    ProtocolErrorMessage,
    RefusedRequest,
    SessionUpdate,
    TerminalMessage,
)
from acphost.conversation import _subagents as subagents
from acphost.conversation._compaction import SummaryChunks, merge_update
from acphost.conversation._construct import E, construct
from acphost.conversation._elicitation import completion_fields
from acphost.conversation._items import CONFIRMED, Token
from acphost.conversation._state import ConversationState
from acphost.conversation._update_keys import (
    COST_KEYS,
    KNOWN_KEYS,
    TOOL_FIELDS,
    TOOL_TYPES,
    extra_keys,
    usage_typed,
)
from acphost.errors import AcphostError, AgentExited
from acphost.events import (
    AgentMessageEvent,
    CommandsEvent,
    CompactionEvent,
    ConfigOptionsEvent,
    ElicitationCompletedEvent,
    ErrorEvent,
    Event,
    ModeChangedEvent,
    NoticeEvent,
    PlanEvent,
    RawEvent,
    SessionInfoEvent,
    SubagentEvent,
    SubagentUpdateEvent,
    TerminalEvent,
    ThoughtEvent,
    ToolCallEvent,
    UsageEvent,
    UserMessageEvent,
)

__all__ = ["TITLE_WIDTH", "Translator", "short_title"]

TITLE_WIDTH = 60
"""At most this many characters of the first prompt make an untitled conversation's title."""

_CHUNKS = ("agent_message_chunk", "agent_thought_chunk", "user_message_chunk")
# Replayed kinds that say what the session is now (not what happened in it): folded as usual.
_SESSION_STATE = frozenset(
    (
        "available_commands_update",
        "current_mode_update",
        "config_option_update",
        "session_info_update",
    )
)


class Translator:
    """Builds one delivery batch: a list of events and token deltas, in arrival order."""

    def __init__(
        self, state: ConversationState, *, tokens: bool = True, thoughts: bool = True
    ) -> None:
        self.state = state
        self._streams = {
            "agent_message_chunk": tokens,
            "agent_thought_chunk": thoughts,
            "user_message_chunk": False,  # the agent relaying a user message: not its output
        }
        self.turn: int | None = None
        self.out: list[Event | Token] = []
        # made and queued, folded into the state only when delivered (see new(hold=True))
        self.held: deque[Event] = deque()
        self._chunk_kind: str | None = None
        self._message_id: str | None = None
        self._texts: list[str] = []
        self._length = 0  # of the texts so far
        self._blocks: list[dict[str, Any]] = []
        self._raw_chunks: list[dict[str, Any]] = []
        self._summary: SummaryChunks | None = None  # a compaction summary being streamed
        self._reported: deque[AcphostError] = deque(maxlen=8)
        # a title was given (the conversation's own, or stored): the first prompt makes none
        self.titled = False

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
        if cls is UserMessageEvent and not self.titled and event.source == "user":
            self._title_from(event)  # type: ignore[arg-type]
        return event

    def _title_from(self, message: UserMessageEvent) -> None:
        """Title an untitled conversation after its first prompt, until the agent names it."""
        title = short_title(message.text)
        if title is None or self.state.title is not None:
            return
        self.titled = True
        self.new(SessionInfoEvent, trusted=True, source="host", title=title, turn=message.turn)

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
            kind = message.kind
            if message.replay and kind not in _SESSION_STATE:
                self._replayed(kind, message.data)
                return
            if kind in subagents.KINDS or message.session_id in self.state.subagents:
                self._subagent(kind, message)
                return
            if message.meta and message.meta.get(CONFIRMED) and self._known(message.data):
                return  # the agent already announced what its answer confirms
            if kind in _CHUNKS:
                self._chunk(kind, message.data)
                return
            if self._summary is None or not self._summary.continues(kind, message.data):
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
            if message.method == "elicitation/complete":
                fields = completion_fields(self.state, message.params)
                self.new(ElicitationCompletedEvent, trusted=True, **fields)
            else:
                self.new(RawEvent, method=message.method, data=message.params)
        elif isinstance(message, RefusedRequest):
            self.new(
                RawEvent,
                method=message.method,
                data=message.params,
                request_id=message.request_id,
                error=f"acphost does not offer this method: answered with error "
                f"{message.code} ({message.message})",
            )
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

    def _replayed(self, kind: str, data: dict[str, Any]) -> None:
        """Record history the agent replays while its session is reattached, as sent."""
        self.flush()
        self.new(  # trusted: every field is as the agent sent it, or acphost's own
            RawEvent,
            trusted=True,
            method="session/update",
            update_kind=kind,
            data=data,
            replay=True,
            turn=None,  # history, of no turn of ours
        )

    def _chunk(self, kind: str, data: dict[str, Any]) -> None:
        content = data.get("content")
        if (  # the common case first: plain text, more of the message being streamed
            kind == self._chunk_kind
            and len(data) == 2
            and type(content) is dict
            and len(content) == 2
            and content.get("type") == "text"
            and type(text := content.get("text")) is str
        ):
            if text:
                self._texts.append(text)
                self._length += len(text)
                if self._streams[kind]:  # only when someone listens
                    self.out.append(Token(text, kind == "agent_thought_chunk"))
            return
        message_id = data.get("messageId")
        if not isinstance(message_id, str):
            message_id = None  # a malformed one stays in the chunk, kept raw (not plain)
        if kind != self._chunk_kind or (
            message_id is not None and self._message_id not in (None, message_id)
        ):
            self.flush()  # another kind, or another message of the same kind
            self._chunk_kind = kind
        if message_id is not None:
            self._message_id = message_id
        # plain: the kind, a text block (or a block that `content` keeps) and the id only
        plain = len(data) == (2 if message_id is None else 3)
        text = content.get("text") if isinstance(content, dict) else None
        if isinstance(content, dict) and isinstance(text, str) and content.get("type") == "text":
            plain = plain and len(content) == 2
            if text:
                self._texts.append(text)
                if self._streams[kind]:  # only when someone listens
                    self.out.append(Token(text, kind == "agent_thought_chunk"))
        elif isinstance(content, dict) and kind != "agent_thought_chunk":
            self._blocks.append(content)
            text = None
        else:
            plain, text = False, None
        if not plain:
            self._raw_chunks.append({"at": self._length, "chunk": data})
        if text:
            self._length += len(text)

    def flush(self) -> None:
        """Close the message (or compaction summary) being streamed, if any, as one event."""
        summary, self._summary = self._summary, None
        if summary is not None and (summary.blocks or summary.raw):
            previous = self.state.compactions.get(summary.compaction_id)
            self.new(CompactionEvent, **summary.snapshot(previous))
        kind = self._chunk_kind
        if kind is None:
            return
        self._chunk_kind = None
        text = "".join(self._texts)
        blocks, raw_chunks, message_id = self._blocks, self._raw_chunks, self._message_id
        self._texts, self._blocks, self._raw_chunks = [], [], []
        self._length, self._message_id = 0, None
        if not text and not blocks and not raw_chunks:
            return
        # trusted: the text is joined from strings, the blocks are dicts (see _chunk)
        fields: dict[str, Any] = {"text": text}
        if message_id is not None:
            fields["message_id"] = message_id
        if raw_chunks:
            fields["raw_chunks"] = raw_chunks
        if kind == "agent_thought_chunk":
            self.new(ThoughtEvent, trusted=True, **fields)
        elif kind == "agent_message_chunk":
            self.new(AgentMessageEvent, trusted=True, content=blocks, **fields)
        else:  # the agent relaying a user message (an echo of the prompt, or its history)
            self.new(UserMessageEvent, trusted=True, content=blocks, source="agent", **fields)

    def _update(self, kind: str, data: dict[str, Any]) -> None:
        if kind in ("tool_call", "tool_call_update"):
            self.tool_call(data, announced=kind == "tool_call")
            return
        known = KNOWN_KEYS.get(kind)
        extra = None if known is None else extra_keys(data, known)
        if kind == "plan":
            self.new(PlanEvent, entries=data.get("entries") or [], extra=extra)
        elif kind == "plan_removed":
            self.new(PlanEvent, entries=[], data=data)
        elif kind == "plan_update":
            self.new(PlanEvent, entries=self.state.plan, data=data)
        elif kind == "available_commands_update":
            commands = data.get("availableCommands") or []
            self.new(CommandsEvent, commands=commands, extra=extra)
        elif kind == "current_mode_update":
            self.new(ModeChangedEvent, mode_id=data["currentModeId"], extra=extra)
        elif kind == "config_option_update":
            options = data.get("configOptions") or []
            self.new(ConfigOptionsEvent, config_options=options, extra=extra)
        elif kind == "session_info_update":
            self.new(
                SessionInfoEvent,
                title=data.get("title"),
                updated_at=data.get("updatedAt"),
                meta=data.get("_meta"),
                extra=extra,
            )
        elif kind == "usage_update":
            self._usage(data, extra)
        elif kind == "notice":
            fields = {"title": data["title"], "description": data.get("description")}
            if "severity" in data:
                fields["severity"] = data["severity"]
            self.new(NoticeEvent, meta=data.get("_meta"), extra=extra, **fields)
        elif kind == "compaction_update":
            previous = self.state.compactions.get(data["compactionId"])
            self.new(CompactionEvent, **merge_update(previous, data))
        elif kind == "compaction_summary_chunk":
            self._summary = self._summary or SummaryChunks(data["compactionId"])
            self._summary.add(data)
        else:
            self.new(RawEvent, method="session/update", update_kind=kind, data=data)

    def _subagent(self, kind: str, message: SessionUpdate) -> None:
        """A subagent's spawn or end (a snapshot), or an update of its own session (as sent).

        Its updates are not joined into the parent's messages: no order between the two
        sessions is implied, so what the parent is streaming goes on being joined."""
        data = message.data
        if kind not in subagents.KINDS:
            self.new(
                SubagentUpdateEvent,
                subagent_session_id=message.session_id,
                update_kind=kind,
                data=data,
            )
            return
        self.flush()
        child = data.get("subagentSessionId")
        previous = self.state.subagents.get(child) if isinstance(child, str) else None
        try:
            self.new(SubagentEvent, **subagents.snapshot(kind, message.session_id, data, previous))
        except ValidationError as exc:
            error = f"could not type this update: {exc}".splitlines()[0]
            self.new(RawEvent, method="session/update", update_kind=kind, data=data, error=error)

    def _usage(self, data: dict[str, Any], extra: dict[str, Any] | None) -> None:
        raw_cost = data.get("cost")
        cost: dict[str, Any] = raw_cost if isinstance(raw_cost, dict) else {}
        if raw_cost is not None and not (cost and cost.keys() <= COST_KEYS):
            extra = {**(extra or {}), "cost": raw_cost}  # more than an amount and a currency
        fields: dict[str, Any] = {
            "used": data.get("used"),
            "size": data.get("size"),
            "cost": cost.get("amount"),
            "currency": cost.get("currency"),
        }
        trusted = usage_typed(fields)
        fields["extra"] = extra
        self.new(UsageEvent, trusted=trusted, **fields)

    def tool_call(
        self, data: dict[str, Any], *, announced: bool, source: Source = "agent"
    ) -> ToolCallEvent:
        tool_call_id = data["toolCallId"]
        if not isinstance(tool_call_id, str):
            raise TypeError("toolCallId is not a string")
        fields: dict[str, Any] = {}
        for key, name in TOOL_FIELDS.items():
            value = data.get(key)
            if value is None:
                continue
            expected = TOOL_TYPES.get(name)
            if expected is not None and not isinstance(value, expected):
                raise TypeError(f"{key} is not a {expected.__name__}")
            if expected is list and not all(isinstance(item, dict) for item in value):
                raise TypeError(f"{key} holds something other than objects")
            fields[name] = value
        extra = extra_keys(data, KNOWN_KEYS["tool_call"])
        previous = self.state.tool_calls.get(tool_call_id)
        if previous is not None:  # a shallow merge: snapshots are never mutated
            merged = {name: getattr(previous, name) for name in TOOL_FIELDS.values()}
            merged.update(fields)
            fields = merged
            if previous.extra:
                extra = {**previous.extra, **extra} if extra else previous.extra
        if extra:
            fields["extra"] = extra
        # checked above, field by field: the snapshot needs no second validation
        return self.new(
            ToolCallEvent, trusted=True, source=source, tool_call_id=tool_call_id, **fields
        )


def short_title(text: str, width: int = TITLE_WIDTH) -> str | None:
    """The first line of ``text`` with its spaces collapsed, cut at a word to ``width``."""
    line = next((" ".join(line.split()) for line in text.splitlines() if line.strip()), "")
    if len(line) <= width:
        return line or None
    cut = line[: width - 1]
    if " " in cut[width // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"
