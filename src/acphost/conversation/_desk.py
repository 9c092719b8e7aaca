"""The permission desk: the agent's questions go to the driver, the answers back to the agent.

Questions arrive on the I/O loop, in arrival order, and travel through the mailbox; the driver
asks the policy on the caller's thread (or waits for :meth:`PermissionDesk.answer` from any
thread with ``permission="ask"``) and the decision returns through a future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
from collections.abc import Callable
from typing import TypeVar

from acphost.acp.permissions import CANCELLED, Decision, PermissionRequest
from acphost.conversation._items import PermissionAnswer, PermissionAsk
from acphost.conversation._mailbox import Mailbox
from acphost.errors import UsageError

__all__ = ["Asking", "Bridged", "PermissionDesk"]

T = TypeVar("T")


class Asking:
    """The questions waiting for the user, and when the last was answered.

    While one waits the agent is not idle; the idle clock restarts at the answer, so an agent
    answered just before its idle deadline still has the whole ``idle_timeout`` to reply.
    """

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self.answered_at = 0.0  # time.monotonic() of the last answer

    def add(self, key: str) -> None:
        self._keys.add(key)

    def discard(self, key: str) -> None:
        """Called from any thread when a question is answered (or withdrawn)."""
        self._keys.discard(key)
        self.answered_at = time.monotonic()

    def __bool__(self) -> bool:
        return bool(self._keys)


class PermissionDesk:
    def __init__(
        self, mailbox: Mailbox, fixed: Decision | None, timeout: float | None = None
    ) -> None:
        self.mailbox = mailbox
        self.fixed = fixed  # the decision of a fixed policy ("allow", "deny"), if any
        self.timeout = timeout  # seconds a request may wait for its decision, then denied
        self.asks: dict[str, PermissionAsk] = {}
        self.asking = Asking()  # waiting for the user: the agent is not idle
        # whether the running turn was cancelled (session/cancel sent): set by the conversation
        self.cancelled: Callable[[], bool] = lambda: False
        self._numbers = itertools.count(1)
        # a fixed policy's decision, made once: done futures are never changed again
        self._decided: concurrent.futures.Future[Decision] | None = None
        self._decided_here: asyncio.Future[Decision] | None = None

    def ask(self, request: PermissionRequest) -> asyncio.Future[Decision]:
        """On the I/O loop, in arrival order: route a permission request to the driver."""
        key = str(request.request_id) if request.request_id is not None else ""
        if not key or key in self.asks:
            key = f"{key or 'permission'}#{next(self._numbers)}"
        if self.cancelled():
            # It crossed session/cancel: the user stopped the turn, whatever the policy says.
            return self._answer_now(key, request, *_decided_now(CANCELLED), "cancel")
        if self.fixed is not None:
            # No user code to ask: answer the agent now, and let the driver record the
            # request and the policy's decision in order (one round trip saved per request;
            # a storm of them is recorded a few at a time: see Mailbox.put_soon).
            return self._answer_now(key, request, *self._fixed_decision(), "policy")
        future: concurrent.futures.Future[Decision] = concurrent.futures.Future()
        ask = self.asks[key] = PermissionAsk(key, request, future)
        self.asking.add(key)

        def forget(f: concurrent.futures.Future[Decision]) -> None:
            self.asking.discard(key)
            if f.cancelled():
                self.mailbox.put(PermissionAnswer(key, "cancelled", "cancel"))

        future.add_done_callback(forget)
        self.mailbox.put(ask)
        loop = asyncio.get_running_loop()
        if self.timeout is not None:
            loop.call_later(self.timeout, self._expire, ask)  # a no-op once decided
        return Bridged(future, loop)

    def _answer_now(
        self,
        key: str,
        request: PermissionRequest,
        decided: concurrent.futures.Future[Decision],
        decided_here: asyncio.Future[Decision],
        by: str,
    ) -> asyncio.Future[Decision]:
        self.asks[key] = PermissionAsk(key, request, decided)
        self.mailbox.put_soon(self.asks[key])
        self.mailbox.put_soon(PermissionAnswer(key, decided.result(), by))
        return decided_here

    def _fixed_decision(
        self,
    ) -> tuple[concurrent.futures.Future[Decision], asyncio.Future[Decision]]:
        assert self.fixed is not None
        loop = asyncio.get_running_loop()
        if self._decided is None:
            self._decided = concurrent.futures.Future()
            self._decided.set_result(self.fixed)
        if self._decided_here is None or self._decided_here.get_loop() is not loop:
            self._decided_here = loop.create_future()
            self._decided_here.set_result(self.fixed)
        return self._decided, self._decided_here

    def answer(self, request_id: str, decision: Decision | bool) -> None:
        """Answer a pending request from any thread; the driver records it."""
        ask = self.asks.get(str(request_id))
        if ask is None or ask.future.done():
            raise UsageError(f"no pending permission request {request_id!r}")
        if decision is True:
            decision = "allow_once"
        elif decision is False:
            decision = "reject_once"
        if not self.settle(ask, decision, "user"):
            raise UsageError(f"permission request {request_id!r} was already answered")

    def settle(self, ask: PermissionAsk, decision: Decision, by: str) -> bool:
        """Claim ``ask`` (no cancel can win now), record the answer, then let the agent have
        it: whatever it does next comes after the decision in the log. From any thread."""
        if not ask.claim():
            return False
        self.mailbox.put(PermissionAnswer(ask.key, decision, by))
        ask.future.set_result(decision)
        return True

    def _expire(self, ask: PermissionAsk) -> None:
        """On the I/O loop: nobody answered in time, the request is denied."""
        self.settle(ask, "reject_once", "timeout")


def _decided_now(
    decision: Decision,
) -> tuple[concurrent.futures.Future[Decision], asyncio.Future[Decision]]:
    decided: concurrent.futures.Future[Decision] = concurrent.futures.Future()
    decided.set_result(decision)
    here: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    here.set_result(decision)
    return decided, here


class Bridged(asyncio.Future[T]):
    """The I/O loop's view of a decision made on another thread (a permission decision, an
    elicitation's answer).

    Unlike ``asyncio.wrap_future``, cancelling it (the turn was cancelled, the agent withdrew
    the request) succeeds only if the decision can still be cancelled: once a user's answer
    has claimed it, ``cancel()`` returns ``False`` and the agent gets that answer, the one the
    log records.
    """

    def __init__(
        self, source: concurrent.futures.Future[T], loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(loop=loop)
        self._source = source
        source.add_done_callback(
            lambda done: None if loop.is_closed() else loop.call_soon_threadsafe(self._copy, done)
        )

    def cancel(self, msg: object = None) -> bool:
        if not self._source.cancel():
            return False
        return super().cancel(msg)

    def _copy(self, source: concurrent.futures.Future[T]) -> None:
        if self.done():
            return
        if source.cancelled():
            super().cancel()
        else:
            self.set_result(source.result())
