"""Delivery: mailbox items → events → store → state → callbacks, always in that order.

Every method here runs on the driver with the state lock held. A batch of events is stored
(one transaction) before any callback sees any of them; callbacks and token deltas then run
in emission order. Permission questions are decided between batches, after the request event
has been stored and delivered, on the caller's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from acphost.acp.messages import SessionUpdate
from acphost.conversation._elicitation import ElicitationClerk, ElicitationPolicy
from acphost.conversation._items import (
    AskingNote,
    ControlFailed,
    ElicitationAnswer,
    ElicitationAsk,
    PermissionAnswer,
    PermissionAsk,
    SessionBegan,
    Stalled,
    Token,
    TurnDone,
)
from acphost.conversation._permission_clerk import PermissionClerk, PermissionPolicy
from acphost.conversation._runner import TurnRunner
from acphost.conversation._state import ConversationState, Status
from acphost.conversation._translate import Translator
from acphost.errors import AcphostError, AgentError, BudgetExceeded
from acphost.events import (
    Event,
    EventBase,
    PermissionModeEvent,
    SessionEvent,
    StatusChangedEvent,
    TokenUsage,
    TurnEndedEvent,
    TurnResumedEvent,
    TurnStalledEvent,
    TurnStartedEvent,
)
from acphost.store import EventRecord, EventStore

__all__ = ["Delivery"]

log = logging.getLogger("acphost")

E = TypeVar("E", bound=EventBase)

PUBLISH_EVERY = 256
"""Updates per store transaction when a drained batch is large (a storm)."""

_USAGE_KEYS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cachedReadTokens": "cached_read_tokens",
    "cachedWriteTokens": "cached_write_tokens",
    "thoughtTokens": "thought_tokens",
    "totalTokens": "total_tokens",
}


class Delivery:
    def __init__(
        self,
        state: ConversationState,
        store: EventStore,
        *,
        callbacks: list[Callable[[Event], object]],
        on_token: Callable[[str], object] | None,
        on_thought: Callable[[str], object] | None,
        permission: PermissionPolicy,
        asks: dict[str, PermissionAsk],
        ask_timeout: float | None = None,
        max_cost: float | None = None,
        elicitation: ElicitationPolicy = "decline",
        elicitation_asks: dict[str, ElicitationAsk] | None = None,
    ) -> None:
        # the caller's loop while arun() drives: async callbacks run there (see _callbacks)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.permissions = PermissionClerk(self, permission, asks, ask_timeout)
        self.state = state
        self.store = store
        self.callbacks = callbacks
        self.on_token = on_token
        self.on_thought = on_thought
        self.max_cost = max_cost
        asked = elicitation_asks if elicitation_asks is not None else {}  # shared with the desk
        self.elicitations = ElicitationClerk(self, elicitation, asked)
        self._over_budget: BudgetExceeded | None = None  # why the running turn is being stopped
        self.tr = Translator(state, tokens=on_token is not None, thoughts=on_thought is not None)
        # stored but not yet seen by the callbacks, in seq order (see publish)
        self._undelivered: deque[Event | Token] = deque()
        self._publishing = False
        self._turn_started = 0.0
        self._cost_at_start: float | None = None
        self._stalled_at: float | None = None  # when the running turn was reported stalled
        self.raised: BaseException | None = None  # see take_raised
        self._raised_on = 0  # the thread whose callback raised it

    # --- the pipeline --------------------------------------------------------------------

    def publish(self) -> None:
        """Store what was made, then run the callbacks on it, in emission order.

        A callback may make events itself (``send_message`` from a callback): those are
        stored at once, but their callbacks run after the ones already under way, so every
        callback still sees every event in seq order.
        """
        out = self.tr.take()
        if out:
            events = [item for item in out if not isinstance(item, Token)]
            if events:
                cid = self.state.id
                self.store.append(
                    [
                        EventRecord(
                            cid, e.seq, e.id, e.kind, e.ts, e.__pydantic_serializer__.to_json(e)
                        )
                        for e in events
                    ],
                )
                self.state.events.stored(events[-1].seq)
            self._undelivered.extend(out)
        if self._publishing:
            return
        self._publishing = True
        try:
            undelivered = self._undelivered
            held = self.tr.held
            while undelivered:
                item = undelivered.popleft()
                if isinstance(item, Token):
                    on_text = self.on_thought if item.thought else self.on_token
                    if on_text is not None:
                        self._call(on_text, item.text)
                else:
                    if held and held[0] is item:  # a turn's end: the state follows it now
                        self.tr.release(item)
                        self.state.events.stored(item.seq)  # all undelivered are stored
                    for callback in self.callbacks:
                        self._call(callback, item)
        finally:
            self._publishing = False

    def _call(self, callback: Callable[[Any], object], value: Any) -> None:
        try:
            callback(value)
        except Exception:
            log.exception("an acphost callback raised; delivery goes on")
        except BaseException as exc:  # Ctrl-C in a callback: the driver interrupts the turn
            if self.raised is None:
                self.raised, self._raised_on = exc, threading.get_ident()

    def take_raised(self) -> BaseException | None:
        """The ``BaseException`` (``KeyboardInterrupt``...) a callback raised on this thread
        since the last call: delivery went on (nothing is lost), and whoever delivered raises
        it once done (a driver: once the turn is settled)."""
        if self.raised is None or self._raised_on != threading.get_ident():
            return None
        raised, self.raised = self.raised, None
        return raised

    def deliver(
        self,
        items: list[Any],
        *,
        turn: int | None = None,
        final: bool = False,
        publish: bool = True,
    ) -> TurnDone | None:
        """Deliver a drained batch; returns the end of ``turn`` (the running one) if it is in
        the batch. The end of any other turn closes nothing (a turn ends only itself)."""
        done: TurnDone | None = None
        tr = self.tr
        for i, item in enumerate(items, 1):
            kind = type(item)
            if kind is SessionUpdate:
                if self._stalled_at is not None:
                    self._resumed()
                tr.message(item)
                if publish and not i % PUBLISH_EVERY:
                    self.publish()  # a storm's events, rows and JSON stay bounded in memory
            elif kind is TurnDone:
                if item.turn == turn:
                    done = item
                else:
                    log.error("turn %s ended while turn %s runs: ignored", item.turn, turn)
            elif kind is Stalled:
                if item.turn == turn:
                    tr.flush()
                    self._stalled(item)
            elif (handle := _HANDLERS.get(kind)) is not None:
                tr.flush()
                handle(self, item)
            else:
                if self._stalled_at is not None:
                    self._resumed()
                tr.message(item)
        if final or done is not None:
            tr.flush()
        if publish and (done is None or final):
            self.publish()  # else end_turn stores these with the turn's end, in one transaction
        return done

    # --- what the host and the agent's requests say (see _HANDLERS) ----------------------

    def _permission_asked(self, ask: PermissionAsk) -> None:
        if self._stalled_at is not None:
            self._resumed()
        self.permissions.asked(ask)

    def _permission_answered(self, answer: PermissionAnswer) -> None:
        self.permissions.decided(answer.key, answer.decision, answer.by)

    def _elicitation_asked(self, ask: ElicitationAsk) -> None:
        if self._stalled_at is not None:
            self._resumed()
        self.elicitations.deliver(ask)

    def _elicitation_answered(self, answer: ElicitationAnswer) -> None:
        self.elicitations.deliver(answer)

    def _control_failed(self, failed: ControlFailed) -> None:
        self.tr.error(failed.error)

    def _asking_noted(self, note: AskingNote) -> None:
        self.tr.new(
            PermissionModeEvent,
            trusted=True,
            mode_id=note.mode_id,
            can_ask=note.can_ask,
            message=note.message,
        )

    # --- turns and status ----------------------------------------------------------------

    def set_status(self, status: Status, *, hold: bool = False) -> None:
        previous = self.state.status
        if status != previous:  # published by the caller, with the rest of its batch
            self.tr.new(
                StatusChangedEvent,
                trusted=True,
                hold=hold,
                status=status,
                previous=previous,
                turn=self.tr.turn,
            )

    def start_turn(self, turn: int, prompt: str) -> None:
        self.tr.flush()  # text streamed after the last turn ended belongs to that turn
        if self.state.status == "running":
            self.close_dangling_turn()
        self.tr.turn = turn
        self._turn_started = time.monotonic()
        self._cost_at_start = self.state.cost
        self._stalled_at = None
        self._over_budget = None
        self.tr.new(TurnStartedEvent, trusted=True, prompt=prompt)
        self.set_status("running")
        self.publish()

    def close_dangling_turn(self) -> None:
        """A stored conversation whose host died mid-turn: end that turn, as cancelled."""
        self.tr.turn = self.state.turns or None
        self._fail_leftovers()
        self.tr.new(
            TurnEndedEvent, stop_reason="cancelled", error_code="host_exited", turn=self.tr.turn
        )
        self.set_status("paused")

    def _fail_leftovers(self) -> None:
        for call in self.state.running_tool_calls:
            failed = {"toolCallId": call.tool_call_id, "status": "failed"}
            self.tr.tool_call(failed, announced=False, source="host")  # acphost's mark
        self.permissions.cancel_leftovers()
        self.elicitations.cancel_leftovers()

    def end_turn(
        self, done: TurnDone, runner: TurnRunner
    ) -> tuple[TurnEndedEvent, AcphostError | None]:
        tr = self.tr
        tr.flush()
        self._stalled_at = None
        error: AcphostError | None = None
        status: Status = "idle"
        stop = done.result.stop_reason if done.result is not None else "cancelled"
        if done.timeout is not None:
            over = self._over_budget if done.timeout == "budget" else None
            error = over or runner.timed_out_error(done.timeout)
            stop, status = "cancelled", "error"
        elif done.error is not None:
            exc = done.error
            error = (
                exc if isinstance(exc, AcphostError) else AgentError(f"the agent failed: {exc!r}")
            )
            stop, status = "error", "error"
        elif done.cancelled or stop == "cancelled":
            # interrupted: paused, whatever the agent answered (it may have finished first)
            status = "paused"
        if status != "idle":
            self._fail_leftovers()
        if error is not None and not tr.reported(error):
            tr.error(error)
        cost = self.state.cost
        ended = tr.new(
            TurnEndedEvent,
            trusted=True,
            hold=True,
            stop_reason=str(stop),
            usage=_usage(done.result.usage if done.result is not None else None),
            cost=None if cost is None else cost - (self._cost_at_start or 0.0),
            duration_s=round(time.monotonic() - self._turn_started, 6),
            error_code=error.code if error is not None else None,
            extra=done.result.extra if done.result is not None else None,
        )
        self.set_status(status, hold=True)
        self.publish()
        return ended, error

    def over_budget(self) -> BudgetExceeded | None:
        """Why no turn may run: the conversation cost more than ``max_cost``."""
        cost, limit = self.state.cost, self.max_cost
        if cost is None or limit is None or cost <= limit:
            return None
        return BudgetExceeded(cost, limit, self.state.currency)

    def stop_over_budget(self) -> bool:
        """Whether the running turn went over budget just now (once per turn): the driver
        then stops it, and its end reports this error."""
        if self._over_budget is None and self.tr.turn is not None:
            self._over_budget = self.over_budget()
            return self._over_budget is not None
        return False

    def _stalled(self, stalled: Stalled) -> None:
        self._stalled_at = time.monotonic()
        self.tr.new(
            TurnStalledEvent,
            trusted=True,
            idle_s=stalled.idle_s,
            pending_permissions=list(self.state.pending_permissions),
            pending_elicitations=list(self.state.pending_elicitations),
            running_tools=[
                {"tool_call_id": c.tool_call_id, "title": c.title}
                for c in self.state.running_tool_calls
            ],
        )

    def _resumed(self) -> None:
        assert self._stalled_at is not None
        stalled_s = round(time.monotonic() - self._stalled_at, 3)
        self._stalled_at = None
        self.tr.flush()
        self.tr.new(TurnResumedEvent, trusted=True, stalled_s=stalled_s)

    # --- sessions ------------------------------------------------------------------------

    def _session(self, began: SessionBegan) -> None:
        start = began.start
        kind = {
            "loaded": "session_loaded",
            "resumed": "session_resumed",
            "restarted": "session_restarted",
            "forked": "session_forked",
        }.get(start.how, "session_started")
        self.tr.new(
            SessionEvent,
            kind=kind,
            session_id=start.session_id,
            context_restored=start.context_restored,
            reason=start.reason,
            agent_info=start.agent_info,
            modes=start.modes,
            config_options=start.config_options,
            error=start.error,
            system_prompt=start.system_prompt,
            system_prompt_mode=start.system_prompt_mode,
        )


_HANDLERS: dict[type[Any], Callable[[Delivery, Any], None]] = {
    PermissionAsk: Delivery._permission_asked,
    PermissionAnswer: Delivery._permission_answered,
    ElicitationAsk: Delivery._elicitation_asked,
    ElicitationAnswer: Delivery._elicitation_answered,
    SessionBegan: Delivery._session,
    ControlFailed: Delivery._control_failed,
    AskingNote: Delivery._asking_noted,
}
"""What :meth:`Delivery.deliver` does with each mailbox item that is not the agent's message,
a turn's end or a stall (the pending text is flushed first: the item follows it)."""


def _usage(raw: dict[str, Any] | None) -> TokenUsage | None:
    if not raw:
        return None
    return TokenUsage(**{name: int(raw.get(key) or 0) for key, name in _USAGE_KEYS.items()})
