"""One tree of errors.

Every error acphost raises or reports derives from :class:`AcphostError` and carries a stable
machine-readable ``code``, a human ``message``, a ``hint`` saying what to do about it, and
``retryable`` telling a caller whether trying the same thing again may succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AcphostError",
    "AgentError",
    "AgentExited",
    "AgentNotFound",
    "AgentRequestError",
    "AgentStartError",
    "AuthRequired",
    "BudgetExceeded",
    "CapabilityMissing",
    "ConnectionClosed",
    "ConversationClosed",
    "InvalidElicitationAnswer",
    "ProtocolError",
    "RequestTimeout",
    "ResourceNotFound",
    "TerminalNotFound",
    "UsageError",
    "WorkspaceError",
    "WorkspaceNotFound",
]


class AcphostError(Exception):
    """Base of every acphost error."""

    code: ClassVar[str] = "acphost_error"
    retryable: ClassVar[bool] = False
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for events and HTTP bodies."""
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
        }


class ProtocolError(AcphostError):
    """The agent broke the ACP/JSON-RPC protocol (a malformed line, an unknown response id)."""

    code = "protocol_error"
    default_hint = "the agent sent something that is not valid ACP; the session goes on"

    def __init__(
        self,
        message: str,
        *,
        line: bytes | None = None,
        hint: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.line_preview = line[:200].decode("utf-8", "replace") if line is not None else None
        self.request = request  # a request refused for it: its id, method and params, as sent

    def to_dict(self) -> dict[str, Any]:
        data = {**super().to_dict(), "line_preview": self.line_preview}
        if self.request is not None:
            data["request"] = self.request
        return data


class UsageError(AcphostError):
    """acphost was called in a way that cannot work (e.g. ``run()`` from its own callback)."""

    code = "usage_error"


class InvalidElicitationAnswer(UsageError):
    """An answer to an elicitation does not fit its form (a required field missing, a wrong
    type, a value not in the choices); ``problems`` names each field. The request stays
    pending: answer it again."""

    code = "invalid_elicitation_answer"
    default_hint = "fix the fields named and answer again; the request is still pending"

    def __init__(self, problems: list[str], *, hint: str | None = None) -> None:
        super().__init__("the answer does not fit the form: " + "; ".join(problems), hint=hint)
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": self.problems}


class ConversationClosed(UsageError):
    """The conversation was closed; open it again with ``Conversation.resume``."""

    code = "conversation_closed"
    default_hint = "resume the conversation to use it again"


class WorkspaceNotFound(AcphostError, ValueError):
    """The workspace directory given to a conversation does not exist."""

    code = "workspace_not_found"
    default_hint = "create the directory first or pass an existing one"


class WorkspaceError(AcphostError):
    """A file or working directory outside the workspace roots was asked for."""

    code = "path_outside_workspace"
    default_hint = "agents may only touch files inside the conversation's workspace roots"


class ResourceNotFound(AcphostError):
    """A file the agent asked for does not exist (answered to the agent as JSON-RPC -32002)."""

    code = "resource_not_found"
    default_hint = "check the path; the file does not exist in the workspace"


class TerminalNotFound(AcphostError):
    """A terminal id the agent used was never created here or was already released."""

    code = "terminal_not_found"
    default_hint = "create a terminal with terminal/create before using its id"


class AgentError(AcphostError):
    """Something went wrong with the agent process or its answers."""

    code = "agent_error"


class AgentNotFound(AgentError):
    """The agent's program is not installed or not on PATH."""

    code = "agent_not_found"
    default_hint = "install the agent or pass the full path of its command"


class AgentStartError(AgentError):
    """The agent program could not be started or did not complete ``initialize``."""

    code = "agent_start_failed"
    retryable = True


class AgentExited(AgentError):
    """The agent process ended while requests were pending or a session was in use."""

    code = "agent_exited"
    retryable = True
    default_hint = "see the stderr tail; the next turn starts the agent again"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
        stderr_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = stderr_tail

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stderr_tail": self.stderr_tail,
        }


class ConnectionClosed(AgentError):
    """The connection to the agent was closed by acphost (shutdown), not by the agent."""

    code = "connection_closed"
    default_hint = "start a new connection to talk to the agent again"


class AgentRequestError(AgentError):
    """The agent answered a request with a JSON-RPC error."""

    code = "agent_request_failed"

    def __init__(self, message: str, *, rpc_code: int, data: Any = None, method: str = "") -> None:
        super().__init__(message, hint=f"the agent rejected {method or 'the request'}")
        self.rpc_code = rpc_code
        self.data = data
        self.method = method

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "rpc_code": self.rpc_code, "data": self.data}


class AuthRequired(AgentError):
    """The agent needs the user to log in before it can open a session."""

    code = "auth_required"

    def __init__(
        self,
        message: str,
        *,
        methods: Sequence[dict[str, Any]] = (),
        hint: str | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message, hint=hint or _auth_hint(methods))
        self.methods = list(methods)
        self.data = data  # the ``data`` of the agent's JSON-RPC error, as sent

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "methods": self.methods, "data": self.data}


def _auth_hint(methods: Sequence[dict[str, Any]]) -> str:
    for method in methods:
        if method.get("type") == "terminal":
            name = method.get("name") or method.get("id")
            args = " ".join(method.get("args") or [])
            run = f"its command + {args}" if args else "its command"
            return f"log in first with the agent's own login ({name}: {run}): acphost agents login"
        if method.get("type") == "env_var":
            names = ", ".join(v.get("name", "?") for v in method.get("vars") or [])
            return f"set {names} in the agent's environment"
    return "log in with the agent's own command line, then try again"


class CapabilityMissing(AgentError):
    """The agent did not advertise the capability a call needs."""

    code = "capability_missing"

    def __init__(self, capability: str, *, method: str) -> None:
        super().__init__(
            f"the agent does not support {method} (capability {capability!r} not advertised)",
            hint="check the agent's capabilities before calling, or use another agent",
        )
        self.capability = capability
        self.method = method


class RequestTimeout(AgentError):
    """The agent did not answer in time."""

    code = "timeout"
    retryable = True
    default_hint = "the agent may be stuck; cancel the turn or raise the timeout"

    def __init__(self, message: str, *, method: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.method = method
        """The request acphost gave up on (None: a turn's time limit)."""

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "method": self.method}


class BudgetExceeded(AcphostError):
    """The conversation cost more than its ``max_cost``: the turn was cancelled cleanly, and
    no new turn starts until the budget is raised (queued messages wait, nothing is lost)."""

    code = "budget_exceeded"
    default_hint = "raise conversation.max_cost to go on, or start a new conversation"

    def __init__(
        self, cost: float, max_cost: float, currency: str | None, *, hint: str | None = None
    ) -> None:
        unit = f" {currency}" if currency else ""
        spent = f"the conversation has cost {cost:.6g}{unit}"
        super().__init__(f"{spent}, over its max_cost of {max_cost:.6g}{unit}", hint=hint)
        self.cost = cost
        self.max_cost = max_cost
        self.currency = currency

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "cost": self.cost,
            "max_cost": self.max_cost,
            "currency": self.currency,
        }
