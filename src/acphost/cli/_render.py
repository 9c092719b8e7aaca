"""Rendering conversations for people: one renderer for ``acphost run`` and for replays.

A live run and a replay of its stored events go through the same :class:`Renderer`, so they
print the same thing. The only live-only input is streamed text (``on_token``/``on_thought``);
the aggregated message event that follows it prints only what was not streamed, which is how a
replay (no tokens, only stored messages) ends up with the same lines.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.text import Text

from acphost.cli._blocks import BlockPrinter
from acphost.cli._common import Report
from acphost.cli._wording import (
    ANSWERS,
    COMPACTION,
    DECISIONS,
    INDENT,
    NOTICE_STYLE,
    PLAN_STATUS,
    THINKING,
    TOOL_STATUS,
    Stream,
    block_key,
    format_cost,
    format_usage,
    model_of,
    waiting_on,
)
from acphost.conversation import ConversationState
from acphost.events import (
    AgentMessageEvent,
    CompactionEvent,
    ConfigOptionsEvent,
    ElicitationAnsweredEvent,
    ElicitationCompletedEvent,
    ElicitationRequestedEvent,
    ErrorEvent,
    Event,
    ModeChangedEvent,
    NoticeEvent,
    PermissionDecidedEvent,
    PermissionModeEvent,
    PermissionRequestedEvent,
    PlanEvent,
    RawEvent,
    SessionEvent,
    SessionInfoEvent,
    StatusChangedEvent,
    SubagentEvent,
    ThoughtEvent,
    ToolCallEvent,
    TurnEndedEvent,
    TurnResumedEvent,
    TurnStalledEvent,
    TurnStartedEvent,
    UserMessageEvent,
)

__all__ = ["Renderer"]


class Renderer:
    """Prints a conversation's events as they come (or as they were stored).

    ``verbose`` shows tool output in full, tool locations and raw (untyped) events; otherwise
    long text is cut at ``max_lines`` so a chatty tool does not bury the answer. ``workspace``
    makes diff paths relative, so the same run renders the same wherever it is replayed from.
    ``report``, when given, takes the error events (a live run prints them once, on stderr);
    otherwise they are rendered in line with the rest.
    """

    def __init__(
        self,
        console: Console,
        *,
        verbose: bool = False,
        workspace: str | None = None,
        max_lines: int = 20,
        max_diff_lines: int = 200,
        report: Report | None = None,
    ) -> None:
        self.console = console
        self.verbose = verbose
        self.workspace = workspace
        self.max_lines = max_lines
        self.max_diff_lines = max_diff_lines
        self.report = report
        self._open: Stream | None = None  # a streamed line is open (no newline yet)
        self._at_line_start = True
        self._streamed: dict[Stream, bool] = {"text": False, "thought": False}
        self._tools: dict[str, tuple[str, str]] = {}  # id -> (status, content shown)
        self._compactions: dict[str, str] = {}  # id -> status shown
        self._plan: list[dict[str, Any]] | None = None
        self._model: str | None = None
        self._status: Status | None = None
        self._blocks = BlockPrinter(self)

    # --- progress ------------------------------------------------------------------------

    def start_spinner(self, text: str) -> None:
        """A spinner for a slow step (agent start-up); the agent's first event stops it."""
        self.stop_spinner()
        self._status = self.console.status(Text(text))
        self._status.start()

    def stop_spinner(self) -> None:
        status, self._status = self._status, None
        if status is not None:
            status.stop()

    # --- streamed text -------------------------------------------------------------------

    def on_token(self, text: str) -> None:
        self._stream("text", text)

    def on_thought(self, text: str) -> None:
        self._stream("thought", text)

    def _stream(self, kind: Stream, text: str) -> None:
        self.stop_spinner()
        if self._open != kind:
            self._end_line()
            self._open = kind
            if kind == "thought":
                self._write(Text(THINKING, style="dim"))
        self._write(Text(text, style="dim italic" if kind == "thought" else ""))
        self._streamed[kind] = True

    def _write(self, text: Text) -> None:
        if text.plain:
            self.console.print(text, end="")
            self._at_line_start = text.plain.endswith("\n")

    def _end_line(self) -> None:
        """Close a streamed line, so what follows starts on its own line."""
        if self._open is not None and not self._at_line_start:
            self.console.print()
        self._open = None
        self._at_line_start = True

    def _line(self, *parts: str | tuple[str, str] | Text) -> None:
        self._end_line()
        self.console.print(Text.assemble(*parts))

    def line(self, *parts: str | tuple[str, str] | Text) -> None:
        """A line of the caller's own (a chat's note), on a line of its own even mid-stream."""
        self._line(*parts)

    # --- events --------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Render one event; events a person does not need (status, usage...) print nothing."""
        if not isinstance(event, UserMessageEvent | TurnStartedEvent | StatusChangedEvent):
            self.stop_spinner()  # the agent (or an error) spoke: the slow start is over
        if isinstance(event, AgentMessageEvent):
            self._message("text", event.text, event.content, replay=event.replay)
        elif isinstance(event, ThoughtEvent):
            self._message("thought", event.text, [], replay=False)
        elif isinstance(event, ToolCallEvent):
            self._tool_call(event)
        elif isinstance(event, PlanEvent):
            self._plan_changed(event.entries)
        elif isinstance(event, PermissionRequestedEvent):
            who = f" (subagent {event.session_id})" if event.session_id else ""
            self._line(
                ("? ", "bold yellow"), ("permission requested: ", "yellow"), event.title, who
            )
        elif isinstance(event, PermissionDecidedEvent):
            label, style = DECISIONS.get(event.decision, (event.decision, "yellow"))
            self._line("  → ", (label, style), (f" (by {event.decided_by})", "dim"))
        elif isinstance(event, UserMessageEvent):
            if event.source != "agent":  # not the agent relaying it (an echo of the prompt)
                steered = ("  (steered into the running turn)", "dim") if event.steered else ""
                self._line(("> ", "bold blue"), (event.text, "bold"), steered)
        elif isinstance(event, SessionEvent):
            self._session(event)
        elif isinstance(event, ErrorEvent):
            self._error(event)
        else:
            self._other(event)

    def _other(self, event: Event) -> None:
        if isinstance(event, TurnStartedEvent) and event.attempt > 1:
            self._line((f"↻ retrying (attempt {event.attempt})", "yellow"))
        elif isinstance(event, ModeChangedEvent):
            self._line(("mode: ", "dim"), event.mode_id)
        elif isinstance(event, ConfigOptionsEvent):
            model = model_of(event.config_options)
            if model is not None and model != self._model:
                self._model = model
                self._line(("model: ", "dim"), model)
        elif isinstance(event, PermissionModeEvent):
            self._line(
                ("permission: ", "dim"), (event.message, "dim" if event.can_ask else "yellow")
            )
        elif isinstance(event, TurnStalledEvent):
            self._line((f"⏸ no progress for {event.idle_s:.0f} s", "yellow"), waiting_on(event))
        elif isinstance(event, TurnResumedEvent):
            self._line((f"▶ moving again after {event.stalled_s:.0f} s", "dim"))
        elif isinstance(event, SessionInfoEvent) and event.title and event.source == "agent":
            self._line(("title: ", "dim"), event.title)
        elif isinstance(event, NoticeEvent):
            style = NOTICE_STYLE.get(event.severity, "yellow")
            self._line(("! ", f"bold {style}"), (event.title, style))
            if event.description:
                self._blocks.text(event.description, "dim")
        elif isinstance(event, CompactionEvent):
            self._compaction(event)
        elif isinstance(event, ElicitationRequestedEvent | ElicitationAnsweredEvent):
            self._elicitation(event)
        elif isinstance(event, ElicitationCompletedEvent) and event.known:
            self._line(("  ✓ the agent says the interaction at the URL is finished", "dim"))
        elif isinstance(event, SubagentEvent):
            what = f"subagent {event.name or event.subagent_session_id}"
            if event.state == "running":
                self._line(
                    ("↳ ", "cyan"), (what, "bold"), (f": {event.task}" if event.task else "")
                )
            else:
                style = "green" if event.state == "completed" else "yellow"
                self._line(("↳ ", "cyan"), (what, "bold"), " ", (event.state, style))
        elif isinstance(event, RawEvent) and self.verbose:
            what = " ".join(filter(None, [event.method, event.update_kind]))
            self._line((f"raw {what}", "dim"))

    def _elicitation(self, event: ElicitationRequestedEvent | ElicitationAnsweredEvent) -> None:
        """The request and its answer (never what was typed: that is in the log)."""
        if isinstance(event, ElicitationRequestedEvent):
            what = "asks you to open a URL" if event.mode == "url" else "asks you"
            self._line(("? ", "bold yellow"), (f"the agent {what}: ", "yellow"), event.message)
            return
        label, style = ANSWERS.get(event.action, (event.action, "yellow"))
        reason = f": {event.reason}" if event.reason else ""
        self._line("  → ", (label, style), (f" (by {event.answered_by}{reason})", "dim"))

    def _message(
        self, kind: Stream, text: str, content: list[dict[str, Any]], *, replay: bool
    ) -> None:
        if replay:
            return  # history an agent replays on session/load: already shown in its own turn
        if self._streamed[kind]:
            self._streamed[kind] = False
            self._end_line()
        elif text:
            self._end_line()
            prefix = Text(THINKING, style="dim") if kind == "thought" else Text()
            body = Text(text, style="dim italic" if kind == "thought" else "")
            self.console.print(Text.assemble(prefix, body), end="" if text.endswith("\n") else "\n")
        for block in content:  # non-text blocks never stream
            self._line(INDENT, (f"[{block.get('type', 'content')}]", "dim"))

    def _session(self, event: SessionEvent) -> None:
        self._model = model_of(event.config_options) or self._model
        how = event.kind.removeprefix("session_")
        parts: list[str] = [f"● session {how}"]
        info = event.agent_info or {}
        name = info.get("title") or info.get("name")
        if name:
            parts.append(" ".join(str(p) for p in (name, info.get("version")) if p))
        if event.modes and event.modes.get("currentModeId"):
            parts.append(f"mode {event.modes['currentModeId']}")
        if self._model:
            parts.append(f"model {self._model}")
        self._line((" · ".join(parts), "dim"))
        if not event.context_restored:
            reason = f": {event.reason}" if event.reason else ""
            self._line(("  the agent's context was not restored" + reason, "yellow"))

    def _error(self, event: ErrorEvent) -> None:
        if self.report is not None:
            self._end_line()
            methods = event.details.get("methods")
            self.report.error(
                event.code,
                event.message,
                event.hint,
                event.stderr_tail,
                methods if isinstance(methods, list) else (),
            )
            return
        self._line(("✗ error ", "bold red"), (event.code, "red"), f": {event.message}")
        if event.hint:
            self._line(INDENT, ("hint: ", "dim"), event.hint)
        if event.stderr_tail:
            self._blocks.text(event.stderr_tail, "dim")

    def _compaction(self, event: CompactionEvent) -> None:
        """A compaction when it starts and when it ends, with its summary or error."""
        if self._compactions.get(event.compaction_id) == event.status:
            return  # more of its summary streamed: shown when it completes
        self._compactions[event.compaction_id] = event.status
        label, style = COMPACTION.get(event.status, (f"⟳ compaction {event.status}", "yellow"))
        self._line((label, style))
        if event.error:
            self._line(INDENT, (event.error, "red"))
        if event.status == "completed":
            for block in event.summary:
                if block.get("type") == "text":
                    self._blocks.text(str(block.get("text", "")), "dim")
                else:
                    self._line(INDENT, (f"[{block.get('type', 'content')}]", "dim"))

    # --- tool calls and plans ------------------------------------------------------------

    def _tool_call(self, event: ToolCallEvent) -> None:
        """Show a call when it starts and on each status change, and content when it changes."""
        shown = json.dumps(event.content, sort_keys=True, default=str)
        previous = self._tools.get(event.tool_call_id)
        status_changed = previous is None or previous[0] != event.status
        content_changed = bool(event.content) and (previous is None or previous[1] != shown)
        if not status_changed and not content_changed:
            return
        self._tools[event.tool_call_id] = (event.status, shown)
        symbol, style = TOOL_STATUS.get(event.status, ("•", "yellow"))
        about = " · ".join(filter(None, (event.name, event.tool_kind)))
        kind = f" ({about})" if about else ""
        self._line(
            (f"{symbol} ", style),
            (event.title or event.tool_call_id, "bold"),
            (kind, "dim"),
            " ",
            (event.status, style),
        )
        if self.verbose:
            for location in event.locations:
                self._line(INDENT, (f"at {location.get('path', '?')}", "dim"))
        if content_changed:
            for block in event.content:
                self._blocks.content(block)
        exit_status = event.raw_output if isinstance(event.raw_output, dict) else {}
        code, killed_by = exit_status.get("exitCode"), exit_status.get("signal")
        if code not in (0, None) or killed_by:  # a command's failure, beyond its output
            what = f"exit code {code}" if code is not None else f"killed by {killed_by}"
            self._line(INDENT, (what, "red"))

    def show_request(self, tool_call: dict[str, Any], state: ConversationState | None) -> None:
        """Before a permission prompt: the full command and the full diffs it would allow.

        ``tool_call`` is the request's own (often partial) tool call; what the conversation
        already knows of that call fills the gaps.
        """
        known: dict[str, Any] = {}
        call_id = str(tool_call.get("toolCallId", ""))
        if state is not None and call_id:
            with state:
                if call_id in state.tool_calls:
                    event = state.tool_calls[call_id]
                    known = {"rawInput": event.raw_input, "content": event.content}
        raw = tool_call.get("rawInput") or known.get("rawInput")
        command = raw.get("command") if isinstance(raw, dict) else None
        if isinstance(command, list):
            command = shlex.join(str(part) for part in command)
        if command:
            args = raw.get("args") if isinstance(raw, dict) else None
            if isinstance(args, list) and args:
                command = f"{command} {shlex.join(str(a) for a in args)}"
            self._line(INDENT, ("$ ", "bold"), str(command))
        verbose, self.verbose = self.verbose, True  # nothing cut: this is what is allowed
        try:
            for block in tool_call.get("content") or known.get("content") or []:
                is_diff = isinstance(block, dict) and block.get("type") == "diff"
                if is_diff and block_key(block) not in self._blocks.whole_diffs:
                    self._blocks.diff(block)
        finally:
            self.verbose = verbose

    def _plan_changed(self, entries: list[dict[str, Any]]) -> None:
        if entries == self._plan:
            return
        self._plan = entries
        if not entries:
            self._line(("plan cleared", "dim"))
            return
        self._line(("plan", "bold"))
        for entry in entries:
            mark, style = PLAN_STATUS.get(str(entry.get("status")), ("[?]", "yellow"))
            self._line("  ", (mark, style), " ", str(entry.get("content", "")))

    # --- the end of a turn ---------------------------------------------------------------

    def summary(self, ended: TurnEndedEvent, state: ConversationState) -> None:
        """Stop reason, usage, cost, duration and the id to replay it with."""
        self.stop_spinner()
        self._end_line()
        reason = ended.stop_reason
        style = "green" if reason == "end_turn" else "red" if reason == "error" else "yellow"
        head: list[str | tuple[str, str]] = [("── stop reason: ", "dim"), (reason, f"bold {style}")]
        if ended.error_code:
            head.append((f" ({ended.error_code})", style))
        head.append((f" · {ended.duration_s:.1f} s", "dim"))
        self._line(*head)
        facts = []
        if ended.usage is not None:
            facts.append(f"usage: {format_usage(ended.usage)}")
        if ended.cost is not None:
            facts.append(f"cost: {format_cost(ended.cost, state.currency)}")
        if state.context_used is not None:
            size = f"/{state.context_size:,}" if state.context_size else ""
            facts.append(f"context: {state.context_used:,}{size}")
        if facts:
            self._line("   ", " · ".join(facts))
        self._line("   ", ("conversation: ", "dim"), state.id)
