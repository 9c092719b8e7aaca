"""An agent that is any program speaking ACP over stdio.

It uses the connection's untyped methods: hosting an agent never imports the ACP SDK.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from acphost.acp.client import AgentConnection
from acphost.acp.fs import Workspace
from acphost.acp.handlers import ClientHandlers, ElicitationHandler
from acphost.acp.messages import AgentExitMessage, AgentMessage
from acphost.acp.permissions import Decision, PermissionRequest
from acphost.acp.process import build_env
from acphost.agents._base import AgentBase, AgentContext, SessionStart, SteerOutcome, TurnResult
from acphost.errors import AuthRequired, UsageError

if TYPE_CHECKING:
    from acphost.acp.client import McpServer

__all__ = ["ACPAgent"]

STEER_METHOD = "_session/steering"
"""The steering extension claude-agent-acp and codex-acp implement (RFD: ``session/inject``)."""


class ACPAgent(AgentBase):
    """Host an ACP agent program.

    ``env`` adds to (never replaces) the inherited environment (a ``None`` value removes a
    name); its values are not stored with the conversation, only its names. The commands the
    agent runs in client terminals get the same environment as the agent. acphost gives up on
    the agent's start after ``startup_timeout`` seconds and on a mode or option change after
    ``request_timeout``, telling the agent so with ``$/cancel_request``. ``subagents``
    (unstable: an ACP draft) lets the agent show the sessions of subagents it spawns: their
    updates are recorded as ``subagent_update`` events and their permission requests go to the
    conversation's policy. ``elicitation`` answers the agent's ``elicitation/create`` when the
    agent runs outside a :class:`~acphost.Conversation`; a conversation answers them itself
    (its ``elicitation=`` policy, recorded as events).
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
        ask_mode: str | None = None,
        asks_permission: bool | None = None,
        request_timeout: float = 30.0,
        subagents: bool = False,
    ) -> None:
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.name = name or (os.path.basename(self.command[0]) if self.command else "acp")
        self.env = dict(env or {})
        self.mcp_servers = list(mcp_servers)
        self.additional_directories = list(additional_directories)
        self.auth_method = auth_method
        self.elicitation = elicitation
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout  # then acphost gives up ($/cancel_request)
        self.subagents = subagents
        self.registry_name = registry_name
        self.ask_mode = ask_mode
        self.asks_permission = asks_permission
        self.connection: AgentConnection | None = None
        self.session_id: str | None = None
        self.fork_from: str | None = None  # the first session is session/fork of this one
        self._ctx: AgentContext | None = None
        self._older_terminals: frozenset[str] = frozenset()
        self._warm = False  # started by an agent pool, not yet taken by a conversation
        self._env: dict[str, str] = {}

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
        connection = await self._connect(ctx)
        start: SessionStart
        if resume_session_id is None and self.fork_from is not None:
            start = await self._fork(connection, ctx, self.fork_from)
            self.fork_from = None
        elif resume_session_id is not None and (how := _reattach_method(connection)) is not None:
            start = await self._reattach(connection, ctx, resume_session_id, how)
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
        if ctx.system_prompt is not None:
            start.system_prompt, start.system_prompt_mode = (
                ctx.system_prompt,
                ctx.system_prompt_mode,
            )
        return start

    async def _connect(self, ctx: AgentContext) -> AgentConnection:
        """The agent's connection, answering this conversation's requests: a new process if
        there is none alive, or the one an agent pool started."""
        if not self.alive:
            if self.connection is not None:
                await self.connection.close(grace=0.5, term_grace=1.0)
            await self._spawn(ctx.workspace, ctx.request_permission, ctx.request_elicitation)
        elif self._warm:  # started by an agent pool: it becomes this conversation's
            assert self.connection is not None
            handlers = self._handlers(
                ctx.workspace, ctx.request_permission, ctx.request_elicitation
            )
            self.connection.rebind(handlers)
        self._warm = False
        assert self.connection is not None
        return self.connection

    async def _fork(
        self, connection: AgentConnection, ctx: AgentContext, parent: str
    ) -> SessionStart:
        """A new session that starts from the context of session ``parent`` (``session/fork``)."""
        forked = await connection.open_session(
            "fork",
            ctx.workspace.root,
            session_id=parent,
            mcp_servers=self.mcp_servers,
            additional_directories=self.additional_directories,
            timeout=self.startup_timeout,
        )
        assert forked.session_id is not None  # its answer requires it
        return SessionStart(
            forked.session_id,
            "forked",
            reason=f"forked from session {parent}",
            modes=forked.modes,
            config_options=forked.config_options,
        )

    async def _reattach(
        self,
        connection: AgentConnection,
        ctx: AgentContext,
        session_id: str,
        how: Literal["resume", "load"],
    ) -> SessionStart:
        """Session ``session_id`` again, by ``session/resume`` or ``session/load``."""
        answer = await connection.open_session(
            how,
            ctx.workspace.root,
            session_id=session_id,
            mcp_servers=self.mcp_servers,
            additional_directories=self.additional_directories,
            **_system_prompt(ctx),
        )
        return SessionStart(
            session_id,
            "resumed" if how == "resume" else "loaded",
            modes=answer.modes,
            config_options=answer.config_options,
        )

    async def awarm(self, directory: str | os.PathLike[str]) -> None:
        """Start the process and run ``initialize`` now, before any conversation takes the
        agent (see :class:`acphost.AgentPool`); it runs in ``directory`` until then."""
        if not self.alive:
            # a conversation answers elicitations (see astart): advertised from the start
            await self._spawn(Workspace(directory), _refuse, _decline)
            self._warm = True

    def _handlers(
        self,
        workspace: Workspace,
        permission: Callable[[PermissionRequest], Awaitable[Decision]],
        elicitation: ElicitationHandler | None,
    ) -> ClientHandlers:
        return ClientHandlers(
            workspace,
            permission=permission,
            elicitation=elicitation if elicitation is not None else self.elicitation,
            terminal_env=self._env,
            subagents=self.subagents,
        )

    async def _spawn(
        self,
        workspace: Workspace,
        permission: Callable[[PermissionRequest], Awaitable[Decision]],
        elicitation: ElicitationHandler | None,
    ) -> None:
        self._env = build_env(self.env)  # the agent's, also for the commands it runs
        self.connection = await AgentConnection.start(
            self.command,
            handlers=self._handlers(workspace, permission, elicitation),
            on_message=self._message,
            on_request=self._request_seen,
            env=self._env,
        )
        await self.connection.initialize_raw(timeout=self.startup_timeout)

    def _request_seen(self, _: object) -> None:
        if self._ctx is not None:
            self._ctx.note_activity()

    async def _new_session(self, connection: AgentConnection, ctx: AgentContext) -> SessionStart:
        async def create() -> SessionStart:
            created = await connection.open_session(
                "new",
                ctx.workspace.root,
                mcp_servers=self.mcp_servers,
                additional_directories=self.additional_directories,
                timeout=self.startup_timeout,
                **_system_prompt(ctx),
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

    @property
    def supports_steering(self) -> bool:
        """Whether the agent advertised ``_meta.steering.supported`` on ``initialize``."""
        init = self.connection.init_json if self.connection is not None else None
        meta = init.get("_meta") if init else None
        steering = meta.get("steering") if isinstance(meta, dict) else None
        return isinstance(steering, dict) and steering.get("supported") is True

    async def asteer(self, ctx: AgentContext, prompt: list[dict[str, Any]]) -> SteerOutcome:
        if not self.supports_steering or self.connection is None or self.session_id is None:
            return "promptRequired"
        params = {
            "sessionId": self.session_id,
            "prompt": prompt,
            # a turn that ended meanwhile leaves the message to us, to send as a prompt
            "_meta": {"steering": {"idleBehavior": "promptRequired"}},
        }
        answer = await self.connection.call(STEER_METHOD, params, timeout=60.0)
        outcome = answer.get("outcome") if isinstance(answer, dict) else None
        # anything else means the agent has it now: it must never be sent a second time
        return outcome if outcome in ("injected", "promptRequired") else "startedNewTurn"

    async def akill(self) -> None:
        if self.connection is not None:
            await self.connection.close(grace=0.0, term_grace=2.0)

    async def aset_mode(self, ctx: AgentContext, mode_id: str) -> None:
        assert self.connection is not None
        assert self.session_id is not None
        await self.connection.set_mode(self.session_id, mode_id, timeout=self.request_timeout)

    async def aset_config_option(
        self, ctx: AgentContext, config_id: str, value: str | bool
    ) -> list[dict[str, Any]] | None:
        assert self.connection is not None
        assert self.session_id is not None
        answer = await self.connection.set_config_option_raw(
            self.session_id, config_id, value, timeout=self.request_timeout
        )
        return answer.config_options

    async def aset_title(self, ctx: AgentContext, title: str) -> bool:
        if self.connection is None or self.session_id is None:
            return False
        if not self.connection.supports("sessionCapabilities.setTitle"):
            return False
        await self.connection.set_title(self.session_id, title, timeout=self.request_timeout)
        return True

    def forked(self, session_id: str) -> ACPAgent:
        """The same agent (command, environment, MCP servers...) for a new conversation whose
        first session is ``session/fork`` of ``session_id`` (unstable)."""
        clone = copy.copy(self)
        clone.connection, clone.session_id, clone._ctx = None, None, None
        clone._older_terminals, clone._warm = frozenset(), False
        clone.fork_from = session_id
        return clone

    # --- logging in, outside any conversation ----------------------------------------------

    async def aauth_methods(self) -> list[dict[str, Any]]:
        """The auth methods the agent offers: it is started and initialized for this, then
        stopped (``terminal`` ones are among them, since acphost can run them)."""
        async with self._probe() as connection:
            return connection.auth_methods

    def login_command(self, method: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of a ``terminal`` auth method: this agent's own
        command with the method's ``args`` appended and its ``env`` over the agent's. Run it
        on the user's terminal; exit status 0 means logged in (ACP terminal authentication)."""
        if method.get("type") != "terminal":
            raise UsageError(
                f"auth method {method.get('id')!r} is not a terminal login",
                hint="only methods of type 'terminal' are run as a command",
            )
        args = method.get("args") or []
        env = method.get("env") or {}
        if not isinstance(args, list) or not isinstance(env, dict):
            raise AuthRequired(f"the agent's auth method {method.get('id')!r} is malformed")
        environment = build_env(self.env)
        environment.update({str(k): str(v) for k, v in env.items()})
        return [*self.command, *map(str, args)], environment

    async def alogout(self) -> bool:
        """Log out (ACP ``logout``); ``False`` if the agent offers no logout."""
        async with self._probe() as connection:
            if not connection.supports("auth.logout"):
                return False
            await connection.call("logout", {}, timeout=self.request_timeout)
            return True

    @contextlib.asynccontextmanager
    async def _probe(self) -> AsyncIterator[AgentConnection]:
        """A connection of its own, initialized, closed on leaving."""
        connection = await AgentConnection.start(
            self.command,
            handlers=ClientHandlers(Workspace(os.getcwd()), permission=_refuse),
            on_message=lambda _: None,  # no session: nothing to show
            env=build_env(self.env),
        )
        try:
            await connection.initialize_raw(timeout=self.startup_timeout)
            yield connection
        finally:
            await connection.close()

    async def aclose(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    @property
    def stderr_tail(self) -> str:
        return self.connection.stderr_tail if self.connection is not None else ""


def _system_prompt(ctx: AgentContext) -> dict[str, Any]:
    """The ``open_session`` arguments that give the agent the conversation's system prompt."""
    if ctx.system_prompt is None:
        return {}
    mode = "override" if ctx.system_prompt_mode == "override" else "append"
    return {"system_prompt": ctx.system_prompt, "system_prompt_mode": mode}


async def _refuse(request: PermissionRequest) -> Decision:
    """The permission path of an agent kept warm: no conversation, nobody to ask."""
    return "reject_once"


async def _decline(params: dict[str, Any]) -> dict[str, Any]:
    """The elicitation path of an agent kept warm: no conversation, nobody to ask."""
    return {"action": "decline"}


def _reattach_method(connection: AgentConnection) -> Literal["resume", "load"] | None:
    """How the agent can reattach an earlier session: ``session/resume`` (no replay), else
    ``session/load`` (replays it), else not at all."""
    if connection.supports("sessionCapabilities.resume"):
        return "resume"
    if connection.supports("loadSession"):
        return "load"
    return None
