"""The driver side of permission requests: it records each request, asks the policy (or the
user's callback) on the caller's thread, and records the decision with who made it. An
``async def`` callback under ``arun()`` answers later, on the caller's loop (see ``_callbacks``).

The I/O-loop side, which hands requests to the driver and answers to the agent, is the
:class:`~acphost.conversation._desk.PermissionDesk`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, TypeAlias

from acphost._event_base import Source
from acphost.acp.permissions import Decision, PermissionRequest
from acphost.conversation._callbacks import is_async, run_to_completion, start_on
from acphost.conversation._items import PermissionAsk
from acphost.events import PermissionDecidedEvent, PermissionRequestedEvent

if TYPE_CHECKING:
    from acphost.conversation._delivery import Delivery

__all__ = ["FIXED_POLICIES", "PermissionClerk", "PermissionPolicy"]

log = logging.getLogger("acphost")

PermissionPolicy: TypeAlias = (
    Literal["allow", "allow_always", "deny", "ask"]
    | Callable[[PermissionRequest], "Decision | bool"]
    | Callable[[PermissionRequest], "Awaitable[Decision | bool]"]
)
"""How a conversation answers permission requests, on the caller's thread (an ``async def``
callback: on the caller's loop under ``arun()``, while the turn goes on)."""

FIXED_POLICIES: dict[str, Decision] = {
    "allow": "allow_once",
    "allow_once": "allow_once",
    "allow_always": "allow_always",
    "deny": "reject_once",
}

_DECIDERS: dict[str, Source] = {
    "policy": "policy",
    "callback": "user",
    "user": "user",
    "cancel": "host",
    "timeout": "host",
}
"""Who made a permission decision, by how it was made (the event's ``source``)."""


class PermissionClerk:
    """Records permission requests and decisions; decides by policy or callback (driver)."""

    def __init__(
        self,
        delivery: Delivery,
        policy: PermissionPolicy,
        asks: dict[str, PermissionAsk],
        ask_timeout: float | None,
    ) -> None:
        if isinstance(policy, str) and policy not in (*FIXED_POLICIES, "ask"):
            raise ValueError(f"unknown permission policy {policy!r}")
        self.delivery = delivery
        self.policy = policy
        self.asks = asks  # shared with the desk
        self.ask_timeout = ask_timeout  # for the message saying a request waits
        self.is_async = is_async(policy)  # an async def callback (decided once)
        # the desk's settle (claim, record, tell the agent): how an async callback answers
        self.settle: Callable[[PermissionAsk, Decision, str], bool] | None = None

    def asked(self, ask: PermissionAsk) -> None:
        """Record a request; decide it now unless a person answers it (or it was decided)."""
        request, delivery = ask.request, self.delivery
        tool_call = request.raw.get("toolCall") if isinstance(request.raw, dict) else None
        subagent = request.session_id in delivery.state.subagents
        delivery.tr.new(  # trusted: the request's JSON was checked when it arrived (acp.shapes)
            PermissionRequestedEvent,
            trusted=True,
            request_id=ask.key,
            tool_call_id=request.tool_call_id,
            title=request.title,
            options=request.option_data,
            tool_call=tool_call if isinstance(tool_call, dict) else {},
            session_id=request.session_id if subagent else None,
        )
        if ask.future.done():
            return  # decided on the I/O loop (a fixed policy): stored with its decision
        delivery.publish()  # the request is stored and seen before anyone decides
        if self.policy == "ask":
            log.warning(
                "conversation %s: the agent asks %r (permission request %s) and waits; "
                "answer with conversation.answer_permission(%r, 'allow_once' or 'reject_once')"
                "%s",
                delivery.state.id,
                request.title,
                ask.key,
                ask.key,
                "" if self.ask_timeout is None else f", or it is denied in {self.ask_timeout} s",
            )
            return
        loop = self.delivery.loop
        if loop is not None and self.settle is not None and self.is_async:
            self._decide_later(ask, loop)
            return
        if not ask.claim():
            return  # cancelled or timed out meanwhile: a PermissionAnswer follows
        decision, by = self._decide(request)
        ask.future.set_result(decision)
        self.decided(ask.key, decision, by)

    def _decide(self, request: PermissionRequest) -> tuple[Decision, str]:
        policy = self.policy
        if isinstance(policy, str):
            return FIXED_POLICIES[policy], "policy"
        return _decision(lambda: _awaited(policy(request))), "callback"

    def _decide_later(self, ask: PermissionAsk, loop: asyncio.AbstractEventLoop) -> None:
        """Run the async callback on the caller's loop; its answer is settled like a
        person's, unless the request was settled first (then it is cancelled)."""
        assert callable(self.policy)
        assert self.settle is not None
        settle = self.settle

        def finish(task: asyncio.Task[Decision | bool]) -> None:
            settle(ask, _decision(task.result), "callback")  # False: a cancel or a timeout won

        start_on(loop, self.policy(ask.request), ask.future, finish)  # type: ignore[arg-type]

    def decided(self, key: str, decision: Decision, by: str) -> None:
        """Record a pending request's decision, made ``by`` (a key of ``_DECIDERS``)."""
        if key not in self.delivery.state.pending_permissions:
            return
        ask = self.asks.pop(key, None)
        option_id = ask.request.option_id_for(decision) if ask is not None else None
        self.delivery.tr.new(
            PermissionDecidedEvent,
            trusted=True,
            request_id=key,
            decision=decision if option_id is not None or decision == "cancelled" else "cancelled",
            option_id=option_id,
            decided_by=by,
            source=_DECIDERS[by],
        )

    def cancel_leftovers(self) -> None:
        """The turn ended: every request still pending is recorded as cancelled."""
        for key in list(self.delivery.state.pending_permissions):
            ask = self.asks.get(key)
            if ask is not None and not ask.future.cancel() and not ask.future.cancelled():
                continue  # an answer won the race: it follows in the mailbox, as the agent got it
            self.decided(key, "cancelled", "cancel")


def _awaited(answer: object) -> object:
    """A sync caller's answer: an awaitable one is awaited on a loop of its own."""
    return run_to_completion(answer) if inspect.isawaitable(answer) else answer


def _decision(answer_of: Callable[[], object]) -> Decision:
    """The callback's answer as a decision: ``True`` allows once, anything unknown (or the
    callback raising) rejects."""
    try:
        answer = answer_of()
    except Exception:
        log.exception("the permission callback raised; the request is rejected")
        return "reject_once"
    if answer is True:
        return "allow_once"
    if answer is False or answer not in (*FIXED_POLICIES.values(), "reject_always", "cancelled"):
        return "reject_once"
    return answer
