"""Answers to the agent's requests: permission, files, terminals, elicitation.

Every request the agent can send gets an answer; unknown methods get -32601 rather than the
official SDK's silent ``null``. Handlers are *started* synchronously in arrival order (so a
permission request reaches its decider before any later update), then finish in their own task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from typing import Any, TypeAlias

from pydantic import ValidationError

from acphost.acp.fs import Workspace
from acphost.acp.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    RESOURCE_NOT_FOUND,
    IncomingRequest,
)
from acphost.acp.messages import ProtocolErrorMessage, RefusedRequest, TerminalMessage
from acphost.acp.permissions import (
    CANCELLED,
    Decision,
    PermissionHandler,
    PermissionPolicy,
    PermissionRequest,
    as_permission_handler,
)
from acphost.acp.terminals import TerminalManager
from acphost.errors import (
    AcphostError,
    ProtocolError,
    ResourceNotFound,
    TerminalNotFound,
    WorkspaceError,
)

__all__ = ["ClientHandlers", "ElicitationHandler", "ExtensionHandler"]

ElicitationHandler: TypeAlias = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""Given the ``elicitation/create`` params, return the response (``{"action": ...}``)."""

ExtensionHandler: TypeAlias = Callable[[str, Any], Awaitable[Any]]
"""Given an ``_``-prefixed method and its params, return the result."""

TERMINAL_END_WAIT = 5.0
"""Seconds to wait for a killed terminal's process to exit before reporting it anyway."""

_Work: TypeAlias = Callable[[Any], Coroutine[Any, Any, Any]]


class ClientHandlers:
    """The client half of ACP, confined to one workspace.

    ``terminal_env`` is the environment terminal commands start from: give the agent's own
    (what its process got, removals included), so a name removed for the agent is removed
    for the commands it runs too; ``None`` means the host's environment.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        permission: PermissionPolicy = "deny",
        terminals: bool = True,
        terminal_env: Mapping[str, str] | None = None,
        elicitation: ElicitationHandler | None = None,
        extension: ExtensionHandler | None = None,
        subagents: bool = False,
    ) -> None:
        self.workspace = workspace
        self.permission: PermissionHandler = as_permission_handler(permission)
        self.terminals = TerminalManager(workspace, base_env=terminal_env) if terminals else None
        self.elicitation = elicitation
        self.extension = extension
        self.subagents = subagents  # unstable: the agent may show its subagents' sessions
        # subagent session -> the session that spawned it (their requests are answered too)
        self.parents: dict[str, str] = {}
        self.observer: Callable[[Any], None] | None = None  # set by AgentConnection
        # the sessions this client opened (set by AgentConnection); None: not checked
        self.sessions: set[str] | None = None
        self._terminal_info: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {}
        self._ended: set[str] = set()  # killed or reported exited, not released yet
        self._tasks: set[asyncio.Task[None]] = set()
        self._permissions: dict[str, set[asyncio.Future[Decision]]] = {}
        self._routes: dict[str, _Work] = {
            "fs/read_text_file": self._read_text_file,
            "fs/write_text_file": self._write_text_file,
        }
        if self.terminals is not None:
            self._routes.update(
                {
                    "terminal/create": self._terminal_create,
                    "terminal/output": self._terminal_output,
                    "terminal/wait_for_exit": self._terminal_wait,
                    "terminal/kill": self._terminal_kill,
                    "terminal/release": self._terminal_release,
                }
            )

    def capabilities(self) -> dict[str, Any]:
        """The ``clientCapabilities`` to advertise in ``initialize``."""
        caps: dict[str, Any] = {
            "fs": {"readTextFile": True, "writeTextFile": True},
            "terminal": self.terminals is not None,
            # every update these allow is typed as an event (notice, compaction) and boolean
            # config options are settable (Conversation.set_config_option(id, True))
            "session": {"notices": {}, "compaction": {}, "configOptions": {"boolean": {}}},
            # the agent's own login runs on the user's terminal: `acphost agents login`
            "auth": {"terminal": True},
        }
        if self.elicitation is not None:
            caps["elicitation"] = {"form": {}, "url": {}}
        if self.subagents:
            caps["subagents"] = {}
        return caps

    def spawned(self, parent: str, update: dict[str, Any]) -> None:
        """A ``subagent_spawned`` update on ``parent``: the subagent's session becomes one
        of ours, so its permission and other requests are answered, not refused."""
        child = update.get("subagentSessionId")
        if not self.subagents or not isinstance(child, str):
            return
        if self.sessions is not None and parent not in self.sessions:
            return  # announced on a session that is not ours
        self.parents[child] = parent
        if self.sessions is not None:
            self.sessions.add(child)

    # --- dispatch ------------------------------------------------------------------------

    def handle(self, request: IncomingRequest) -> None:
        """Start answering ``request``; called synchronously in arrival order."""
        method = request.method
        if method == "session/request_permission":
            self._start_permission(request)
            return
        work = self._routes.get(method)
        if work is None:
            if method == "elicitation/create":
                work = self._elicit
            elif method.startswith("_") and self.extension is not None:
                extension = self.extension

                async def work(params: Any) -> Any:
                    return await extension(method, params)
            else:
                reason = f"Method not found: {method}"
                request.fail(METHOD_NOT_FOUND, reason)
                self._observe(
                    RefusedRequest(request.id, method, request.params, METHOD_NOT_FOUND, reason)
                )
                return
        self._spawn(self._answer(request, work))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _answer(self, request: IncomingRequest, work: _Work) -> None:
        task = asyncio.current_task()
        assert task is not None
        request.on_cancel(task.cancel)
        try:
            result = await work(request.params or {})
        except asyncio.CancelledError:
            request.fail(REQUEST_CANCELLED, "Request cancelled")
            if not request.cancelled:
                raise
        except ResourceNotFound as exc:
            request.fail(RESOURCE_NOT_FOUND, "Resource not found", exc.to_dict())
        except (WorkspaceError, TerminalNotFound) as exc:
            request.fail(INVALID_PARAMS, exc.message, exc.to_dict())
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            reason = f"params for {request.method}: {exc}"
            self._refuse(
                request, INVALID_PARAMS, f"Invalid {reason}", f"the agent sent invalid {reason}"
            )
        except AcphostError as exc:
            request.fail(INTERNAL_ERROR, exc.message, exc.to_dict())
        except Exception as exc:
            request.fail(INTERNAL_ERROR, f"{request.method} failed: {exc}")
        else:
            request.respond(result if result is not None else {})

    # --- permission ----------------------------------------------------------------------

    def _start_permission(self, request: IncomingRequest) -> None:
        try:
            permission = PermissionRequest.from_params(request.params, request.id)
        except ProtocolError as exc:
            reason = f"Invalid params for {request.method}: {exc.message}"
            self._refuse(request, INVALID_PARAMS, reason, exc.message)
            return
        session_id = permission.session_id
        if self.sessions is not None and session_id not in self.sessions:
            self._refuse(
                request,
                INVALID_PARAMS,
                f"Invalid params for {request.method}: unknown session {session_id!r}",
                f"the agent asked permission for session {session_id!r}, which is not its "
                "session here",
            )
            return
        try:
            pending = asyncio.ensure_future(self.permission(permission))
        except Exception as exc:
            request.fail(INTERNAL_ERROR, f"the permission handler failed: {exc}")
            return
        waiting = self._permissions.setdefault(permission.session_id, set())

        def answer(future: asyncio.Future[Decision]) -> None:
            waiting.discard(future)
            if future.cancelled():
                decision: Decision = CANCELLED
            elif (error := future.exception()) is not None:
                request.fail(INTERNAL_ERROR, f"the permission handler failed: {error}")
                return
            else:
                decision = future.result()
            option_id = permission.option_id_for(decision) if decision != CANCELLED else None
            outcome: dict[str, Any] = (
                {"outcome": "selected", "optionId": option_id}
                if option_id is not None
                else {"outcome": "cancelled"}
            )
            request.respond({"outcome": outcome})

        if pending.done():  # decided already (a fixed policy): answer in this same step
            answer(pending)
            return
        waiting.add(pending)
        pending.add_done_callback(answer)
        request.on_cancel(pending.cancel)

    def _refuse(self, request: IncomingRequest, code: int, reason: str, record: str) -> None:
        """Answer a request with an error (``reason``), and record it (``record``) as sent."""
        request.fail(code, reason)
        sent = {"id": request.id, "method": request.method, "params": request.params}
        hint = f"it was answered with error {code} ({reason}); no policy or user was asked"
        self._observe(ProtocolErrorMessage(ProtocolError(record, hint=hint, request=sent)))

    def cancel_permissions(self, session_id: str) -> None:
        """Answer every pending permission request of ``session_id`` and of the subagents it
        spawned with ``cancelled`` (a cancel cascades to them: none is left hanging)."""
        sessions, todo = {session_id}, [session_id]
        while todo:  # the session, its subagents, theirs... (each once, whatever they claim)
            current = todo.pop()
            for pending in list(self._permissions.get(current, ())):
                pending.cancel()
            children = [c for c, p in self.parents.items() if p == current and c not in sessions]
            sessions.update(children)
            todo.extend(children)

    # --- files ---------------------------------------------------------------------------

    async def _read_text_file(self, params: Any) -> Any:
        content = await self.workspace.read_text(
            params["path"], line=params.get("line"), limit=params.get("limit")
        )
        return {"content": content}

    async def _write_text_file(self, params: Any) -> Any:
        content = params["content"]
        if not isinstance(content, str):
            raise TypeError("content must be a string")
        await self.workspace.write_text(params["path"], content)
        return {}

    # --- terminals -----------------------------------------------------------------------

    async def _terminal_create(self, params: Any) -> Any:
        assert self.terminals is not None
        env = {item["name"]: item["value"] for item in params.get("env") or ()}
        command, args, cwd = params["command"], tuple(params.get("args") or ()), params.get("cwd")
        terminal_id = await self.terminals.create(
            command, args, env=env, cwd=cwd, output_byte_limit=params.get("outputByteLimit")
        )
        info = (str(params.get("sessionId", "")), command, args, cwd)
        self._terminal_info[terminal_id] = info
        self._observe(TerminalMessage(info[0], terminal_id, "started", command, args, cwd))
        return {"terminalId": terminal_id}

    def open_terminals(self, session_id: str) -> frozenset[str]:
        """The ids of the terminals of ``session_id`` not released yet."""
        return frozenset(t for t, info in self._terminal_info.items() if info[0] == session_id)

    async def end_terminals(
        self, session_id: str | None = None, *, keep: Collection[str] = ()
    ) -> None:
        """Kill the terminals not released yet (of ``session_id``; all but ``keep``) and
        report how each ended: ``killed``, or ``exited`` if it had ended on its own.

        A cancelled turn's commands stop with it; the agent may still read and release them.
        """
        if self.terminals is None:
            return
        ending = [
            terminal_id
            for terminal_id, info in self._terminal_info.items()
            if (session_id is None or info[0] == session_id)
            and terminal_id not in keep
            and terminal_id not in self._ended
        ]
        self._ended.update(ending)
        await asyncio.gather(*(self._end_terminal(t) for t in ending))

    async def _end_terminal(self, terminal_id: str) -> None:
        assert self.terminals is not None
        killed = self.terminals.running(terminal_id)
        if killed:
            await self.terminals.kill(terminal_id)
        with contextlib.suppress(TimeoutError):  # stuck in the kernel: report what is known
            await asyncio.wait_for(self.terminals.wait_for_exit(terminal_id), TERMINAL_END_WAIT)
        if terminal_id in self._terminal_info:  # else the agent released it meanwhile
            self._report(terminal_id, "killed" if killed else "exited")

    def _report(self, terminal_id: str, status: str) -> None:
        """Tell the observer how a terminal ended, with its output so far."""
        assert self.terminals is not None
        info = self._terminal_info.get(terminal_id)
        if info is None:
            return
        final = self.terminals.peek(terminal_id)
        exit_status = final.exit_status
        self._observe(
            TerminalMessage(
                info[0],
                terminal_id,
                status,
                info[1],
                info[2],
                info[3],
                output=final.output,
                truncated=final.truncated,
                exit_code=exit_status.exit_code if exit_status is not None else None,
                signal=exit_status.signal if exit_status is not None else None,
            )
        )

    def _observe(self, message: TerminalMessage | ProtocolErrorMessage | RefusedRequest) -> None:
        if self.observer is not None:
            self.observer(message)

    async def _terminal_output(self, params: Any) -> Any:
        assert self.terminals is not None
        return (await self.terminals.output(params["terminalId"])).to_acp()

    async def _terminal_wait(self, params: Any) -> Any:
        assert self.terminals is not None
        return (await self.terminals.wait_for_exit(params["terminalId"])).to_acp()

    async def _terminal_kill(self, params: Any) -> Any:
        assert self.terminals is not None
        await self.terminals.kill(params["terminalId"])
        return {}

    async def _terminal_release(self, params: Any) -> Any:
        assert self.terminals is not None
        terminal_id = params["terminalId"]
        self.terminals.peek(terminal_id)  # an unknown id fails here, before anything changes
        self._report(terminal_id, "released")
        self._terminal_info.pop(terminal_id, None)
        self._ended.discard(terminal_id)
        await self.terminals.release(terminal_id)
        return {}

    # --- elicitation ---------------------------------------------------------------------

    async def _elicit(self, params: Any) -> Any:
        if self.elicitation is None:
            return {"action": "decline"}
        return await self.elicitation(params)

    async def close(self) -> None:
        """Stop every running handler and terminal."""
        for waiting in self._permissions.values():
            for pending in list(waiting):
                pending.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self.terminals is not None:
            await self.end_terminals()  # their state says how they ended
            await self.terminals.close()
