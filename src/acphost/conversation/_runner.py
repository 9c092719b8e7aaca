"""The I/O-loop half of a conversation: sessions, turns, timeouts, cancel escalation, retries.

Everything here runs on acphost's I/O loop and talks to the driver only through the mailbox
(``SessionBegan``, ``TurnDone``); it never touches conversation state or user code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from acphost.acp.messages import SessionUpdate
from acphost.agents._base import AgentBase, AgentContext, SessionStart, SteerOutcome, TurnResult
from acphost.conversation._desk import Asking
from acphost.conversation._items import (
    CONFIRMED,
    AskingNote,
    ControlFailed,
    SessionBegan,
    Stalled,
    TurnDone,
)
from acphost.conversation._mailbox import Mailbox
from acphost.errors import (
    AcphostError,
    AgentError,
    AgentExited,
    AgentRequestError,
    RequestTimeout,
)

__all__ = ["TurnRunner", "TurnSettings"]


@dataclass(slots=True)
class TurnSettings:
    """Time limits and retry policy of turns (see :class:`acphost.Conversation`)."""

    idle_timeout: float | None = 600.0
    turn_timeout: float | None = None
    cancel_grace: float = 10.0
    max_retries: int = 2
    retry_backoff: float = 0.5
    stall_timeout: float | None = 60.0
    want_asks: bool = False  # the policy decides: select the agent's asking mode


class TurnRunner:
    """Runs one agent's turns on the I/O loop, one at a time."""

    def __init__(
        self,
        agent: AgentBase,
        ctx: AgentContext,
        mailbox: Mailbox,
        settings: TurnSettings,
        resume_session_id: str | None = None,
        asking: Asking | None = None,
        cancel_asks: Callable[[], None] = lambda: None,
    ) -> None:
        self.agent = agent
        self.ctx = ctx
        self.mailbox = mailbox
        self.settings = settings
        self.session_ready = False
        self.resume_session_id = resume_session_id
        self.restart_reason: str | None = None
        # the questions waiting for the user, permissions and elicitations (shared with the desks)
        self.asking = asking if asking is not None else Asking()
        # answers the questions (elicitations) still waiting with ``cancel`` (the turn stops)
        self.cancel_asks = cancel_asks
        self._turn: int | None = None
        self._one_at_a_time = asyncio.Lock()
        self._cancel_before: int | None = None
        # while the agent's step runs: a future done when it ends, and the task running it
        self._step: asyncio.Future[None] | None = None
        self._step_task: asyncio.Task[Any] | None = None
        self._stopping = False  # we cancelled the step (its agent ignored session/cancel)
        # clear while a turn starts (the agent starting, its session opening): see until_stepping
        self._stepping = asyncio.Event()
        self._stepping.set()
        self._deadline: asyncio.TimerHandle | None = None
        self._cancelling: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # see hurry(); a new one per turn
        self._killed = False
        self._timeout: str | None = None
        self._stalled: int | None = None  # ctx.activity when the turn was reported stalled

    # --- sessions ------------------------------------------------------------------------

    async def ensure_session(self) -> None:
        alive = getattr(self.agent, "alive", True)
        if self.session_ready and alive:
            return
        if self.session_ready and not alive and self.restart_reason is None:
            # the agent died under us: try to reattach to its session
            self.resume_session_id = self.ctx.session_id or self.resume_session_id
        resume = self.resume_session_id
        reason = self.restart_reason
        try:
            start = await self.agent.astart(self.ctx, resume_session_id=resume)
        except AgentRequestError as exc:
            if resume is None:
                raise
            start = await self.agent.astart(self.ctx, resume_session_id=None)
            start.how = "restarted"
            start.context_restored = False
            start.reason = (
                f"the agent could not reattach session {resume}: it rejected "
                f"{exc.method or 'the request'} ({exc.message}); a new session was started "
                "without the earlier context"
            )
            start.error = exc.to_dict()
        if reason is not None and start.how == "started":
            start.how = "restarted"
            start.context_restored = False
            start.reason = reason
        self.session_ready = True
        self.resume_session_id = None
        self.restart_reason = None
        self.ctx.session_id = start.session_id
        self.mailbox.put(SessionBegan(start))
        if self.settings.want_asks:
            await self._make_it_ask(start)

    async def _make_it_ask(self, start: SessionStart) -> None:
        """The policy decides permissions (ask, deny, a callback): select the mode in which
        the agent asks before acting, where the registry knows it; say so when it can't ask
        (an agent in an ``auto`` mode approves its own tool calls and never asks)."""
        agent, mode = self.agent, self.agent.ask_mode
        if agent.asks_permission is False:
            message = f"{agent.name} never asks before acting (it has no permission system)"
            self.mailbox.put(AskingNote(None, False, message + ": the policy cannot stop it"))
            return
        if mode is None:
            return
        offered = [str(m.get("id")) for m in (start.modes or {}).get("availableModes") or []]
        current = (start.modes or {}).get("currentModeId")
        if current == mode:
            return
        if mode not in offered:
            message = f"{agent.name} offers no mode {mode!r}, in which it would ask before acting"
            self.mailbox.put(AskingNote(None, False, message + ": it may act without asking"))
            return
        try:
            await self.set_mode(mode)
        except AcphostError as exc:
            message = f"{agent.name} refused mode {mode!r} ({exc.message}): it may act unasked"
            self.mailbox.put(AskingNote(None, False, message))
            return
        why = f"{agent.name} started in mode {current!r}; in {mode!r} it asks before acting"
        self.mailbox.put(AskingNote(mode, True, f"selected mode {mode!r}: {why}"))

    async def detach(self) -> None:
        """Stop the agent; the next turn starts it again and reattaches the session."""
        await self.agent.aclose()
        if self.session_ready:
            self.resume_session_id = self.ctx.session_id or self.resume_session_id
        self.session_ready = False

    async def set_mode(self, mode_id: str) -> None:
        await self.ensure_session()
        with self._recorded():
            await self.agent.aset_mode(self.ctx, mode_id)
        self._host_update({"sessionUpdate": "current_mode_update", "currentModeId": mode_id})

    async def set_config_option(self, config_id: str, value: str | bool) -> None:
        await self.ensure_session()
        with self._recorded():
            options = await self.agent.aset_config_option(self.ctx, config_id, value)
        if options is not None:
            self._host_update({"sessionUpdate": "config_option_update", "configOptions": options})

    async def set_title(self, title: str) -> bool:
        """Tell a running session's agent its new title; whether it was told."""
        if not self.session_ready:
            return False  # no session yet: the title is the conversation's own
        with self._recorded():
            return await self.agent.aset_title(self.ctx, title)

    @contextlib.contextmanager
    def _recorded(self) -> Iterator[None]:
        """A failed call of the user's (the agent refused, or acphost gave up) goes in the log."""
        try:
            yield
        except AcphostError as exc:
            self.mailbox.put(ControlFailed(exc))
            raise

    async def until_stepping(self, turn: int) -> None:
        """Wait while ``turn`` starts (the agent starting, its session opening): only once its
        prompt is out is it known whether the agent takes messages mid-turn. At once if the
        turn is running or over. (The driver starts the turn's task under the state lock under
        which the caller read the turn, and the loop runs in order: the turn is already seen.)"""
        if self._turn == turn:
            await self._stepping.wait()

    async def steer(self, turn: int, prompt: list[dict[str, Any]]) -> SteerOutcome:
        """Put ``prompt`` into ``turn`` if it is still running and the agent can take it."""
        if turn != self._turn or self._step is None or self.ctx.cancelled:
            return "promptRequired"
        return await self.agent.asteer(self.ctx, prompt)

    def _host_update(self, data: dict[str, Any]) -> None:
        # What the agent confirmed in a response, recorded as the update it amounts to.
        self.mailbox.put(SessionUpdate(self.ctx.session_id, data, {CONFIRMED: True}))

    # --- turns ---------------------------------------------------------------------------

    async def run_turn(self, turn: int, prompt: list[dict[str, Any]]) -> None:
        """Run one turn to its end; the outcome goes to the mailbox as ``TurnDone``.

        Whatever happens, exactly one ``TurnDone`` is posted: the driver waits for it. Turns
        run one at a time: a prompt never starts while another runs on the session.
        """
        try:
            async with self._one_at_a_time:
                done = await self._run_turn(turn, prompt)
                if self._cancelling is not None:  # what the cancel did comes before the end
                    with contextlib.suppress(Exception):
                        await self._cancelling
        except BaseException as exc:  # a bug here, or the I/O loop shutting down
            error = exc if isinstance(exc, Exception) else AgentError(f"the turn stopped: {exc!r}")
            self.mailbox.put(TurnDone(turn, error=error))
            raise
        finally:
            self._turn = None
            self._stepping.set()
        self.mailbox.put(done)

    async def _run_turn(self, turn: int, prompt: list[dict[str, Any]]) -> TurnDone:
        self._turn = turn
        self._stepping.clear()
        self._killed = False
        self._timeout = None
        self._cancelling = None
        self._hurry = asyncio.Event()
        self.ctx.cancelled = self._cancel_before == turn  # interrupted before it began
        attempt = 0
        while True:
            attempt += 1
            self.ctx.activity = 0
            self.ctx.last_activity = time.monotonic()
            try:
                if self.ctx.cancelled:
                    return self._cancelled(turn)
                await self.ensure_session()
                if self.ctx.cancelled:
                    return self._cancelled(turn)
                result = await self._run_step(prompt)
            except Exception as exc:
                if self.ctx.cancelled:
                    return self._cancelled(turn)
                if self._may_retry(exc, attempt):
                    await asyncio.sleep(self.settings.retry_backoff * 2 ** (attempt - 1))
                    continue
                return TurnDone(turn, error=exc)
            if self._timeout is not None:
                return TurnDone(turn, result=result, timeout=self._timeout)
            if self.ctx.cancelled:
                done = self._cancelled(turn)
                done.result = result
                return done
            return TurnDone(turn, result=result)

    def _cancelled(self, turn: int) -> TurnDone:
        return TurnDone(turn, cancelled=True, killed=self._killed, timeout=self._timeout)

    def _may_retry(self, exc: Exception, attempt: int) -> bool:
        # Only a turn the agent did nothing for may run again: no update, no client request.
        if attempt > self.settings.max_retries or self.ctx.activity:
            return False
        if isinstance(exc, AgentExited):
            return True
        return isinstance(exc, AcphostError) and exc.retryable and self.session_ready

    async def _run_step(self, prompt: list[dict[str, Any]]) -> TurnResult:
        """The agent's step, awaited in this task: no task of its own, so a turn costs no
        extra loop iterations; time limits are a timer, stopping it is cancelling this task."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        ended: asyncio.Future[None] = loop.create_future()
        self._step, self._step_task, self._stopping = ended, task, False
        self._stepping.set()
        self._stalled = None
        started = time.monotonic()
        # idle time counts from the prompt: starting the agent has its own time limit
        self.ctx.last_activity = started
        self._arm(loop, started)
        try:
            return await self.agent.astep(self.ctx, prompt)
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # cancelled from outside (the loop shutting down): not ours to absorb
            task.uncancel()
            raise AgentExited("the agent's turn was stopped") from None
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._step = self._step_task = None
            ended.set_result(None)

    def _arm(self, loop: asyncio.AbstractEventLoop, started: float) -> None:
        delay = self._next_deadline(started)
        if delay is not None:
            self._deadline = loop.call_later(delay, self._on_deadline, loop, started)

    def _on_deadline(self, loop: asyncio.AbstractEventLoop, started: float) -> None:
        self._deadline = None
        if self._step is None:
            return
        now = time.monotonic()
        settings = self.settings
        self._watch_stall(now)
        if settings.turn_timeout is not None and now - started >= settings.turn_timeout:
            self._start_cancel("turn")
        elif (
            settings.idle_timeout is not None and now - self._quiet_since() >= settings.idle_timeout
        ):
            if self.asking:  # waiting for the user is not the agent being idle
                self.ctx.last_activity = now
            else:
                self._start_cancel("idle")
        self._arm(loop, started)  # no more once cancelling on a limit (see _next_deadline)

    def _quiet_since(self) -> float:
        """The idle clock's start: the agent's last word, or the user's answer if later."""
        return max(self.ctx.last_activity, self.asking.answered_at)

    def _watch_stall(self, now: float) -> None:
        """Report a turn without progress for ``stall_timeout`` once; the driver reports its
        resumption on the agent's next word, and the watch starts again from that word."""
        limit = self.settings.stall_timeout
        if self._stalled is not None and self._stalled != self.ctx.activity:
            self._stalled = None  # it moved again
        if limit is None or self._stalled is not None or self._turn is None:
            return
        idle = now - self.ctx.last_activity
        if idle >= limit:
            self._stalled = self.ctx.activity
            self.mailbox.put(Stalled(self._turn, round(idle, 3)))

    def _next_deadline(self, started: float) -> float | None:
        if self._timeout is not None:
            return None  # already cancelling; the grace timer takes over
        now = time.monotonic()
        waits = []
        settings = self.settings
        if settings.turn_timeout is not None:
            waits.append(started + settings.turn_timeout - now)
        if settings.idle_timeout is not None:
            waits.append(self._quiet_since() + settings.idle_timeout - now)
        if settings.stall_timeout is not None:
            stall = self.ctx.last_activity + settings.stall_timeout - now
            # stalled: look again a period later for progress (and the next stall)
            waits.append(settings.stall_timeout if self._stalled is not None else stall)
        return max(0.0, min(waits)) if waits else None

    # --- cancel --------------------------------------------------------------------------

    def interrupt(self, turn: int | None = None) -> None:
        """Called on the I/O loop: cancel ``turn`` (default: the running one), escalating if
        the agent ignores it. A turn that has not begun yet is cancelled when it begins."""
        if turn is not None and turn != self._turn:
            if self._turn is None or turn > self._turn:
                self._cancel_before = turn
            return
        if self._turn is not None and self._step is None:
            self.ctx.cancelled = True  # starting its session, or between attempts
        self._start_cancel(None)

    def stop(self, turn: int, limit: str) -> None:
        """Called on the I/O loop: cancel ``turn`` on a limit the driver watches (``budget``);
        it ends like a timeout, with the error the driver makes for ``limit``."""
        if turn == self._turn:
            self._start_cancel(limit)

    def hurry(self) -> None:
        """Called on the I/O loop: the user insists (a second Ctrl-C); an agent that has not
        honoured the cancel yet is stopped now, not after the grace period."""
        self._hurry.set()

    def _start_cancel(self, timeout: str | None) -> None:
        step = self._step
        if step is None or step.done() or self._cancelling is not None:
            return
        self._timeout = timeout
        self._cancelling = asyncio.get_running_loop().create_task(self._cancel(step))

    async def _cancel(self, step: asyncio.Future[None]) -> None:
        if step.done():
            return  # the turn ended first
        self.ctx.cancelled = True
        # answered after session/cancel is written (acancel writes it before its first await)
        self.cancel_asks()
        with contextlib.suppress(Exception):  # a dead agent cannot be asked; the grace handles it
            await self.agent.acancel(self.ctx)
        hurried: asyncio.Future[Any] = asyncio.ensure_future(self._hurry.wait())
        waits: set[asyncio.Future[Any]] = {step, hurried}
        try:
            await asyncio.wait(
                waits, timeout=self.settings.cancel_grace, return_when="FIRST_COMPLETED"
            )
        finally:
            hurried.cancel()
        if step.done():
            return
        # The agent ignored session/cancel: terminate, then kill; the next turn starts afresh.
        self._killed = True
        self.session_ready = False
        self.restart_reason = "the agent ignored session/cancel and was stopped" + (
            " at the user's second interrupt" if self._hurry.is_set() else ""
        )
        await self.agent.akill()
        await asyncio.wait({step}, timeout=2.0)
        if not step.done() and self._step_task is not None:
            self._stopping = True
            self._step_task.cancel()

    def timed_out_error(self, which: str) -> RequestTimeout:
        limit = self.settings.turn_timeout if which == "turn" else self.settings.idle_timeout
        what = "the turn took longer than" if which == "turn" else "the agent sent nothing for"
        return RequestTimeout(f"{what} {limit} s; the agent was cancelled")
