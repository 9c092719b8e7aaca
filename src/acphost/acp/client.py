"""One agent process and its ACP session methods, as a typed async API.

Everything the agent says that is not the answer to a request (updates, extension
notifications, protocol errors, its exit) reaches the single ``on_message`` consumer
synchronously and in arrival order; requests it makes are answered by :class:`ClientHandlers`.

The typed methods return the official SDK's models, imported on first use; the ``*_raw``
methods (and :meth:`open_session`) read what acphost needs from the JSON without the SDK
(``import acp`` costs ~40 MB), so a hosted conversation never loads it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel

from acphost._version import __version__
from acphost.acp import shapes
from acphost.acp._params import (
    advertised,
    check_auth_method,
    content,
    require,
    session_params,
)
from acphost.acp.handlers import ClientHandlers
from acphost.acp.jsonrpc import AUTH_REQUIRED, IncomingRequest, JsonRpcConnection
from acphost.acp.messages import (
    AgentExitMessage,
    AgentMessage,
    ExtensionNotification,
    PromptAnswer,
    ProtocolErrorMessage,
    SessionAnswer,
    SessionUpdate,
)
from acphost.acp.process import AgentProcess
from acphost.errors import (
    AgentExited,
    AgentRequestError,
    AuthRequired,
    ProtocolError,
    RequestTimeout,
)

if TYPE_CHECKING:
    from acp import schema

    McpServer: TypeAlias = (
        schema.McpServerStdio | schema.HttpMcpServer | schema.SseMcpServer | dict[str, Any]
    )
    """An MCP server to hand the agent's session: stdio, HTTP or SSE (typed, or as JSON)."""

__all__ = [
    "CLIENT_INFO",
    "PROTOCOL_VERSION",
    "AgentConnection",
    "ContentBlocks",
    "McpServer",
    "SystemPromptMode",
]

CLIENT_INFO = {"name": "acphost", "title": "acphost", "version": __version__}
"""How acphost introduces itself in ``initialize`` (``clientInfo``)."""
PROTOCOL_VERSION = 1
"""The ACP version acphost speaks (the SDK's ``acp.meta.PROTOCOL_VERSION``)."""

_M = TypeVar("_M", bound=BaseModel)
ContentBlocks = str | Sequence[BaseModel | dict[str, Any]]
"""A prompt: plain text, or ACP content blocks (typed models or their JSON)."""
SystemPromptMode: TypeAlias = Literal["append", "override"]
"""How a client system prompt meets the agent's own: after it (``append``) or instead of it."""


def __getattr__(name: str) -> Any:
    if name == "McpServer":  # the runtime alias needs the SDK: built on first use
        from acp import schema

        return schema.McpServerStdio | schema.HttpMcpServer | schema.SseMcpServer | dict[str, Any]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class AgentConnection:
    """A started agent. Use :meth:`start`, then :meth:`initialize`, then the session methods.

    All methods must be awaited on the loop that started the connection.
    """

    def __init__(
        self,
        handlers: ClientHandlers,
        on_message: Callable[[AgentMessage], None],
    ) -> None:
        self.handlers = handlers
        handlers.observer = on_message
        handlers.sessions = set()  # filled as sessions open: requests for others are refused
        self._on_message = on_message
        self.process: AgentProcess | None = None
        self.rpc = JsonRpcConnection(
            self._write,
            on_notification=self._notification,
            on_request=self._request,
            on_protocol_error=self._protocol_error,
        )
        self.init_json: dict[str, Any] | None = None  # the initialize answer, as sent
        self._init: schema.InitializeResponse | None = None
        self._replaying: set[str] = set()
        self._closing = False
        self._on_request: Callable[[IncomingRequest], None] | None = None

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        *,
        handlers: ClientHandlers,
        on_message: Callable[[AgentMessage], None],
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str | None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
        on_request: Callable[[IncomingRequest], None] | None = None,
    ) -> AgentConnection:
        """Spawn the agent (it is not initialized yet).

        ``on_request`` sees each request from the agent before :class:`ClientHandlers` does.
        """
        self = cls(handlers, on_message)
        self._on_request = on_request
        self.process = await AgentProcess.spawn(
            command,
            on_stdout=self.rpc.feed,
            on_stdout_eof=self.rpc.feed_eof,
            on_exit=self._exited,
            on_stderr=on_stderr,
            cwd=cwd if cwd is not None else handlers.workspace.root,
            env=env,
        )
        return self

    def rebind(self, handlers: ClientHandlers) -> None:
        """Hand a started agent that has no session yet (one kept warm) the client handlers
        of the conversation taking it: its workspace, permission path and terminals."""
        handlers.observer = self._on_message
        handlers.sessions = self.handlers.sessions
        self.handlers = handlers

    # --- plumbing ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        assert self.process is not None
        self.process.write(data)

    def _notification(self, method: str, params: Any) -> None:
        if method == "session/update" and isinstance(params, dict):
            session_id = params.get("sessionId")
            update = params.get("update")
            if isinstance(update, dict) and update.get("sessionUpdate") == "subagent_spawned":
                self.handlers.spawned(str(session_id), update)  # before its first request
            self._on_message(
                SessionUpdate(
                    session_id if isinstance(session_id, str) else "",
                    update
                    if isinstance(update, dict)
                    else {"sessionUpdate": "<invalid>", "value": update},  # kept as sent
                    params.get("_meta"),
                    session_id in self._replaying,
                )
            )
        else:
            self._on_message(ExtensionNotification(method, params))

    def _request(self, request: IncomingRequest) -> None:
        if self._on_request is not None:
            self._on_request(request)
        self.handlers.handle(request)

    def _protocol_error(self, error: ProtocolError) -> None:
        self._on_message(ProtocolErrorMessage(error))

    def _exited(self, error: AgentExited) -> None:
        self.rpc.close(error)
        self._on_message(AgentExitMessage(error, expected=self._closing))

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Send any request (typed or not) and return the raw result."""
        try:
            if timeout is None:
                return await self.rpc.request(method, params)
            async with asyncio.timeout(timeout):
                return await self.rpc.request(method, params)
        except TimeoutError:
            raise RequestTimeout(  # rpc.request told the agent, as it gave up waiting
                f"the agent did not answer {method} within {timeout} s; acphost gave up and "
                "told it so ($/cancel_request)",
                method=method,
            ) from None
        except AgentRequestError as exc:
            if exc.rpc_code == AUTH_REQUIRED:
                raise AuthRequired(
                    f"the agent requires authentication: {exc.message}",
                    methods=self.auth_methods,
                    data=exc.data,
                ) from exc
            raise

    async def _typed(
        self, model: type[_M], method: str, params: Any, timeout: float | None = None
    ) -> _M:
        result = await self.call(method, params, timeout=timeout)
        return model.model_validate(result if result is not None else {})

    def notify(self, method: str, params: Any = None) -> None:
        """Send a JSON-RPC notification to the agent."""
        self.rpc.notify(method, params)

    # --- capabilities --------------------------------------------------------------------

    @property
    def init(self) -> schema.InitializeResponse | None:
        """The ``initialize`` answer as the SDK's model (validated on first use)."""
        if self.init_json is None:
            return None
        if self._init is None:
            from acp import schema

            self._init = schema.InitializeResponse.model_validate(self.init_json)
        return self._init

    @property
    def capabilities(self) -> schema.AgentCapabilities:
        """What the agent said it can do in ``initialize`` (empty before it)."""
        init = self.init
        if init is None or init.agent_capabilities is None:
            from acp import schema

            return schema.AgentCapabilities()
        return init.agent_capabilities

    def supports(self, capability: str) -> bool:
        """Whether the agent advertised ``capability``, a JSON path such as ``loadSession`` or
        ``sessionCapabilities.resume``; read as the SDK would (a malformed one is absent)."""
        return advertised(self.init_json, capability)

    @property
    def agent_info(self) -> dict[str, Any] | None:
        """``agentInfo`` as the SDK's model would dump it (None if absent or malformed)."""
        info: dict[str, Any] | None = shapes.salvage_json(
            shapes.IMPLEMENTATION, self.init_json.get("agentInfo") if self.init_json else None
        )
        return info

    # --- lifecycle -----------------------------------------------------------------------

    async def initialize_raw(self, *, timeout: float | None = 120.0) -> dict[str, Any]:
        """Run ``initialize``; the answer, checked without the SDK, is kept as :attr:`init_json`."""
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": self.handlers.capabilities(),
            "clientInfo": CLIENT_INFO,
        }
        raw: dict[str, Any] = await self.call("initialize", params, timeout=timeout)
        shapes.read_json("initialize answer", shapes.INITIALIZE, raw)
        self.init_json, self._init = raw, None
        return raw

    async def initialize(self, *, timeout: float | None = 120.0) -> schema.InitializeResponse:
        """Run the ``initialize`` handshake; returns the agent's typed answer."""
        await self.initialize_raw(timeout=timeout)
        init = self.init
        assert init is not None
        return init

    @property
    def auth_methods(self) -> list[dict[str, Any]]:
        """The authentication methods the agent offered in ``initialize``."""
        methods = (self.init_json or {}).get("authMethods") or []
        return [m for m in methods if isinstance(m, dict)]

    async def authenticate(self, method_id: str, *, timeout: float | None = 300.0) -> None:
        """Authenticate with an agent-handled method; terminal methods raise ``AuthRequired``."""
        check_auth_method(self.auth_methods, method_id)
        await self.call("authenticate", {"methodId": method_id}, timeout=timeout)

    async def open_session(
        self,
        how: Literal["new", "load", "resume", "fork"],
        cwd: str | os.PathLike[str],
        *,
        session_id: str | None = None,
        mcp_servers: Sequence[McpServer] = (),
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        system_prompt: ContentBlocks | None = None,
        system_prompt_mode: SystemPromptMode = "append",
        timeout: float | None = 300.0,
    ) -> SessionAnswer:
        """``session/new``, or ``session/load``/``session/resume`` of ``session_id``, read
        without the SDK. The history a load (or resume) replays arrives as updates with
        ``replay``. A ``system_prompt`` needs the agent's ``sessionCapabilities.systemPrompt``
        (and its ``override`` for that mode): else ``CapabilityMissing``, nothing sent."""
        method = f"session/{how}"
        params = session_params(
            self.init_json,
            how,
            cwd,
            session_id=session_id,
            mcp_servers=mcp_servers,
            additional_directories=additional_directories,
            system_prompt=system_prompt,
            system_prompt_mode=system_prompt_mode,
        )
        # What a load (or a resume: fast-agent replays there too) sends before its answer is
        # the session's history, not new work.
        replaying = session_id if how in ("load", "resume") else None
        if replaying is not None:
            self._replaying.add(replaying)
        try:
            answer = SessionAnswer.read(method, await self.call(method, params, timeout=timeout))
        finally:
            if replaying is not None:
                self._replaying.discard(replaying)
        opened = answer.session_id or session_id
        if opened is not None and self.handlers.sessions is not None:
            self.handlers.sessions.add(opened)
        return answer

    async def new_session(
        self,
        cwd: str | os.PathLike[str],
        *,
        mcp_servers: Sequence[McpServer] = (),
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        timeout: float | None = 120.0,
    ) -> schema.NewSessionResponse:
        """Open a new session in ``cwd`` (``session/new``)."""
        from acp import schema

        answer = await self.open_session(
            "new",
            cwd,
            mcp_servers=mcp_servers,
            additional_directories=additional_directories,
            timeout=timeout,
        )
        return schema.NewSessionResponse.model_validate(answer.data)

    async def load_session(
        self,
        session_id: str,
        cwd: str | os.PathLike[str],
        *,
        mcp_servers: Sequence[McpServer] = (),
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        timeout: float | None = 300.0,
    ) -> schema.LoadSessionResponse:
        """Load a session; the history the agent replays arrives as updates with ``replay``."""
        from acp import schema

        answer = await self.open_session(
            "load",
            cwd,
            session_id=session_id,
            mcp_servers=mcp_servers,
            additional_directories=additional_directories,
            timeout=timeout,
        )
        return schema.LoadSessionResponse.model_validate(answer.data)

    async def resume_session(
        self,
        session_id: str,
        cwd: str | os.PathLike[str],
        *,
        mcp_servers: Sequence[McpServer] = (),
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        timeout: float | None = 300.0,
    ) -> schema.ResumeSessionResponse:
        """Reattach to a session without replaying it (``session/resume``)."""
        from acp import schema

        answer = await self.open_session(
            "resume",
            cwd,
            session_id=session_id,
            mcp_servers=mcp_servers,
            additional_directories=additional_directories,
            timeout=timeout,
        )
        return schema.ResumeSessionResponse.model_validate(answer.data)

    async def close_session(self, session_id: str, *, timeout: float | None = 30.0) -> None:
        """End a session (``session/close``); an agent without the capability raises."""
        method = "session/close"
        require(self.init_json, "sessionCapabilities.close", method)
        await self.call(method, {"sessionId": session_id}, timeout=timeout)

    async def list_sessions(
        self,
        *,
        cwd: str | os.PathLike[str] | None = None,
        cursor: str | None = None,
        timeout: float | None = 30.0,
    ) -> schema.ListSessionsResponse:
        """The agent's stored sessions, optionally of one ``cwd``, a page at a time."""
        from acp import schema

        method = "session/list"
        require(self.init_json, "sessionCapabilities.list", method)
        params: dict[str, Any] = {}
        if cwd is not None:
            params["cwd"] = os.fspath(cwd)
        if cursor is not None:
            params["cursor"] = cursor
        return await self._typed(schema.ListSessionsResponse, method, params, timeout)

    async def delete_session(self, session_id: str, *, timeout: float | None = 30.0) -> None:
        """Delete a stored session (``session/delete``); an agent without the capability raises."""
        method = "session/delete"
        require(self.init_json, "sessionCapabilities.delete", method)
        await self.call(method, {"sessionId": session_id}, timeout=timeout)

    async def set_mode(
        self, session_id: str, mode_id: str, *, timeout: float | None = 30.0
    ) -> None:
        """Switch a session's mode (``session/set_mode``)."""
        params = {"sessionId": session_id, "modeId": mode_id}
        await self.call("session/set_mode", params, timeout=timeout)

    async def set_title(self, session_id: str, title: str, *, timeout: float | None = 30.0) -> None:
        """Unstable: name the session in the agent's own records (``session/set_title``)."""
        require(self.init_json, "sessionCapabilities.setTitle", "session/set_title")
        params = {"sessionId": session_id, "title": title}
        await self.call("session/set_title", params, timeout=timeout)

    async def set_config_option_raw(
        self, session_id: str, config_id: str, value: str | bool, *, timeout: float | None = 30.0
    ) -> SessionAnswer:
        """Set a select (string value) or boolean option; the answer's ``config_options``."""
        params: dict[str, Any] = {"sessionId": session_id, "configId": config_id, "value": value}
        if isinstance(value, bool):
            params["type"] = "boolean"
        method = "session/set_config_option"
        return SessionAnswer.read(method, await self.call(method, params, timeout=timeout))

    async def set_config_option(
        self, session_id: str, config_id: str, value: str | bool, *, timeout: float | None = 30.0
    ) -> schema.SetSessionConfigOptionResponse:
        """Set a select (string value) or boolean option; the model is a ``model`` option."""
        from acp import schema

        answer = await self.set_config_option_raw(session_id, config_id, value, timeout=timeout)
        return schema.SetSessionConfigOptionResponse.model_validate(answer.data)

    async def prompt_raw(self, session_id: str, prompt: ContentBlocks) -> PromptAnswer:
        """Run one turn. Its updates arrive through ``on_message`` while this waits."""
        params = {"sessionId": session_id, "prompt": content(prompt)}
        try:
            result = await self.rpc.request("session/prompt", params, cancellable=False)
        except AgentRequestError as exc:
            if exc.rpc_code == AUTH_REQUIRED:
                raise AuthRequired(exc.message, methods=self.auth_methods, data=exc.data) from exc
            raise
        return PromptAnswer.read(result)

    async def prompt(self, session_id: str, prompt: ContentBlocks) -> schema.PromptResponse:
        """Run one turn. Its updates arrive through ``on_message`` while this waits."""
        from acp import schema

        answer = await self.prompt_raw(session_id, prompt)
        return schema.PromptResponse.model_validate(answer.data)

    def cancel(self, session_id: str) -> None:
        """Ask the agent to stop the turn; pending permission requests are answered cancelled."""
        self.handlers.cancel_permissions(session_id)
        if not self.rpc.closed:
            self.notify("session/cancel", {"sessionId": session_id})

    async def close(self, *, grace: float = 2.0, term_grace: float = 2.0) -> None:
        """Shut the agent down: close stdin, wait, terminate its group, wait, kill."""
        self._closing = True
        await self.handlers.close()
        if self.process is not None:
            await self.process.shutdown(grace=grace, term_grace=term_grace)
        self.rpc.close()

    @property
    def stderr_tail(self) -> str:
        """The last output the agent process wrote to stderr (empty for a non-process peer)."""
        return self.process.stderr_tail() if self.process is not None else ""

    async def __aenter__(self) -> AgentConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
