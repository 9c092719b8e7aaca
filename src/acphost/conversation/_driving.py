"""Driving a conversation's turns: the driver's seat (one driver at a time), starting each
queued turn, delivering what its agent posts until the turn ends, and settling how the driver
was stopped (Ctrl-C, a cancelled task).

Functions over a :class:`Conversation`'s parts, split out of it; ``run()`` and ``arun()`` call
:func:`drive_sync` and :func:`drive_async` once they hold the driver's seat (DESIGN.md: only
the driver drains the mailbox, under the state's lock).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from acphost.conversation._delivery import PUBLISH_EVERY
from acphost.conversation._record import unrun_messages
from acphost.errors import AcphostError, UsageError
from acphost.events import Event, TurnEndedEvent
from acphost.store import Owner

if TYPE_CHECKING:
    from acphost.conversation._conversation import Conversation

__all__ = [
    "aagent_call",
    "agent_call",
    "check_budget",
    "deliver_if_idle",
    "drive_async",
    "drive_sync",
    "enter",
    "leave",
    "restore",
    "try_enter",
]

ASYNC_SLICE = PUBLISH_EVERY
"""Mailbox items ``arun()`` delivers between two yields to the caller's loop (a storm must
not starve the caller's other tasks: the server's sockets, its other conversations)."""

SIGNAL_CHECK_S = 0.25
"""How often ``run()`` in the main thread wakes to let Python run pending signal handlers."""

_TurnEnd: TypeAlias = tuple[TurnEndedEvent, AcphostError | None]


def _next_turn(conv: Conversation) -> int | None:
    """Start the next queued turn (under the lock), or ``None`` when there is none."""
    with conv.state:
        # stored together with the turn's start below (or right here if none starts)
        conv._delivery.deliver(conv._mailbox.drain(), publish=False)
        if conv._closed or conv._paused or not conv._pending:
            if conv._paused:
                conv._delivery.set_status("paused")
            conv._delivery.publish()
            return None
        event, blocks = conv._pending.popleft()
        turn = event.turn or conv.state.turns + 1
        if not conv._owned:  # so that readers tell our turns from a dead process's
            conv.store.set_owner(conv.id, Owner.current())
            conv._owned = True
        # From here on the turn ends with a TurnDone in the mailbox, whatever happens.
        conv._current_turn = turn
        conv._io.start(conv._runner.run_turn, turn, blocks)
        conv._delivery.start_turn(turn, event.text)
        return turn


def drive_sync(conv: Conversation) -> TurnEndedEvent | None:
    """Run the queued turns on this thread (``run()``); the last turn's end."""
    conv._paused = False
    ended: TurnEndedEvent | None = None
    while (turn := _next_turn(conv)) is not None:
        stop: BaseException | None = None
        end: _TurnEnd | None = None
        # In the main thread, wake now and then: a signal that came just before the wait
        # would otherwise wait for the agent's next word to raise (Ctrl-C unanswered).
        main = threading.current_thread() is threading.main_thread()
        check = SIGNAL_CHECK_S if main else None
        while end is None and conv._current_turn == turn:
            try:
                stop = stop or _take_stop(conv)
                if conv._mailbox.wait_sync(check):
                    end = _deliver(conv, conv._mailbox.drain())
            except Exception:
                conv.interrupt()  # delivery itself failed (the store?): no settling
                raise
            except BaseException as exc:  # Ctrl-C: the same path as a cancelled arun()
                stop = _stopping(conv, stop, exc)
        ended = _settled(conv, end, stop)
    return ended


async def drive_async(conv: Conversation) -> TurnEndedEvent | None:
    """Run the queued turns on the caller's loop (``arun()``); the last turn's end."""
    conv._paused = False
    conv._delivery.loop = asyncio.get_running_loop()  # async callbacks run on it
    try:
        return await _drive_turns(conv)
    finally:
        conv._delivery.loop = None


async def _drive_turns(conv: Conversation) -> TurnEndedEvent | None:
    ended: TurnEndedEvent | None = None
    while (turn := _next_turn(conv)) is not None:
        stop: BaseException | None = None
        end: _TurnEnd | None = None
        while end is None and conv._current_turn == turn:
            try:
                stop = stop or _take_stop(conv)
                if conv._mailbox.ready():  # a storm: let the caller's loop run between slices
                    await asyncio.sleep(0)
                else:
                    await conv._mailbox.wait_async(None)
                end = _deliver(conv, conv._mailbox.drain(ASYNC_SLICE))
            except (Exception, GeneratorExit):
                conv.interrupt()  # delivery failed, or the coroutine is being closed
                raise
            except BaseException as exc:
                # Cancelled: take the interrupt path, wait for the turn's end, re-raise.
                current = asyncio.current_task()
                if isinstance(exc, asyncio.CancelledError) and current is not None:
                    current.uncancel()
                stop = _stopping(conv, stop, exc)
        ended = _settled(conv, end, stop)
    return ended


def _stopping(conv: Conversation, stop: BaseException | None, exc: BaseException) -> BaseException:
    """A driver was stopped (Ctrl-C, its task cancelled): interrupt the turn; if it was
    interrupted already (a second Ctrl-C), stop an agent that ignores the cancel now."""
    again = stop is not None or conv._interrupted == conv._current_turn
    conv.interrupt()
    if again:
        conv._io.call_soon(conv._runner.hurry)
    return stop or exc


def _take_stop(conv: Conversation) -> BaseException | None:
    """A ``BaseException`` a callback raised (Ctrl-C in a callback): interrupt the turn."""
    stop = conv._delivery.take_raised()
    return None if stop is None else _stopping(conv, None, stop)


def _settled(
    conv: Conversation, end: _TurnEnd | None, stop: BaseException | None
) -> TurnEndedEvent:
    """The turn is over and recorded: raise what stopped the driver, or its error."""
    if stop is not None:
        conv._delivery.take_raised()  # about this turn too: one exception is enough
        raise stop
    conv._raise_from_callbacks()
    assert end is not None  # the turn ended in _deliver, which raised nothing
    ended, error = end
    if error is not None:
        raise error
    return ended


def _deliver(conv: Conversation, items: list[Any]) -> _TurnEnd | None:
    """Deliver a batch; with the turn's end in it, end the turn (one transaction)."""
    with conv.state:
        done = conv._delivery.deliver(items, turn=conv._current_turn)
        if done is None:
            if conv._delivery.stop_over_budget():
                conv._io.call_soon(conv._runner.stop, conv._current_turn, "budget")
            return None
        conv._current_turn = None
        end = conv._delivery.end_turn(done, conv._runner)
        if done.cancelled or done.timeout:
            conv._paused = True
        return end


# --- the driver's seat: one driver at a time, which may drain the mailbox ----------------


def enter(conv: Conversation) -> None:
    """Take the seat for ``run()``, waiting for another driver to leave it."""
    if conv._driver == threading.get_ident():
        raise UsageError(
            "run() was called while this thread is already driving the conversation",
            hint="callbacks must not call run(); call send_message() and let the run go on",
        )
    if not try_enter(conv):
        conv._drive_lock.acquire()
        conv._driver = threading.get_ident()


def try_enter(conv: Conversation) -> bool:
    """Take the seat if it is free (``arun()`` polls this not to block its loop)."""
    if conv._driver == threading.get_ident():
        raise UsageError("arun() was called from a callback of this conversation")
    if conv._drive_lock.acquire(blocking=False):
        conv._driver = threading.get_ident()
        return True
    if conv.state.lock.owned():
        # The driver needs the state lock to deliver: waiting for it here would deadlock.
        raise UsageError(
            "run() was called while holding the state lock and another thread is driving",
            hint="leave `with conversation.state:` before calling run() or arun()",
        )
    return False


def leave(conv: Conversation) -> None:
    """Leave the seat; a close asked meanwhile is finished first."""
    try:
        if conv._closed:
            _finish_close(conv)
    finally:
        conv._driver = None
        conv._drive_lock.release()
    conv._raise_from_callbacks()


def deliver_if_idle(conv: Conversation) -> None:
    """With nobody driving, deliver what the agent posted since (late titles, commands)."""
    if conv._driver is None and conv._drive_lock.acquire(blocking=False):
        conv._driver = threading.get_ident()
        try:
            with conv.state:  # no turn runs: close any message streamed since the last
                conv._delivery.deliver(conv._mailbox.drain(), final=True)
        finally:
            leave(conv)


def _finish_close(conv: Conversation) -> None:
    """Deliver the last of the mailbox and mark the conversation finished."""
    with conv.state:
        conv._delivery.deliver(conv._mailbox.drain(), final=True)
        conv._delivery.set_status("finished")
        conv._delivery.publish()


def restore(conv: Conversation, events: list[Event]) -> None:
    """Fold a resumed conversation's stored log; close the turn its dead host left open."""
    for event in events:
        conv.state.apply(event, stored=True)
    conv._runner.resume_session_id = conv.state.session_id
    conv._pending.extend((e, e.content) for e in unrun_messages(events))
    with conv.state:
        conv._delivery.tr.turn = conv.state.turns or None
        if conv.state.status == "running":  # its host died mid-turn
            conv._delivery.close_dangling_turn()
            conv._delivery.publish()


def check_budget(conv: Conversation) -> None:
    """Refuse to start a turn over budget, and say so in the log (a server's clients see
    only the log); queued messages stay queued. Called from the driver's seat."""
    delivery = conv._delivery
    with conv.state:
        over = delivery.over_budget()
        if over is not None:
            delivery.tr.error(over)
            delivery.publish()
    if over is not None:
        raise over


def agent_call(conv: Conversation, func: Callable[..., Any], *args: Any) -> None:
    """Run ``func`` (a runner call: set a mode, start the session...) on the I/O loop and
    wait for it; then deliver what it made the agent say, if nobody drives."""
    conv._check_open()
    conv._io.submit(func, *args).result()
    deliver_if_idle(conv)


async def aagent_call(conv: Conversation, func: Callable[..., Any], *args: Any) -> None:
    """Like :func:`agent_call`, awaited without blocking the caller's loop."""
    conv._check_open()
    await asyncio.wrap_future(conv._io.submit(func, *args))
    deliver_if_idle(conv)
