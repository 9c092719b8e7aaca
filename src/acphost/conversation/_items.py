"""What travels through the mailbox besides the agent's own messages."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.agents._base import SessionStart, TurnResult

__all__ = ["CONFIRMED", "PermissionAnswer", "PermissionAsk", "SessionBegan", "Token", "TurnDone"]

CONFIRMED = "acphost/confirmed"
"""``_meta`` key of an update the host made from an agent's answer (set_mode, set_config...)."""


@dataclass(slots=True)
class PermissionAsk:
    """The agent asks; the driver decides on the caller's thread and resolves ``future``."""

    key: str
    request: PermissionRequest
    future: concurrent.futures.Future[Decision]

    def claim(self) -> bool:
        """Take the right to decide (from any thread): ``False`` if it was cancelled or
        another decider has it. Once claimed, no cancel can win: the decision that follows
        is the one the agent gets."""
        try:
            return self.future.set_running_or_notify_cancel()
        except RuntimeError:  # running or decided already
            return False


@dataclass(slots=True)
class PermissionAnswer:
    """A decision made outside the driver (``answer_permission``, a cancel)."""

    key: str
    decision: Decision
    by: str


@dataclass(slots=True)
class SessionBegan:
    start: SessionStart


@dataclass(slots=True)
class TurnDone:
    turn: int
    result: TurnResult | None = None
    error: BaseException | None = None
    cancelled: bool = False
    timeout: str | None = None
    killed: bool = False


@dataclass(slots=True)
class Token:
    """A streamed delta for ``on_token`` (not an event, not stored)."""

    text: str
    thought: bool = False
