"""What a conversation asks of an agent, and what it gives the agent in return.

An agent runs on acphost's I/O loop. It never calls user code and never touches conversation
state: everything it has to say goes through :meth:`AgentContext.post` into the conversation's
mailbox, and permission questions go through :meth:`AgentContext.request_permission`, whose
answer comes back from the caller's thread.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.from_thread

from acphost.acp.fs import Workspace
from acphost.acp.messages import AgentMessage, SessionUpdate
from acphost.acp.permissions import Decision, PermissionRequest
from acphost.errors import CapabilityMissing

__all__ = ["AgentBase", "AgentContext", "SessionStart", "SteerOutcome", "TurnResult"]

SteerOutcome = Literal["injected", "promptRequired", "startedNewTurn"]
"""What an agent did with a steered message (the ``_session/steering`` extension's outcomes)."""


@dataclass(slots=True)
class SessionStart:
    """How the agent's session began (``new``, ``loaded``, ``resumed``, or a fresh one)."""

    session_id: str
    how: str = "started"  # started | loaded | resumed | restarted | forked
    context_restored: bool = True
    reason: str = ""
    agent_info: dict[str, Any] | None = None
    modes: dict[str, Any] | None = None
    config_options: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None  # the agent's refusal to reattach, as it sent it
    # the client system prompt the agent was given with the session, and how (append/override)
    system_prompt: list[dict[str, Any]] | None = None
    system_prompt_mode: str | None = None


@dataclass(slots=True)
class TurnResult:
    """How a turn ended: the ACP stop reason, and the token usage and ``_meta`` if any."""

    stop_reason: str = "end_turn"
    usage: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None  # what else the agent's answer carried, as sent


@dataclass
class AgentContext:
    """The conversation's side of the contract, handed to every agent call."""

    workspace: Workspace
    post: Callable[[Any], None]
    request_permission: Callable[[PermissionRequest], Awaitable[Decision]]
    session_id: str = ""
    cancelled: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    activity: int = 0
    system_prompt: list[dict[str, Any]] | None = None
    """Instructions for the agent's system prompt, to give every session it opens."""
    system_prompt_mode: str = "append"
    """``append`` (after the agent's own system prompt) or ``override`` (instead of it)."""
    request_elicitation: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    """Given ``elicitation/create`` params, the answer (``None``: the agent's own handler)."""

    def note_activity(self) -> None:
        """The agent did something (sent output, called the client): the turn had effects."""
        self.last_activity = time.monotonic()
        self.activity += 1

    def emit(self, message: AgentMessage) -> None:
        """Post an agent message (thread-safe); marks the turn as having had effects."""
        self.note_activity()
        self.post(message)

    def update(self, data: dict[str, Any]) -> None:
        """Post one ``session/update`` object, as an ACP agent would send it."""
        self.emit(SessionUpdate(self.session_id, data))

    def say(self, text: str) -> None:
        """Stream answer text, as an ACP agent's ``agent_message_chunk``."""
        self.update(
            {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}
        )

    def think(self, text: str) -> None:
        """Stream a thought, as an ACP agent's ``agent_thought_chunk``."""
        self.update(
            {"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": text}}
        )

    def ask_permission(
        self, tool_call: dict[str, Any], options: Sequence[dict[str, Any]] | None = None
    ) -> Decision:
        """From a worker thread (a sync :meth:`AgentBase.step`): ask and wait for the answer.

        ``tool_call`` and ``options`` are ACP JSON; malformed ones raise ``ProtocolError``.
        """
        request = PermissionRequest(
            session_id=self.session_id,
            tool_call=tool_call,
            options=options
            or (
                {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
                {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
            ),
        )
        self.note_activity()

        async def ask() -> Decision:
            return await self.request_permission(request)

        return anyio.from_thread.run(ask)


class AgentBase:
    """An agent a conversation can host. Subclass and implement :meth:`step` or :meth:`astep`.

    Every ``a*`` method runs on acphost's I/O loop. The default :meth:`astep` runs the sync
    :meth:`step` in a worker thread, so a plain Python agent may block freely.
    """

    name: str = "agent"
    ask_mode: str | None = None
    """The session mode in which the agent asks the client before acting: selected when the
    permission policy decides (ask, deny, a callback). ``None``: not known, the agent's own
    default mode is kept."""
    asks_permission: bool | None = None
    """``False`` for an agent that never asks the client (no permission system); ``None``:
    not known."""

    def spec(self) -> dict[str, Any]:
        """A JSON description to store with the conversation (no secrets), for resume."""
        return {"type": "python", "class": f"{type(self).__module__}:{type(self).__qualname__}"}

    @property
    def supports_resume(self) -> bool:
        """Whether :meth:`astart` can reattach to a stored session (else resume starts anew)."""
        return False

    async def astart(
        self, ctx: AgentContext, *, resume_session_id: str | None = None
    ) -> SessionStart:
        """Start (or reattach to) a session; without :attr:`supports_resume`, a session to
        reattach is started anew, saying so (context is never lost silently)."""
        if resume_session_id is None or self.supports_resume:
            return SessionStart(
                session_id=resume_session_id or f"{self.name}-session",
                how="resumed" if resume_session_id else "started",
            )
        return SessionStart(
            session_id=f"{self.name}-session",
            how="restarted",
            context_restored=False,
            reason=f"{type(self).__name__} cannot reattach session {resume_session_id} "
            "(its supports_resume is false): a new session was started without the earlier "
            "context",
        )

    def step(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> TurnResult:
        """Run one turn in a worker thread: report with ``ctx.say()``, return how it ended.

        Override this (or :meth:`astep`); it may block, and should return soon after
        ``ctx.cancelled`` becomes true.
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither step() nor astep()")

    async def astep(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> TurnResult:
        """Run one turn on the I/O loop; by default :meth:`step` in a worker thread."""
        result = await anyio.to_thread.run_sync(self.step, ctx, prompt, abandon_on_cancel=True)
        return TurnResult() if result is None else result  # a step that returns nothing is done

    async def acancel(self, ctx: AgentContext) -> None:
        """Ask the running turn to stop; ``step`` sees ``ctx.cancelled``."""
        ctx.cancelled = True

    async def akill(self) -> None:
        """Stop hard (after a cancel was ignored); the next turn calls :meth:`astart` again."""

    @property
    def supports_steering(self) -> bool:
        """Whether :meth:`asteer` can put a message into a running turn."""
        return False

    async def asteer(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> SteerOutcome:
        """Put ``prompt`` into the running turn: ``injected``, ``promptRequired`` (not taken:
        send it as a prompt), or ``startedNewTurn`` (the agent took it as a turn of its own)."""
        return "promptRequired"

    async def aset_mode(self, ctx: AgentContext, mode_id: str) -> None:
        """Switch the session's mode; an agent without modes raises ``CapabilityMissing``."""
        raise CapabilityMissing("modes", method="session/set_mode")

    async def aset_config_option(
        self, ctx: AgentContext, config_id: str, value: str | bool
    ) -> list[dict[str, Any]] | None:
        """Set a session config option; returns the agent's updated options, if it sent them."""
        raise CapabilityMissing("configOptions", method="session/set_config_option")

    async def aset_title(self, ctx: AgentContext, title: str) -> bool:
        """Tell the agent the session's new title; False if it keeps no titles (the default)."""
        return False

    async def aclose(self) -> None:
        """Release everything; called once when the conversation closes."""

    @property
    def stderr_tail(self) -> str:
        """The last output the agent wrote to stderr, for error reports (empty if it has none)."""
        return ""
