"""An agent that is any program speaking ACP over stdio.

It uses the connection's untyped methods: hosting an agent never imports the ACP SDK.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from acphost.acp.client import AgentConnection
from acphost.acp.handlers import ClientHandlers, ElicitationHandler
from acphost.acp.messages import AgentExitMessage, AgentMessage
from acphost.acp.process import build_env
from acphost.agents._base import AgentBase, AgentContext, SessionStart, TurnResult
from acphost.errors import AuthRequired

if TYPE_CHECKING:
    from acphost.acp.client import McpServer

__all__ = ["ACPAgent"]


class ACPAgent(AgentBase):
    """Host an ACP agent program.

    ``env`` adds to (never replaces) the inherited environment (a ``None`` value removes a
    name); its values are not stored with the conversation, only its names. The commands the
    agent runs in client terminals get the same environment as the agent.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str | None] | None = None,
        mcp_servers: Sequence[McpServer] = (),
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        auth_method: str | None = None,
        elicitation: ElicitationHandler | None = None,
        startup_timeout: float = 120.0,
        registry_name: str | None = None,
    ) -> None:
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.name = name or (os.path.basename(self.command[0]) if self.command else "acp")
        self.env = dict(env or {})
        self.mcp_servers = list(mcp_servers)
        self.additional_directories = list(additional_directories)
        self.auth_method = auth_method
        self.elicitation = elicitation
        self.startup_timeout = startup_timeout
        self.registry_name = registry_name
        self.connection: AgentConnection | None = None
        self.session_id: str | None = None
        self._ctx: AgentContext | None = None
        self._older_terminals: frozenset[str] = frozenset()

    def spec(self) -> dict[str, Any]:
        return {
            "type": "registry" if self.registry_name else "acp",
            "name": self.registry_name or self.name,
            "command": self.command,
            "env_names": sorted(self.env),
        }

    @property
    def supports_resume(self) -> bool:
        connection = self.connection
        if connection is None or connection.init_json is None:
            return True  # unknown until started; astart falls back to a new session
        return connection.supports("loadSession") or connection.supports(
            "sessionCapabilities.resume"
        )

    @property
    def alive(self) -> bool:
        """Whether the agent process is running and its connection open."""
        return self.connection is not None and not self.connection.rpc.closed

    def _message(self, message: AgentMessage) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        if isinstance(message, AgentExitMessage):
            ctx.post(message)  # an exit is not agent output: it must not block a retry
        else:
            ctx.emit(message)

    async def astart(
        self, ctx: AgentContext, *, resume_session_id: str | None = None
    ) -> SessionStart:
        self._ctx = ctx
        if not self.alive:
            if self.connection is not None:
                await self.connection.close(grace=0.5, term_grace=1.0)
            env = build_env(self.env)  # the agent's, also for the commands it runs
            handlers = ClientHandlers(
                ctx.workspace,
                permission=ctx.request_permission,
                elicitation=self.elicitation,
                terminal_env=env,
            )
            self.connection = await AgentConnection.start(
                self.command,
                handlers=handlers,
                on_message=self._message,
                on_request=lambda request: ctx.note_activity(),
                env=env,
            )
            await self.connection.initialize_raw(timeout=self.startup_timeout)
        connection = self.connection
        assert connection is not None
        how: Literal["resume", "load"] | None = None
        if connection.supports("sessionCapabilities.resume"):
            how = "resume"
        elif connection.supports("loadSession"):
            how = "load"
        start: SessionStart
        if resume_session_id is not None and how is not None:
            answer = await connection.open_session(
                how,
                ctx.workspace.root,
                session_id=resume_session_id,
                mcp_servers=self.mcp_servers,
                additional_directories=self.additional_directories,
            )
            start = SessionStart(
                resume_session_id,
                "resumed" if how == "resume" else "loaded",
                modes=answer.modes,
                config_options=answer.config_options,
            )
        else:
            start = await self._new_session(connection, ctx)
            if resume_session_id is not None:
                start.how = "restarted"
                start.context_restored = False
                start.reason = (
                    "the agent supports neither session/resume nor session/load: "
                    "a new session was started without the earlier context"
                )
        self.session_id = ctx.session_id = start.session_id
        start.agent_info = connection.agent_info
        return start

    async def _new_session(self, connection: AgentConnection, ctx: AgentContext) -> SessionStart:
        async def create() -> SessionStart:
            created = await connection.open_session(
                "new",
                ctx.workspace.root,
                mcp_servers=self.mcp_servers,
                additional_directories=self.additional_directories,
                timeout=self.startup_timeout,
            )
            assert created.session_id is not None  # session/new's answer requires it
            return SessionStart(
                created.session_id,
                "started",
                modes=created.modes,
                config_options=created.config_options,
            )

        try:
            return await create()
        except AuthRequired:
            if self.auth_method is None:
                raise
            await connection.authenticate(self.auth_method)
            return await create()

    async def astep(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> TurnResult:
        assert self.connection is not None
        assert self.session_id is not None
        # terminals open before the turn are not the turn's: a cancel leaves them alone
        self._older_terminals = self.connection.handlers.open_terminals(self.session_id)
        answer = await self.connection.prompt_raw(self.session_id, prompt)
        return TurnResult(
            stop_reason=answer.stop_reason, usage=answer.usage, meta=answer.meta, extra=answer.extra
        )

    async def acancel(self, ctx: AgentContext) -> None:
        """Send ``session/cancel``, then end the commands the turn started in terminals."""
        ctx.cancelled = True
        if self.connection is not None and self.session_id is not None:
            self.connection.cancel(self.session_id)
            await self.connection.handlers.end_terminals(
                self.session_id, keep=self._older_terminals
            )

    async def akill(self) -> None:
        if self.connection is not None:
            await self.connection.close(grace=0.0, term_grace=2.0)

    async def aset_mode(self, ctx: AgentContext, mode_id: str) -> None:
        assert self.connection is not None
        assert self.session_id is not None
        await self.connection.set_mode(self.session_id, mode_id)

    async def aset_config_option(
        self, ctx: AgentContext, config_id: str, value: str | bool
    ) -> list[dict[str, Any]] | None:
        assert self.connection is not None
        assert self.session_id is not None
        answer = await self.connection.set_config_option_raw(self.session_id, config_id, value)
        return answer.config_options

    async def aclose(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    @property
    def stderr_tail(self) -> str:
        return self.connection.stderr_tail if self.connection is not None else ""
