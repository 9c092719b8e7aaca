"""State, cancellation and fault injection of :class:`FakeAgentContext` (see ``_context``).

Split out so the protocol-breaking helpers stay apart from the well-behaved ACP actions.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from ._fake_protocol import Peer, log
from ._fake_sessions import SessionState, TurnState
from ._results import CapabilityMissing, FailTurn, StopTurn, TurnCancelled


class ContextBase:
    """Session facts, the cancel check, raw updates and the fault steps."""

    def __init__(
        self,
        *,
        peer: Peer,
        session: SessionState,
        turn: TurnState,
        settings: Mapping[str, Any],
        client_capabilities: Mapping[str, Any],
        client_info: Mapping[str, Any] | None,
        prompt: str,
        prompt_blocks: Sequence[Any],
        failures: list[str],
    ) -> None:
        self._peer = peer
        self._session = session
        self._turn = turn
        self.settings = settings
        self.client_capabilities: Mapping[str, Any] = client_capabilities
        self.client_info = client_info
        self.prompt = prompt
        self.prompt_blocks = list(prompt_blocks)
        self.turn_index = session.turn_index
        self.failures = failures
        #: ``usage`` of the ``session/prompt`` response (wire names), if any.
        self.prompt_usage: dict[str, Any] | None = None
        #: ``_meta`` of the ``session/prompt`` response, if any.
        self.response_meta: dict[str, Any] | None = None

    # -- facts ---------------------------------------------------------------------------
    @property
    def session_id(self) -> str:
        return self._session.session_id

    @property
    def cwd(self) -> str:
        return self._session.cwd

    @property
    def additional_directories(self) -> list[str]:
        return list(self._session.additional_directories)

    @property
    def mcp_servers(self) -> list[Any]:
        return list(self._session.mcp_servers)

    @property
    def mode_id(self) -> str | None:
        return self._session.mode_id

    @property
    def config_options(self) -> list[dict[str, Any]]:
        return list(self._session.config_options or [])

    @property
    def vars(self) -> dict[str, Any]:
        """Per-session scratch space; JSON steps store ``save_as`` results here."""
        return self._session.vars

    @property
    def cancelled(self) -> bool:
        """True once the turn is cancelled (never with ``ignore_cancel``)."""
        return self._turn.cancelled

    @property
    def cancel_requested(self) -> bool:
        """True once the client asked to cancel, even when the scenario ignores it."""
        return self._turn.cancel_requested

    async def cancel_request(self, timeout: float = 30.0) -> bool:
        """Wait until the client asks to cancel (also when the scenario ignores it); False if
        ``timeout`` passes first. Lets a scenario act *after* ``session/cancel`` arrived."""
        try:
            await asyncio.wait_for(self._turn.cancel_seen.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_for_steering(self, timeout: float = 30.0) -> str | None:
        """Wait for text the client steered into this turn (``_session/steering``, with the
        ``steering`` setting); ``None`` if ``timeout`` passes or the turn is cancelled first."""
        turn = self._turn
        waits = {asyncio.ensure_future(turn.steer_event.wait())}
        waits.add(asyncio.ensure_future(turn.cancel_event.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if not turn.steered:
            return None
        text = turn.steered.pop(0)
        if not turn.steered:
            turn.steer_event.clear()
        return text

    def has_capability(self, dotted: str) -> bool:
        """``ctx.has_capability("fs.readTextFile")``, ``"terminal"``, ``"elicitation.form"``."""
        node: Any = self.client_capabilities
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return node is not None and node is not False

    def check(self) -> None:
        """Raise :class:`TurnCancelled` if the turn was cancelled: a step boundary."""
        if self._turn.cancelled:
            raise TurnCancelled()

    def resolve(self, path: str) -> str:
        """ACP paths are absolute: relative ones are taken against the session cwd."""
        return path if os.path.isabs(path) else os.path.join(self.cwd, path)

    def _require(self, method: str, capability: str) -> None:
        if self.settings.get("respect_client_capabilities", True) and not self.has_capability(
            capability
        ):
            raise CapabilityMissing(method, capability)

    # -- updates -------------------------------------------------------------------------
    async def update(
        self, update: Mapping[str, Any], *, meta: Any = None, session_id: str | None = None
    ) -> None:
        """Send any ``session/update`` (also unknown ``sessionUpdate`` kinds); ``session_id``
        sends it as another session (a subagent's)."""
        self.check()
        body = dict(update)
        if meta is not None:
            body["_meta"] = meta
        params = {"sessionId": session_id or self.session_id, "update": body}
        self._peer.notify("session/update", params)
        await asyncio.sleep(0)  # let a session/cancel in the input be seen

    raw_update = update  # the JSON step name

    # -- time and faults -----------------------------------------------------------------
    async def sleep(self, seconds: float) -> bool:
        """Sleep; returns False early if the turn is cancelled (never with ignore_cancel)."""
        try:
            await asyncio.wait_for(self._turn.cancel_event.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def stderr(self, text: str) -> None:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()

    async def stderr_flood(self, n_bytes: int) -> None:
        """Write ``n_bytes`` of log-like lines to stderr at once: the host must drain it."""
        sys.stderr.flush()
        line = b"[fake-agent] flood " + b"x" * 100 + b"\n"
        block = line * max(1, (1 << 16) // len(line))
        remaining = n_bytes
        while remaining > 0:
            chunk = block[:remaining]
            written = os.write(2, chunk)
            remaining -= written

    async def crash(self, exit_code: int = 1) -> NoReturn:
        """Die at once, mid-turn, without answering: what a segfaulting agent looks like."""
        log(f"crashing on purpose with exit code {exit_code}")
        sys.stderr.flush()
        os._exit(exit_code)

    async def malformed(self, text: str = "this is not json") -> None:
        self.check()
        self._peer.write_bytes(text.encode() + b"\n")

    async def huge_line(self, n_bytes: int) -> None:
        """One ``agent_message_chunk`` whose text is ``n_bytes`` long (not kept in history)."""
        await self.update(
            {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "x" * n_bytes},
            }
        )

    async def storm(self, kind: str, count: int, *, batch: int = 500) -> None:
        """``count`` text tokens or tool calls (pending → in_progress → completed), fast."""
        self.check()
        sid = self.session_id
        prefix = f"storm-{self.turn_index}"

        def updates(i: int) -> list[dict[str, Any]]:
            if kind == "agent_message_chunk":
                return [
                    {
                        "sessionUpdate": "agent_message_chunk",
                        "content": {"type": "text", "text": f"tok{i} "},
                    }
                ]
            call = f"{prefix}-{i}"
            return [
                {
                    "sessionUpdate": "tool_call",
                    "toolCallId": call,
                    "title": f"Storm {i}",
                    "kind": "other",
                    "status": "pending",
                },
                {"sessionUpdate": "tool_call_update", "toolCallId": call, "status": "in_progress"},
                {"sessionUpdate": "tool_call_update", "toolCallId": call, "status": "completed"},
            ]

        for start in range(0, count, batch):
            messages = [
                {
                    "jsonrpc": "2.0",
                    "method": "session/update",
                    "params": {"sessionId": sid, "update": u},
                }
                for i in range(start, min(count, start + batch))
                for u in updates(i)
            ]
            self._peer.send_many(messages)
            await asyncio.sleep(0)
            self.check()

    def stop(self, reason: str = "end_turn", *, usage: Mapping[str, Any] | None = None) -> NoReturn:
        """End the turn here (raises :class:`StopTurn`)."""
        raise StopTurn(reason, usage)

    def fail(self, message: str, *, code: int = -32603, data: Any = None) -> NoReturn:
        """Answer the prompt with a JSON-RPC error (raises :class:`FailTurn`)."""
        raise FailTurn(message, code, data)

    def record_failure(self, text: str) -> None:
        """Note an expectation failure (shown by ``report``) and log it."""
        self.failures.append(text)
        log(f"expectation failed: {text}")
