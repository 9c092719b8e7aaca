"""What travels through the mailbox besides the agent's own messages."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acphost.acp.permissions import Decision, PermissionRequest
from acphost.agents._base import SessionStart, TurnResult
from acphost.errors import AcphostError

if TYPE_CHECKING:
    from acphost.conversation._elicitation import ElicitationRequest

__all__ = [
    "CONFIRMED",
    "AskingNote",
    "ControlFailed",
    "ElicitationAnswer",
    "ElicitationAsk",
    "PermissionAnswer",
    "PermissionAsk",
    "SessionBegan",
    "Stalled",
    "Token",
    "TurnDone",
]

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
        return _claim(self.future)


@dataclass(slots=True)
class PermissionAnswer:
    """A decision made outside the driver (``answer_permission``, a cancel)."""

    key: str
    decision: Decision
    by: str


@dataclass(slots=True)
class ElicitationAsk:
    """The agent asks the user something; the answer (the ACP response) resolves ``future``."""

    key: str
    request: ElicitationRequest
    future: concurrent.futures.Future[dict[str, Any]]

    def claim(self) -> bool:
        """Take the right to answer (see :meth:`PermissionAsk.claim`)."""
        return _claim(self.future)


@dataclass(slots=True)
class ElicitationAnswer:
    """An elicitation answered outside the driver (``answer_elicitation``, a cancel, a
    fixed policy on the I/O loop): ``response`` is what the agent was told."""

    key: str
    response: dict[str, Any]
    by: str
    reason: str = ""


def _claim(future: concurrent.futures.Future[Any]) -> bool:
    try:
        return future.set_running_or_notify_cancel()
    except RuntimeError:  # running or decided already
        return False


@dataclass(slots=True)
class ControlFailed:
    """A call the user made of the agent (a mode, a config option) failed: recorded, then
    raised to the caller."""

    error: AcphostError


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
class AskingNote:
    """What acphost did so that the agent asks before acting (``mode_id`` selected), or why it
    cannot (``can_ask`` false)."""

    mode_id: str | None
    can_ask: bool
    message: str


@dataclass(slots=True)
class Stalled:
    """The running turn made no progress for ``idle_s`` seconds (the stall watchdog)."""

    turn: int
    idle_s: float


@dataclass(slots=True)
class Token:
    """A streamed delta for ``on_token`` (not an event, not stored)."""

    text: str
    thought: bool = False
