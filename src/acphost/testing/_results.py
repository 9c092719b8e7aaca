"""Value and exception types shared by the fake agent's context and step interpreter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ._fake_protocol import ClientRequestError

__all__ = (
    "DEFAULT_PERMISSION_OPTIONS",
    "CapabilityMissing",
    "ClientRequestError",
    "FailTurn",
    "PermissionOutcome",
    "StopTurn",
    "TerminalResult",
    "TurnCancelled",
    "clean",
)

DEFAULT_PERMISSION_OPTIONS: tuple[dict[str, str], ...] = (
    {"optionId": "allow_once", "name": "Allow once", "kind": "allow_once"},
    {"optionId": "allow_always", "name": "Always allow", "kind": "allow_always"},
    {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
)
"""The options a fake agent's permission request offers unless the scenario names others."""


class TurnCancelled(Exception):
    """Raised at the next step once the client cancelled the turn; ends it ``cancelled``."""


class StopTurn(Exception):
    """End the turn now with this stop reason (the ``stop`` step)."""

    def __init__(self, reason: str = "end_turn", usage: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = dict(usage) if usage is not None else None


class FailTurn(Exception):
    """Answer the ``session/prompt`` request with a JSON-RPC error instead of a stop reason."""

    def __init__(self, message: str, code: int = -32603, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


class CapabilityMissing(ClientRequestError):
    """The client did not advertise the capability a step needs, so nothing was sent."""

    def __init__(self, method: str, capability: str) -> None:
        super().__init__(method, -32601, f"client did not advertise {capability}")
        self.capability = capability


@dataclass(frozen=True)
class PermissionOutcome:
    """The client's answer to ``session/request_permission``."""

    outcome: Literal["selected", "cancelled"]
    option_id: str | None = None
    kind: str | None = None

    @property
    def allowed(self) -> bool:
        """Whether the client chose an option that allows the tool call."""
        return self.outcome == "selected" and (self.kind or "").startswith("allow")

    def matches(self, expected: str) -> bool:
        """``expected`` may be ``selected:<id>``, an option id, an option kind, ``allowed``,
        ``rejected`` or ``cancelled``."""
        if expected == "allowed":
            return self.allowed
        if expected == "rejected":
            return not self.allowed
        return expected in {str(self), self.option_id, self.kind}

    def __str__(self) -> str:
        return f"selected:{self.option_id}" if self.outcome == "selected" else "cancelled"


class TerminalResult(NamedTuple):
    """``output, exit_status = await ctx.terminal(...)``; exit_status is the wire object."""

    output: str
    exit_status: dict[str, Any]

    @property
    def exit_code(self) -> int | None:
        """The terminal command's exit code, or ``None`` if it was killed by a signal."""
        code = self.exit_status.get("exitCode")
        return code if isinstance(code, int) else None


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}
