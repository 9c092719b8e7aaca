"""Permission decisions: policies decide by option *kind*, never by option id.

Agents name their options freely (``allow``, ``once``, ``proceed_once``, ``approve``...), but
every option carries one of four standard kinds. A policy answers with a kind (or ``True`` /
``False``), and acphost picks the agent's option of that kind.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from acp import schema

__all__ = [
    "CANCELLED",
    "Decision",
    "PermissionHandler",
    "PermissionPolicy",
    "PermissionRequest",
    "as_permission_handler",
    "choose_option",
]

Decision: TypeAlias = Literal[
    "allow_once", "allow_always", "reject_once", "reject_always", "cancelled"
]
CANCELLED: Decision = "cancelled"

_FALLBACK: dict[str, tuple[str, ...]] = {
    "allow_once": ("allow_once", "allow_always"),
    "allow_always": ("allow_always", "allow_once"),
    "reject_once": ("reject_once", "reject_always"),
    "reject_always": ("reject_always", "reject_once"),
}


@dataclass(slots=True)
class PermissionRequest:
    """A ``session/request_permission`` from the agent, with what a decider needs."""

    session_id: str
    tool_call: schema.ToolCallUpdate
    options: list[schema.PermissionOption]
    request_id: Any = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.tool_call.title or self.tool_call.tool_call_id

    def option_for(self, decision: Decision) -> schema.PermissionOption | None:
        return choose_option(self.options, decision)


def choose_option(
    options: list[schema.PermissionOption], decision: Decision
) -> schema.PermissionOption | None:
    """The agent's option matching ``decision`` by kind (with the once/always fallback)."""
    for kind in _FALLBACK.get(decision, ()):
        for option in options:
            if option.kind == kind:
                return option
    return None


PermissionHandler: TypeAlias = Callable[[PermissionRequest], Awaitable[Decision]]
"""Called synchronously, in arrival order, on the I/O loop; the awaitable gives the decision."""

PermissionPolicy: TypeAlias = (
    Literal["allow", "allow_always", "deny"]
    | Callable[[PermissionRequest], "Decision | bool | Awaitable[Decision | bool]"]
)
"""``"allow"`` (allow once), ``"allow_always"``, ``"deny"`` (reject once), or a callable
returning a decision kind or a bool (sync or async)."""


def _normalise(answer: Decision | bool) -> Decision:
    if answer is True:
        return "allow_once"
    if answer is False:
        return "reject_once"
    if answer in ("allow_once", "allow_always", "reject_once", "reject_always", "cancelled"):
        return answer
    raise ValueError(
        f"a permission policy returned {answer!r}; return True/False or one of "
        "'allow_once', 'allow_always', 'reject_once', 'reject_always', 'cancelled'"
    )


def as_permission_handler(policy: PermissionPolicy) -> PermissionHandler:
    """Turn a policy into a handler. Callables run on the I/O loop: keep them quick."""
    if isinstance(policy, str):
        fixed: Decision = {
            "allow": "allow_once",
            "allow_once": "allow_once",
            "allow_always": "allow_always",
            "deny": "reject_once",
            "reject": "reject_once",
        }.get(policy, "")  # type: ignore[assignment]
        if not fixed:
            raise ValueError(f"unknown permission policy {policy!r}; use 'allow' or 'deny'")

        def constant(request: PermissionRequest) -> Awaitable[Decision]:
            return _done(fixed)

        return constant

    decide = policy

    def call(request: PermissionRequest) -> Awaitable[Decision]:
        # The policy is called now, in arrival order; only its awaitable finishes later.
        answer = decide(request)
        if isinstance(answer, asyncio.Future) and answer.done() and not answer.cancelled():
            if answer.exception() is None:
                return _done(_normalise(answer.result()))
        elif not inspect.isawaitable(answer):
            return _done(_normalise(answer))
        return _finish(answer)

    return call


def _done(decision: Decision) -> asyncio.Future[Decision]:
    # An answer known now is answered now: no task, no extra loop iteration.
    future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    future.set_result(decision)
    return future


async def _finish(answer: Decision | bool | Awaitable[Decision | bool]) -> Decision:
    if inspect.isawaitable(answer):
        answer = await answer
    return _normalise(answer)
