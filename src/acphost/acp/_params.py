"""The params of acphost's session requests, checked against what the agent advertised.

A request the agent did not advertise is refused here with ``CapabilityMissing``, before
anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from acphost.errors import AuthRequired, CapabilityMissing, UsageError

__all__ = ["advertised", "check_auth_method", "content", "require", "session_params"]


def dump(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dict(value)


def content(prompt: str | Sequence[BaseModel | dict[str, Any]]) -> list[dict[str, Any]]:
    """A prompt as ACP content blocks (plain text becomes one text block)."""
    if isinstance(prompt, str):
        return [{"type": "text", "text": prompt}]
    return [dump(block) for block in prompt]


def advertised(init: Mapping[str, Any] | None, capability: str) -> bool:
    """Whether ``initialize``'s answer advertised ``capability``, a JSON path such as
    ``loadSession`` or ``sessionCapabilities.resume``; read as the SDK would (a malformed one
    is absent)."""
    *parents, leaf = capability.split(".")
    caps = init.get("agentCapabilities") if init else None
    for key in parents:
        caps = caps.get(key) if isinstance(caps, dict) else None
    value = caps.get(leaf) if isinstance(caps, dict) else None
    if parents and parents[0] in ("sessionCapabilities", "auth"):
        return isinstance(value, dict)  # these capabilities are objects
    return value is True


def require(init: Mapping[str, Any] | None, capability: str, method: str) -> None:
    """Refuse ``method`` unless the agent advertised ``capability``."""
    if not advertised(init, capability):
        raise CapabilityMissing(capability, method=method)


def check_auth_method(methods: list[dict[str, Any]], method_id: str) -> None:
    """Refuse an auth method the agent did not offer, or one only the user can complete."""
    method = next((m for m in methods if m.get("id") == method_id), None)
    if method is None:
        known = ", ".join(str(m.get("id")) for m in methods) or "none"
        raise AuthRequired(
            f"the agent offers no auth method {method_id!r} (it offers: {known})", methods=methods
        )
    if method.get("type") in ("terminal", "env_var"):
        raise AuthRequired(
            f"auth method {method_id!r} must be completed by the user", methods=[method]
        )


_HOW = {"load": "loadSession", "resume": "sessionCapabilities.resume",
        "fork": "sessionCapabilities.fork"}  # fmt: skip


def session_params(
    init: Mapping[str, Any] | None,
    how: Literal["new", "load", "resume", "fork"],
    cwd: str | os.PathLike[str],
    *,
    session_id: str | None,
    mcp_servers: Sequence[BaseModel | Mapping[str, Any]],
    additional_directories: Sequence[str | os.PathLike[str]],
    system_prompt: str | Sequence[BaseModel | dict[str, Any]] | None,
    system_prompt_mode: Literal["append", "override"],
) -> dict[str, Any]:
    """The params of ``session/{how}``, each feature checked against what was advertised."""
    method = f"session/{how}"
    if how in _HOW:
        require(init, _HOW[how], method)
    servers = [dump(server) for server in mcp_servers]
    for server in servers:
        kind = server.get("type", "stdio")
        if kind in ("http", "sse"):
            require(init, f"mcpCapabilities.{kind}", method)
    params: dict[str, Any] = {"cwd": os.fspath(cwd), "mcpServers": servers}
    if additional_directories:
        require(init, "sessionCapabilities.additionalDirectories", method)
        params["additionalDirectories"] = [os.fspath(d) for d in additional_directories]
    if system_prompt is not None:
        require(init, "sessionCapabilities.systemPrompt", method)
        if system_prompt_mode == "override":
            require(init, "sessionCapabilities.systemPrompt.override", method)
        params["systemPrompt"] = content(system_prompt)
        params["systemPromptMode"] = system_prompt_mode
    if how != "new":
        if session_id is None:
            raise UsageError(f"{method} needs a session_id")
        params["sessionId"] = session_id
    return params
