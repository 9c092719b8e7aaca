"""What a scenario sees during one prompt turn: :class:`FakeAgentContext`.

JSON steps and Python scenarios both go through these methods, so the two ways of writing
a scenario cannot drift apart in what they put on the wire.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ._context_base import ContextBase
from ._fake_protocol import REQUEST_CANCELLED
from ._results import (
    DEFAULT_PERMISSION_OPTIONS,
    ClientRequestError,
    PermissionOutcome,
    TerminalResult,
)
from ._results import clean as _clean

__all__ = ("FakeAgentContext",)


class FakeAgentContext(ContextBase):
    """The per-prompt handle given to Python scenarios: session facts plus ACP actions.

    Every sending method first checks for cancellation (raising :class:`TurnCancelled`,
    which ends the turn with stop reason ``cancelled``), so scenarios need no checks of
    their own; client requests already in flight still get their answer.
    """

    async def _chunks(
        self, kind: str, text: str, chunks: int, message_id: str | None, meta: Any
    ) -> None:
        size = max(1, -(-len(text) // max(1, chunks)))
        parts = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        for part in parts:
            update: dict[str, Any] = {
                "sessionUpdate": kind,
                "content": {"type": "text", "text": part},
            }
            if message_id is not None:
                update["messageId"] = message_id
            await self.update(update, meta=meta)

    async def text(
        self, text: str, *, chunks: int = 1, message_id: str | None = None, meta: Any = None
    ) -> None:
        """Stream answer text (``agent_message_chunk``), split into ``chunks`` pieces."""
        await self._chunks("agent_message_chunk", text, chunks, message_id, meta)
        self._turn.agent_text.append(text)

    async def thought(self, text: str, *, chunks: int = 1, meta: Any = None) -> None:
        """Stream a thought (``agent_thought_chunk``) in ``chunks`` pieces."""
        await self._chunks("agent_thought_chunk", text, chunks, None, meta)

    async def user_text(self, text: str, *, meta: Any = None) -> None:
        """Send a ``user_message_chunk`` (as an agent replaying history does)."""
        await self._chunks("user_message_chunk", text, 1, None, meta)

    async def echo_prompt(self, *, chunks: int = 3) -> None:
        """Answer with the prompt's text, streamed in ``chunks`` pieces."""
        await self.text(self.prompt, chunks=chunks)

    async def tool_call(
        self,
        tool_call_id: str,
        title: str,
        *,
        kind: str | None = "other",
        status: str | None = "pending",
        content: Sequence[Any] | None = None,
        locations: Sequence[Any] | None = None,
        raw_input: Any = None,
        name: str | None = None,
        meta: Any = None,
    ) -> None:
        """Start a tool call (``tool_call``); ``name`` is the tool's programmatic name."""
        update = {
            "sessionUpdate": "tool_call",
            "toolCallId": tool_call_id,
            "name": name,
            "title": title,
            "kind": kind,
            "status": status,
            "content": list(content) if content is not None else None,
            "locations": list(locations) if locations is not None else None,
            "rawInput": raw_input,
        }
        await self.update(_clean(update), meta=meta)

    async def tool_update(
        self,
        tool_call_id: str,
        *,
        status: str | None = None,
        title: str | None = None,
        kind: str | None = None,
        content: Sequence[Any] | None = None,
        locations: Sequence[Any] | None = None,
        raw_input: Any = None,
        raw_output: Any = None,
        meta: Any = None,
    ) -> None:
        """Update a tool call (``tool_call_update``): only the fields given are sent."""
        update = {
            "sessionUpdate": "tool_call_update",
            "toolCallId": tool_call_id,
            "status": status,
            "title": title,
            "kind": kind,
            "content": list(content) if content is not None else None,
            "locations": list(locations) if locations is not None else None,
            "rawInput": raw_input,
            "rawOutput": raw_output,
        }
        await self.update(_clean(update), meta=meta)

    async def plan(self, entries: Sequence[Mapping[str, Any] | str], *, meta: Any = None) -> None:
        """Entries are wire objects or bare strings (medium priority, pending)."""
        wire = [
            {"content": e, "priority": "medium", "status": "pending"}
            if isinstance(e, str)
            else dict(e)
            for e in entries
        ]
        await self.update({"sessionUpdate": "plan", "entries": wire}, meta=meta)

    async def mode(self, mode_id: str, *, meta: Any = None) -> None:
        """The agent switches mode itself (``current_mode_update``)."""
        self._session.mode_id = mode_id
        await self.update(
            {"sessionUpdate": "current_mode_update", "currentModeId": mode_id}, meta=meta
        )

    async def config_update(
        self, config_options: Sequence[Mapping[str, Any]] | None = None, *, meta: Any = None
    ) -> None:
        """Replace (or just re-announce) the session's config options."""
        if config_options is not None:
            self._session.config_options = [dict(o) for o in config_options]
        await self.update(
            {"sessionUpdate": "config_option_update", "configOptions": self.config_options},
            meta=meta,
        )

    async def session_info(
        self, *, title: str | None = None, updated_at: str | None = None, meta: Any = None
    ) -> None:
        """Send ``session_info_update``; a title is kept for ``session/list``."""
        if title is not None:
            self._session.title = title
        update = {"sessionUpdate": "session_info_update", "title": title, "updatedAt": updated_at}
        await self.update(_clean(update), meta=meta)

    async def usage(
        self,
        used: int,
        size: int,
        *,
        cost: float | Mapping[str, Any] | None = None,
        currency: str = "USD",
        meta: Any = None,
    ) -> None:
        """A ``usage_update`` (context window ``used``/``size``, optional cost)."""
        update: dict[str, Any] = {"sessionUpdate": "usage_update", "used": used, "size": size}
        if isinstance(cost, int | float):
            update["cost"] = {"amount": cost, "currency": currency}
        elif cost is not None:
            update["cost"] = dict(cost)
        await self.update(update, meta=meta)

    async def commands(self, commands: Sequence[Mapping[str, Any]], *, meta: Any = None) -> None:
        """Offer slash commands (``available_commands_update``)."""
        update = {"sessionUpdate": "available_commands_update", "availableCommands": list(commands)}
        await self.update(update, meta=meta)

    async def notice(
        self,
        title: str,
        *,
        severity: str = "info",
        description: str | None = None,
        meta: Any = None,
    ) -> None:
        """Tell the user something beside the conversation (a ``notice`` update)."""
        update = {"sessionUpdate": "notice", "severity": severity, "title": title}
        if description is not None:
            update["description"] = description
        await self.update(update, meta=meta)

    def _may_compact(self) -> bool:
        if self.settings.get("respect_client_capabilities", True) and not self.has_capability(
            "session.compaction"
        ):
            self.record_failure("compaction updates need the client's session.compaction")
            return False
        return True

    async def compaction(
        self,
        compaction_id: str,
        status: str,
        *,
        summary: str | Sequence[Mapping[str, Any]] | None = None,
        error: str | None = None,
        meta: Any = None,
    ) -> None:
        """A ``compaction_update`` (start, progress or end of a context compaction); a string
        summary is one text block. Not sent (a failure) unless the client advertised
        ``session.compaction``."""
        if not self._may_compact():
            return
        update: dict[str, Any] = {
            "sessionUpdate": "compaction_update",
            "compactionId": compaction_id,
            "status": status,
        }
        if summary is not None:
            blocks = [{"type": "text", "text": summary}] if isinstance(summary, str) else summary
            update["summary"] = [dict(b) for b in blocks]
        if error is not None:
            update["error"] = error
        await self.update(update, meta=meta)

    async def compaction_summary(
        self, compaction_id: str, text: str, *, chunks: int = 1, meta: Any = None
    ) -> None:
        """Stream a compaction's summary text as ``compaction_summary_chunk`` updates."""
        if not self._may_compact():
            return
        size = max(1, -(-len(text) // max(1, chunks)))
        for i in range(0, max(1, len(text)), size):
            content = {"type": "text", "text": text[i : i + size]}
            update = {
                "sessionUpdate": "compaction_summary_chunk",
                "compactionId": compaction_id,
                "content": content,
            }
            await self.update(update, meta=meta)

    async def subagent(
        self,
        subagent_session_id: str,
        *,
        name: str = "worker",
        task: str = "",
        capabilities: Mapping[str, Any] | None = None,
        meta: Any = None,
    ) -> None:
        """Announce a subagent (``subagent_spawned``, unstable); its own updates are then
        sent with ``session_id=subagent_session_id``."""
        update = {
            "sessionUpdate": "subagent_spawned",
            "subagentSessionId": subagent_session_id,
            "name": name,
            "task": task,
            "capabilities": dict(capabilities or {}),
        }
        await self.update(update, meta=meta)

    async def subagent_state(
        self, subagent_session_id: str, state: str, *, meta: Any = None
    ) -> None:
        """A subagent ended: ``completed``, ``failed`` or ``cancelled`` (unstable)."""
        update = {
            "sessionUpdate": "subagent_state_update",
            "subagentSessionId": subagent_session_id,
            "state": state,
        }
        await self.update(update, meta=meta)

    def report_data(self) -> dict[str, Any]:
        """What the agent knows about the session and the client, for tests to check."""
        return {
            "sessionId": self.session_id,
            "cwd": self.cwd,
            "additionalDirectories": self.additional_directories,
            "mcpServers": self.mcp_servers,
            "clientCapabilities": dict(self.client_capabilities),
            "clientInfo": self.client_info,
            "modeId": self.mode_id,
            "configOptions": self.config_options,
            "systemPrompt": self._session.system_prompt,
            "systemPromptMode": self._session.system_prompt_mode,
            "cancelledRequests": list(self._peer.cancelled),
            "title": self._session.title,
            "historyLength": len(self._session.history),
            "turnIndex": self.turn_index,
            "prompt": self.prompt,
            "vars": {k: v for k, v in self.vars.items() if isinstance(v, str | int | float | bool)},
            "failures": list(self.failures),
        }

    async def report(self) -> None:
        """Answer text = the JSON report; also under ``_meta.fakeAgentReport``."""
        data = self.report_data()
        text = orjson.dumps(data).decode()
        await self.update(
            {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}},
            meta={"fakeAgentReport": data},
        )

    # -- client requests -----------------------------------------------------------------
    async def request(
        self, method: str, params: Any = None, *, cancel_request_after: float | None = None
    ) -> Any:
        """Any request to the client; raises :class:`ClientRequestError` on an error answer."""
        self.check()
        return await self._peer.request(method, params, cancel_after=cancel_request_after)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send any JSON-RPC notification to the client."""
        self.check()
        self._peer.notify(method, params)
        await asyncio.sleep(0)

    async def request_permission(
        self,
        tool_call_id: str,
        title: str | None = None,
        options: Sequence[Mapping[str, Any]] | None = None,
        *,
        kind: str | None = None,
        tool_call: Mapping[str, Any] | None = None,
        cancel_request_after: float | None = None,
        meta: Any = None,
        session_id: str | None = None,
    ) -> PermissionOutcome:
        """Ask the client (as ``session_id``: a subagent's); a cancelled request
        (``-32800``) counts as outcome ``cancelled``."""
        offered = [dict(o) for o in (options or DEFAULT_PERMISSION_OPTIONS)]
        call = _clean({"toolCallId": tool_call_id, "title": title, "kind": kind})
        call.update(tool_call or {})
        params: dict[str, Any] = {
            "sessionId": session_id or self.session_id,
            "toolCall": call,
            "options": offered,
        }
        if meta is not None:
            params["_meta"] = meta
        try:
            result = await self.request(
                "session/request_permission", params, cancel_request_after=cancel_request_after
            )
        except ClientRequestError as exc:
            if exc.code == REQUEST_CANCELLED:
                return PermissionOutcome("cancelled")
            raise
        outcome = result.get("outcome") if isinstance(result, dict) else None
        if isinstance(outcome, dict) and outcome.get("outcome") == "selected":
            option_id = str(outcome.get("optionId"))
            kinds = {o.get("optionId"): o.get("kind") for o in offered}
            return PermissionOutcome("selected", option_id, kinds.get(option_id))
        if isinstance(outcome, dict) and outcome.get("outcome") == "cancelled":
            return PermissionOutcome("cancelled")
        raise ClientRequestError("session/request_permission", -32603, f"bad outcome {result!r}")

    async def read_file(
        self, path: str, *, line: int | None = None, limit: int | None = None
    ) -> str:
        """Read a file through the client (``fs/read_text_file``); fails unless it offers fs."""
        self._require("fs/read_text_file", "fs.readTextFile")
        params = _clean(
            {"sessionId": self.session_id, "path": self.resolve(path), "line": line, "limit": limit}
        )
        result = await self.request("fs/read_text_file", params)
        return str(result.get("content", "")) if isinstance(result, dict) else ""

    async def write_file(self, path: str, content: str) -> None:
        """Write a file through the client (``fs/write_text_file``); fails unless it offers fs."""
        self._require("fs/write_text_file", "fs.writeTextFile")
        params = {"sessionId": self.session_id, "path": self.resolve(path), "content": content}
        await self.request("fs/write_text_file", params)

    async def create_terminal(
        self,
        command: str,
        args: Sequence[str] | None = None,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        output_byte_limit: int | None = None,
    ) -> str:
        """``terminal/create``; a command with spaces and no args is split shell-style."""
        self._require("terminal/create", "terminal")
        if args is None and " " in command.strip():
            command, *rest = shlex.split(command)
            args = rest
        params = _clean(
            {
                "sessionId": self.session_id,
                "command": command,
                "args": list(args or []),
                "env": [{"name": k, "value": v} for k, v in env.items()] if env else None,
                "cwd": self.resolve(cwd) if cwd else self.cwd,
                "outputByteLimit": output_byte_limit,
            }
        )
        result = await self.request("terminal/create", params)
        return str(result["terminalId"])

    async def _terminal_call(self, method: str, terminal_id: str) -> dict[str, Any]:
        result = await self._peer.request(
            method, {"sessionId": self.session_id, "terminalId": terminal_id}
        )
        return result if isinstance(result, dict) else {}

    async def wait_for_terminal_exit(self, terminal_id: str) -> dict[str, Any]:
        """Wait until a client terminal's command exits (``terminal/wait_for_exit``)."""
        return await self._terminal_call("terminal/wait_for_exit", terminal_id)

    async def terminal_output(self, terminal_id: str) -> dict[str, Any]:
        """A client terminal's output so far and exit status (``terminal/output``)."""
        return await self._terminal_call("terminal/output", terminal_id)

    async def kill_terminal(self, terminal_id: str) -> None:
        """Kill a client terminal's command, keeping its output (``terminal/kill``)."""
        await self._terminal_call("terminal/kill", terminal_id)

    async def release_terminal(self, terminal_id: str) -> None:
        """Release a client terminal: the client kills it if needed and forgets it."""
        await self._terminal_call("terminal/release", terminal_id)

    async def terminal(
        self,
        command: str,
        args: Sequence[str] | None = None,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        output_byte_limit: int | None = None,
        tool_call_id: str | None = None,
    ) -> TerminalResult:
        """create → (show in tool call) → wait_for_exit → output → release, like real agents.

        The terminal is released even if the turn is cancelled meanwhile.
        """
        terminal_id = await self.create_terminal(
            command, args, cwd=cwd, env=env, output_byte_limit=output_byte_limit
        )
        try:
            if tool_call_id is not None:
                await self.tool_update(
                    tool_call_id,
                    status="in_progress",
                    content=[{"type": "terminal", "terminalId": terminal_id}],
                )
            waiting = asyncio.ensure_future(self.wait_for_terminal_exit(terminal_id))
            cancel = asyncio.ensure_future(self._turn.cancel_event.wait())
            try:
                await asyncio.wait({waiting, cancel}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                cancel.cancel()
            if not waiting.done():  # cancelled turn: stop the command, as real agents do
                await self.kill_terminal(terminal_id)
            exit_status = await waiting
            output = await self.terminal_output(terminal_id)
        finally:
            await self.release_terminal(terminal_id)
        status = output.get("exitStatus") or exit_status
        return TerminalResult(str(output.get("output", "")), dict(status or {}))

    async def elicit(
        self,
        message: str,
        schema: Mapping[str, Any] | None = None,
        *,
        tool_call_id: str | None = None,
        url: str | None = None,
        elicitation_id: str | None = None,
    ) -> dict[str, Any]:
        """``elicitation/create``: a form, or (with ``url``) a URL to open; returns the
        client's result object."""
        mode = "url" if url is not None else "form"
        self._require("elicitation/create", f"elicitation.{mode}")
        asked: dict[str, Any] = (
            {"url": url, "elicitationId": elicitation_id or f"elicit-{self.session_id}"}
            if url is not None
            else {"requestedSchema": dict(schema or {"type": "object", "properties": {}})}
        )
        params = _clean(
            {
                "sessionId": self.session_id,
                "mode": mode,
                "message": message,
                **asked,
                "toolCallId": tool_call_id,
            }
        )
        result = await self.request("elicitation/create", params)
        return result if isinstance(result, dict) else {}
