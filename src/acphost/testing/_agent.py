"""The fake agent's ACP method handlers: initialize, auth, session lifecycle and prompts.

Behaviour is driven by the normalized scenario settings (see ``_settings``); a prompt's turn
(``_fake_turn``) runs either a Python scenario function or the document's JSON steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from . import _fake_login
from ._fake_protocol import (
    AUTH_REQUIRED,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    RESOURCE_NOT_FOUND,
    IncomingRequest,
    Peer,
    RpcError,
    log,
)
from ._fake_sessions import SessionState, SessionStore, select_values
from ._fake_turn import ScenarioFunction, prompt_text, run_prompt

DEFAULT_AUTH_METHOD: dict[str, Any] = {
    "id": "fake-login",
    "name": "Fake login",
    "description": "authenticate with this method id to unlock the fake agent",
}

#: Methods that only exist when the matching capability is advertised.
_GATED = {
    "session/list": "list",
    "session/resume": "resume",
    "session/close": "close",
    "session/delete": "delete",
    "session/fork": "fork",
    "session/set_title": "setTitle",
}


class FakeAgent:
    """Serves one client over a :class:`Peer` until the client closes stdin."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        scenario: ScenarioFunction | None,
        state_dir: Path | None,
        peer: Peer,
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.peer = peer
        peer.handler = self
        self.store = SessionStore(state_dir, list(settings["session_ids"]))
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] | None = None
        self.auth_methods: list[dict[str, Any]] = list(settings["auth_methods"]) or (
            [DEFAULT_AUTH_METHOD] if settings["auth_required"] else []
        )
        self.authenticated = not settings["auth_required"]
        if settings["terminal_login"]:
            self.authenticated = _fake_login.logged_in(settings)
        self.failures: list[str] = []
        self._handlers: dict[str, Callable[[Any, IncomingRequest], Awaitable[Any]]] = {
            "initialize": self._initialize,
            "authenticate": self._authenticate,
            "session/new": self._new,
            "session/load": self._load,
            "session/resume": self._resume,
            "session/list": self._list,
            "session/delete": self._delete,
            "session/close": self._close,
            "session/set_mode": self._set_mode,
            "session/fork": self._fork,
            "session/set_title": self._set_title,
            "session/set_config_option": self._set_config_option,
            "session/prompt": self._prompt,
            "_session/steering": self._steering,
        }
        if settings["terminal_login"]:
            self._handlers["logout"] = self._logout

    async def run(self) -> None:
        delay = float(self.settings["startup_delay"])
        if delay:
            await asyncio.sleep(delay)
        await self.peer.serve()
        linger = float(self.settings["linger_after_eof"])
        if linger:  # a stubborn agent: the host has to kill it
            log(f"stdin closed; lingering {linger}s before exiting")
            await asyncio.sleep(linger)

    # -- dispatch ------------------------------------------------------------------------
    async def handle_request(self, request: IncomingRequest) -> Any:
        method = request.method
        delay = self.settings["method_delays"].get(method)
        if delay:  # a $/cancel_request cuts it short
            cancel = asyncio.Event()
            request.on_cancel.append(cancel.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), float(delay))
        if request.cancelled:
            raise RpcError(REQUEST_CANCELLED, "Request cancelled")
        scripted_error = self.settings["method_errors"].get(method)
        if scripted_error is not None:
            raise RpcError(
                int(scripted_error.get("code", -32603)),
                str(scripted_error.get("message", "scripted error")),
                scripted_error.get("data"),
            )
        handler = self._handlers.get(method)
        gate = _GATED.get(method)
        gated_off = (
            gate is not None and self.settings["session_capabilities"].get(gate) in (None, False)
        ) or (method == "session/load" and not self.settings["load_session"])
        if handler is None or gated_off:
            if method in self.settings["ext_methods"]:
                return copy.deepcopy(self.settings["ext_methods"][method])
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
        params = request.params if isinstance(request.params, dict) else {}
        result = await handler(params, request)
        meta = self.settings["response_meta"].get(method, self.settings["response_meta"].get("*"))
        if meta is not None and isinstance(result, dict) and "_meta" not in result:
            result["_meta"] = meta
        return result

    def handle_notification(self, method: str, params: Any) -> None:
        if method == "session/cancel":
            session_id = params.get("sessionId") if isinstance(params, dict) else None
            session = self.store.live.get(str(session_id))
            if session is not None and session.active_turn is not None:
                session.active_turn.request_cancel()
                if self.settings["ignore_cancel"]:
                    log("session/cancel received and ignored (ignore_cancel)")
            else:
                log(f"session/cancel for {session_id!r}: no turn running")
        elif method != "$/cancel_request":
            log(f"ignored notification {method}")

    # -- helpers -------------------------------------------------------------------------
    def _require_auth(self) -> None:
        if not self.authenticated:
            raise RpcError(
                AUTH_REQUIRED, "Authentication required", {"authMethods": self.auth_methods}
            )

    def _live(self, params: Mapping[str, Any]) -> SessionState:
        session_id = str(params.get("sessionId"))
        session = self.store.live.get(session_id)
        if session is not None:
            return session
        if self.store.find(session_id) is not None:
            message = (
                f"Session {session_id} is not loaded here: call session/load or session/resume"
            )
        else:
            message = f"Session not found: {session_id}"
        raise RpcError(RESOURCE_NOT_FOUND, message, {"sessionId": session_id})

    def _session_setup(self, session: SessionState) -> dict[str, Any]:
        """``modes``/``configOptions`` of new/load/resume responses."""
        result: dict[str, Any] = {}
        modes = self.settings["modes"]
        if modes:
            result["modes"] = {
                "currentModeId": session.mode_id or modes.get("currentModeId"),
                "availableModes": modes.get("availableModes", []),
            }
        if session.config_options is not None:
            result["configOptions"] = session.config_options
        return result

    def _reopen(self, params: Mapping[str, Any]) -> SessionState:
        self._require_auth()
        session_id = str(params.get("sessionId"))
        session = self.store.find(session_id)
        if session is None:
            raise RpcError(
                RESOURCE_NOT_FOUND, f"Session not found: {session_id}", {"sessionId": session_id}
            )
        if isinstance(params.get("cwd"), str):
            session.cwd = params["cwd"]
        if params.get("mcpServers") is not None:
            session.mcp_servers = list(params["mcpServers"])
        if params.get("additionalDirectories") is not None:
            session.additional_directories = list(params["additionalDirectories"])
        session.take_system_prompt(params)
        self.store.live[session.session_id] = session
        return session

    def _update(self, session: SessionState, update: dict[str, Any]) -> None:
        self.peer.notify("session/update", {"sessionId": session.session_id, "update": update})

    # -- handlers ------------------------------------------------------------------------
    async def _initialize(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        caps = params.get("clientCapabilities")
        self.client_capabilities = dict(caps) if isinstance(caps, dict) else {}
        info = params.get("clientInfo")
        self.client_info = dict(info) if isinstance(info, dict) else None
        s = self.settings
        capabilities: dict[str, Any] = {
            "loadSession": bool(s["load_session"]),
            "promptCapabilities": s["prompt_capabilities"],
            "mcpCapabilities": s["mcp_capabilities"],
            "sessionCapabilities": {
                k: v
                for k, v in s["session_capabilities"].items()
                if v is not None and v is not False
            },
        }
        capabilities.update(s["agent_capabilities"])
        if s["terminal_login"]:
            capabilities["auth"] = {"logout": {}}
            self.auth_methods = _fake_login.offered(self.client_capabilities, self.auth_methods)
        result: dict[str, Any] = {
            "protocolVersion": s["protocol_version"],
            "agentCapabilities": capabilities,
            "authMethods": self.auth_methods,
            "agentInfo": s["agent_info"],
        }
        if s["steering"]:  # as claude-agent-acp and codex-acp advertise it
            result["_meta"] = {"steering": {"supported": True}}
        return result

    async def _authenticate(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        method_id = params.get("methodId")
        known = {m.get("id") for m in self.auth_methods}
        if known and method_id not in known:
            raise RpcError(
                INVALID_PARAMS, f"Unknown auth method: {method_id}", {"known": sorted(known)}
            )
        self.authenticated = True
        return {}

    async def _logout(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        _fake_login.logout(self.settings)
        self.authenticated = False
        return {}

    async def _new(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        self._require_auth()
        cwd = params.get("cwd")
        if not isinstance(cwd, str) or not os.path.isabs(cwd):
            raise RpcError(INVALID_PARAMS, f"session/new needs an absolute cwd, got {cwd!r}")
        modes = self.settings["modes"] or {}
        session = SessionState(
            session_id=self.store.new_id(),
            cwd=cwd,
            additional_directories=list(params.get("additionalDirectories") or []),
            mcp_servers=list(params.get("mcpServers") or []),
            mode_id=modes.get("currentModeId"),
            config_options=copy.deepcopy(self.settings["config_options"]),
        )
        session.take_system_prompt(params)
        self.store.live[session.session_id] = session
        self.store.save(session)
        return {"sessionId": session.session_id, **self._session_setup(session)}

    async def _load(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._reopen(params)
        self._replay(session)
        return self._session_setup(session)

    async def _resume(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._reopen(params)
        if self.settings["replay_on_resume"]:
            self._replay(session)
        return self._session_setup(session)

    def _replay(self, session: SessionState) -> None:
        """Send the session's history as updates, before the load (or resume) answer."""
        for entry in session.history:
            if entry.get("role") == "user":
                update = {"sessionUpdate": "user_message_chunk", "content": entry.get("content")}
            else:
                text = {"type": "text", "text": str(entry.get("text", ""))}
                update = {"sessionUpdate": "agent_message_chunk", "content": text}
            self._update(session, update)

    async def _fork(self, params: dict[str, Any], request: IncomingRequest) -> Any:
        """A new session with a copy of the parent's history, mode, options and prompt."""
        parent = self._reopen({"sessionId": params.get("sessionId")})
        created = await self._new({**params, "cwd": params.get("cwd", parent.cwd)}, request)
        session = self.store.live[created["sessionId"]]
        session.history = copy.deepcopy(parent.history)
        session.turn_index = parent.turn_index  # its script goes on where the parent's was
        session.mode_id, session.config_options = (
            parent.mode_id,
            copy.deepcopy(parent.config_options),
        )
        session.system_prompt = parent.system_prompt
        session.system_prompt_mode = parent.system_prompt_mode
        session.vars["forked_from"] = parent.session_id
        self.store.save(session)
        return {"sessionId": session.session_id, **self._session_setup(session)}

    async def _set_title(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._live(params)
        title = params.get("title")
        if not isinstance(title, str) or not title:
            raise RpcError(INVALID_PARAMS, "title must be a non-empty string")
        session.title = title
        self.store.save(session)
        self._update(session, {"sessionUpdate": "session_info_update", "title": title})
        return {}

    async def _list(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        cwd = params.get("cwd")
        sessions = [s.info() for s in self.store.all() if cwd is None or s.cwd == cwd]
        return {"sessions": sessions}

    async def _delete(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session_id = str(params.get("sessionId"))
        live = self.store.live.get(session_id)
        if live is not None and live.active_turn is not None:
            live.active_turn.request_cancel()
        if not self.store.delete(session_id):
            raise RpcError(
                RESOURCE_NOT_FOUND, f"Session not found: {session_id}", {"sessionId": session_id}
            )
        return {}

    async def _close(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._live(params)
        if session.active_turn is not None:
            session.active_turn.request_cancel()
        self.store.live.pop(session.session_id, None)
        return {}

    async def _set_mode(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._live(params)
        modes = self.settings["modes"] or {}
        known = {m.get("id") for m in modes.get("availableModes", [])}
        mode_id = params.get("modeId")
        if mode_id not in known:
            raise RpcError(INVALID_PARAMS, f"Unknown mode: {mode_id}", {"available": sorted(known)})
        session.mode_id = str(mode_id)
        self.store.save(session)
        self._update(session, {"sessionUpdate": "current_mode_update", "currentModeId": mode_id})
        return {}

    async def _set_config_option(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        session = self._live(params)
        config_id = params.get("configId")
        value = params.get("value")
        options = session.config_options or []
        option = next((o for o in options if o.get("id") == config_id), None)
        if option is None:
            raise RpcError(INVALID_PARAMS, f"Unknown config option: {config_id}")
        if option.get("type") == "boolean":
            if not isinstance(value, bool):
                raise RpcError(
                    INVALID_PARAMS, f"{config_id} is boolean: send type boolean, value true/false"
                )
        elif not isinstance(value, str) or value not in select_values(option):
            raise RpcError(INVALID_PARAMS, f"Invalid value for {config_id}: {value!r}")
        option["currentValue"] = value
        self.store.save(session)
        self._update(session, {"sessionUpdate": "config_option_update", "configOptions": options})
        return {"configOptions": options}

    async def _steering(self, params: dict[str, Any], _: IncomingRequest) -> Any:
        """``_session/steering``: the text joins the running turn (the scenario takes it with
        ``ctx.wait_for_steering``); with no turn running the client is told to prompt."""
        if not self.settings["steering"]:
            raise RpcError(METHOD_NOT_FOUND, "Method not found: _session/steering")
        session = self._live(params)
        blocks = params.get("prompt")
        if not isinstance(blocks, list):
            raise RpcError(INVALID_PARAMS, "_session/steering needs a prompt (content blocks)")
        turn = session.active_turn
        if turn is None:
            return {"outcome": "promptRequired", "reason": "noRunningTurn"}
        session.history.extend({"role": "user", "content": b} for b in blocks)
        turn.steered.append(prompt_text(blocks))
        turn.steer_event.set()
        return {"outcome": "injected"}

    async def _prompt(self, params: dict[str, Any], request: IncomingRequest) -> Any:
        session = self._live(params)
        blocks = params.get("prompt")
        if not isinstance(blocks, list):
            raise RpcError(
                INVALID_PARAMS, "session/prompt needs a prompt (a list of content blocks)"
            )
        if session.active_turn is not None:
            raise RpcError(INVALID_REQUEST, "A prompt is already running in this session")
        return await run_prompt(self, session, blocks, request)
