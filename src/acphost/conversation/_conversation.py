"""The conversation: a user drives an agent, and gets a typed, durable record of it.

The threading contract (see DESIGN.md) lives here. Agents run on the I/O loop and only post
to the mailbox; whoever drives (the thread in :meth:`Conversation.run`, the task in
:meth:`Conversation.arun`) drains it and, under the state's FIFO lock, turns each item into
events, stores them, folds them into the state, then calls the callbacks in order. So every
callback runs on the caller's thread or loop, in emission order, and may take the lock again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeAlias

from acphost.acp.client import ContentBlocks, SystemPromptMode
from acphost.acp.fs import Workspace
from acphost.acp.permissions import Decision
from acphost.agents import ACPAgent, AgentContext, resolve_agent
from acphost.conversation._delivery import (
    FIXED_POLICIES,
    PUBLISH_EVERY,
    Delivery,
    PermissionPolicy,
)
from acphost.conversation._desk import PermissionDesk
from acphost.conversation._inputs import AgentSpec, StoreSpec, blocks_of, open_store
from acphost.conversation._loop import IOLoop
from acphost.conversation._mailbox import Mailbox
from acphost.conversation._pool import AgentPool
from acphost.conversation._runner import TurnRunner, TurnSettings
from acphost.conversation._state import ConversationState
from acphost.errors import AcphostError, ConversationClosed, UsageError
from acphost.events import (
    Event,
    SessionInfoEvent,
    TurnEndedEvent,
    TurnStartedEvent,
    UserMessageEvent,
    parse_event,
)
from acphost.store import ConversationRecord, Owner

__all__ = ["Conversation"]

log = logging.getLogger("acphost")

ASYNC_SLICE = PUBLISH_EVERY
"""Mailbox items ``arun()`` delivers between two yields to the caller's loop (a storm must
not starve the caller's other tasks: the server's sockets, its other conversations)."""

SIGNAL_CHECK_S = 0.25
"""How often ``run()`` in the main thread wakes to let Python run pending signal handlers."""


class Conversation:
    """A conversation with one agent in one workspace.

    ``agent`` is an :class:`AgentBase`, a registry name (``"demo"``, ``"claude"``...) or a
    command line. ``permission`` is ``"allow"``, ``"deny"``, ``"ask"`` (requests wait in
    ``state.pending_permissions`` for :meth:`answer_permission`; each is logged once, saying
    how to answer) or a callable run on the caller's thread. A request nobody decides within
    ``permission_timeout`` seconds (default: no limit) is denied, recorded as decided by
    ``timeout``. ``idle_timeout`` (default 600 s without a word from the agent) and
    ``turn_timeout`` (default none) cancel a turn and end it with a ``timeout`` error; an agent
    that ignores the cancel is stopped after ``cancel_grace`` seconds (default 10). A turn
    without progress for ``stall_timeout`` seconds (default 60) is reported by a
    ``turn_stalled`` event (what it waits for: a permission, a running tool), and a
    ``turn_resumed`` follows when the agent moves again. Once the conversation cost more than
    ``max_cost`` (in the agent's currency, from its usage updates), the running turn is
    cancelled cleanly and ends with a ``budget_exceeded`` error, and no turn starts until
    :attr:`max_cost` is raised. With ``pool`` (an :class:`AgentPool`), the agent is one the
    pool started and initialised in advance, when it has one ready.

    ``system_prompt`` goes to every session the agent opens for this conversation, after the
    agent's own system prompt (``system_prompt_mode="append"``) or instead of it
    (``"override"``); an agent that does not advertise it fails the turn with
    ``CapabilityMissing`` rather than run without it.

    Every method that waits for the agent has an async twin (``start``/``astart``,
    ``set_mode``/``aset_mode``, ``run``/``arun``, ``close``/``aclose``...).
    """

    def __init__(
        self,
        agent: AgentSpec,
        workspace: str | os.PathLike[str] = ".",
        *,
        store: StoreSpec = None,
        callbacks: Sequence[Callable[[Event], object]] = (),
        on_token: Callable[[str], object] | None = None,
        on_thought: Callable[[str], object] | None = None,
        permission: PermissionPolicy = "deny",
        permission_timeout: float | None = None,
        additional_directories: Sequence[str | os.PathLike[str]] = (),
        idle_timeout: float | None = 600.0,
        turn_timeout: float | None = None,
        cancel_grace: float = 10.0,
        stall_timeout: float | None = 60.0,
        max_cost: float | None = None,
        pool: AgentPool | None = None,
        max_retries: int = 2,
        title: str | None = None,
        id: str | None = None,
        system_prompt: str | None = None,
        system_prompt_mode: SystemPromptMode = "append",
        _resume: tuple[ConversationRecord, list[Event]] | None = None,
    ) -> None:
        self.agent = pool.take(agent) if pool is not None else resolve_agent(agent)
        self.workspace = Workspace(workspace, *additional_directories)
        self.store = open_store(store)
        self.id = _resume[0].id if _resume else (id or uuid.uuid4().hex)
        self.state = ConversationState(self.id, store=self.store)
        self._io = IOLoop.get()
        self._mailbox = Mailbox(defer=self._io.defer)
        self._pending: deque[tuple[UserMessageEvent, list[dict[str, Any]]]] = deque()
        self._desk = PermissionDesk(
            self._mailbox,
            FIXED_POLICIES.get(permission) if isinstance(permission, str) else None,
            permission_timeout,
        )
        self._driver: int | None = None  # the thread driving (run, arun, an idle delivery)
        self._drive_lock = threading.Lock()
        self._current_turn: int | None = None
        self._interrupted: int | None = None  # the turn interrupt() was last called for
        self._paused = False
        self._closed = False
        if system_prompt_mode not in ("append", "override"):
            raise UsageError(
                f"system_prompt_mode must be 'append' or 'override', not {system_prompt_mode!r}"
            )
        self._owned = False  # this process is recorded as the driver of its turns
        ctx = AgentContext(
            workspace=self.workspace,
            post=self._mailbox.put_soon,
            request_permission=self._desk.ask,
            system_prompt=[{"type": "text", "text": system_prompt}] if system_prompt else None,
            system_prompt_mode=system_prompt_mode,
        )
        self._desk.cancelled = lambda: ctx.cancelled
        self._runner = TurnRunner(
            self.agent,
            ctx,
            self._mailbox,
            TurnSettings(
                idle_timeout,
                turn_timeout,
                cancel_grace,
                max_retries,
                stall_timeout=stall_timeout,
                want_asks=permission not in ("allow", "allow_once", "allow_always"),
            ),
            asking=self._desk.asking,
        )
        self._delivery = Delivery(
            self.state,
            self.store,
            callbacks=list(callbacks),
            on_token=on_token,
            on_thought=on_thought,
            permission=permission,
            asks=self._desk.asks,
            ask_timeout=permission_timeout,
            max_cost=max_cost,
        )
        self._delivery.tr.titled = (_resume[0].title if _resume else title) is not None
        if _resume is None:
            now = time.time()
            self.store.create_conversation(
                ConversationRecord(
                    id=self.id,
                    agent=self.agent.name,
                    workspace=str(self.workspace.root),
                    title=title,
                    status="idle",
                    created_at=now,
                    updated_at=now,
                    metadata={
                        "agent": self.agent.spec(),
                        "additional_directories": [str(r) for r in self.workspace.roots[1:]],
                        "permission": permission if isinstance(permission, str) else "callback",
                        "max_cost": max_cost,
                        **(
                            {
                                "system_prompt": system_prompt,
                                "system_prompt_mode": system_prompt_mode,
                            }
                            if system_prompt
                            else {}
                        ),
                    },
                )
            )
        else:
            for event in _resume[1]:
                self.state.apply(event, stored=True)
            self._runner.resume_session_id = self.state.session_id
            self._recover_pending(_resume[1])
            with self.state:
                self._delivery.tr.turn = self.state.turns or None
                if self.state.status == "running":  # its host died mid-turn
                    self._delivery.close_dangling_turn()
                    self._delivery.publish()
        self._io.add_closer(self.agent.aclose)

    # --- construction --------------------------------------------------------------------

    @classmethod
    def resume(
        cls, id: str, *, store: StoreSpec = None, agent: AgentSpec | None = None, **options: Any
    ) -> Conversation:
        """Rebuild a stored conversation (state = fold of its events) and reattach its agent.

        The agent session is reattached on the next turn: ``session/resume`` if the agent
        supports it, else ``session/load``, else a new session and an event saying the
        agent's context was not restored.
        """
        opened = open_store(store)
        record = opened.get_conversation(id)
        if record is None:
            raise UsageError(f"no conversation {id!r} in the store", hint="list conversations")
        owner = record.owner
        if record.status == "running" and owner is not None and owner != Owner.current():
            raise UsageError(
                f"conversation {id!r} is running a turn in process {owner.pid} on {owner.host}",
                hint="wait until its turn ends, or stop that process",
            )
        events = [parse_event(r.data) for r in opened.iter_events(id)]
        spec = record.metadata.get("agent") or {}
        if agent is None:
            agent = spec.get("name") if spec.get("type") == "registry" else spec.get("command")
            if not agent:
                raise UsageError(
                    f"conversation {id!r} was hosted with a Python agent",
                    hint="pass agent= to Conversation.resume",
                )
        options.setdefault("permission", record.metadata.get("permission", "deny"))
        options.setdefault("max_cost", record.metadata.get("max_cost"))
        if options["permission"] == "callback":
            options["permission"] = "deny"
        options.setdefault(
            "additional_directories", record.metadata.get("additional_directories", ())
        )
        for name in ("system_prompt", "system_prompt_mode"):  # for every session it opens
            if name in record.metadata:
                options.setdefault(name, record.metadata[name])
        return cls(agent, record.workspace, store=opened, _resume=(record, events), **options)

    def _recover_pending(self, events: list[Event]) -> None:
        """Messages sent but never run (the host died first) are run by the next ``run()``.

        A turn that had started is not run again: it may have had effects. ``events``: the
        stored log just folded (``state.events`` would read most of it back from the store).
        """
        started = {e.turn for e in events if isinstance(e, TurnStartedEvent)}
        for event in events:
            if isinstance(event, UserMessageEvent) and event.turn not in started:
                self._pending.append((event, event.content))

    # --- sending -------------------------------------------------------------------------

    def send_message(self, message: ContentBlocks) -> UserMessageEvent:
        """Queue a message for the agent; ``run()`` sends it. Its event is stored at once.

        While a turn runs, the message waits for it to end, then runs as the next turn of the
        same ``run()`` (never interrupting the running one): to say something to the agent
        while it works, use :meth:`steer`.
        """
        return self._queue(message, publish=True)

    def steer(self, message: ContentBlocks) -> UserMessageEvent:
        """Say something to the agent while it works, from any thread.

        If a turn runs and the agent takes messages mid-turn (the ``_session/steering``
        extension of claude-agent-acp and codex-acp), the message joins that turn: its event,
        stored before the agent gets it, has ``steered=True`` and the turn's number. Otherwise
        it is queued exactly like :meth:`send_message`; so is a message the agent did not take
        because its turn ended meanwhile (a second event says so). Never lost, never sent twice.
        """
        event = self._steering(message)
        if event is None:
            return self.send_message(message)
        assert event.turn is not None
        outcome = self._io.submit(self._runner.steer, event.turn, event.content).result()
        return event if outcome != "promptRequired" else self.send_message(message)

    async def asteer(self, message: ContentBlocks) -> UserMessageEvent:
        """Like :meth:`steer`, awaited without blocking the caller's loop."""
        event = self._steering(message)
        if event is None:
            return self.send_message(message)
        assert event.turn is not None
        steering = self._io.submit(self._runner.steer, event.turn, event.content)
        outcome = await asyncio.wrap_future(steering)
        return event if outcome != "promptRequired" else self.send_message(message)

    def _steering(self, message: ContentBlocks) -> UserMessageEvent | None:
        """Store the message as steered into the running turn, if the agent can take it;
        stored first, so that whatever the agent does about it comes after it in the log."""
        self._check_open()
        text, blocks = blocks_of(message)
        with self.state:
            turn = self._current_turn
            if turn is None or not self.agent.supports_steering:
                return None
            event = self._delivery.tr.new(
                UserMessageEvent,
                trusted=isinstance(message, str),
                text=text,
                content=blocks,
                turn=turn,
                steered=True,
            )
            self._delivery.publish()
        self._raise_from_callbacks()
        return event

    def _queue(self, message: ContentBlocks, *, publish: bool) -> UserMessageEvent:
        # run(message) stores the message with the turn's start, in one transaction
        self._check_open()
        text, blocks = blocks_of(message)
        self._deliver_if_idle()  # what the agent said since the last turn comes first
        with self.state:
            turn = self.state.turns + len(self._pending) + 1
            tr = self._delivery.tr
            event = tr.new(  # a plain string makes blocks acphost built itself
                UserMessageEvent,
                trusted=isinstance(message, str),
                text=text,
                content=blocks,
                turn=turn,
            )
            self._pending.append((event, blocks))
            if publish:
                self._delivery.publish()
        self._raise_from_callbacks()
        return event

    # --- driving -------------------------------------------------------------------------

    def run(self, message: ContentBlocks | None = None) -> TurnEndedEvent | None:
        """Run every queued message as a turn, blocking this thread; callbacks run here.

        Returns the last turn's end, or ``None`` if nothing was queued. A turn that failed
        raises its typed error after everything was recorded; the conversation stays usable.
        """
        if message is not None:
            self._queue(message, publish=False)
        if self._io.in_loop():
            raise UsageError("run() was called on acphost's I/O loop", hint="use arun()")
        self._check_budget()
        self._enter_driver()
        try:
            return self._drive_sync()
        finally:
            self._leave_driver()

    async def arun(self, message: ContentBlocks | None = None) -> TurnEndedEvent | None:
        """Like :meth:`run`, on the running loop. Cancelling it interrupts the turn cleanly
        (tool calls failed, stop reason ``cancelled``, status paused) and re-raises."""
        if message is not None:
            self._queue(message, publish=False)
        if self._io.in_loop():
            raise UsageError("arun() was called on acphost's I/O loop", hint="use your own loop")
        self._check_budget()
        # another driver is running: wait our turn
        while not self._try_enter_driver():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        try:
            return await self._drive_async()
        finally:
            self._leave_driver()

    @property
    def max_cost(self) -> float | None:
        """The conversation's budget (``None``: no limit); raise it to go on once exceeded."""
        return self._delivery.max_cost

    @max_cost.setter
    def max_cost(self, value: float | None) -> None:
        self._delivery.max_cost = value

    def _check_budget(self) -> None:
        with self.state:
            over = self._delivery.over_budget()
        if over is not None:
            raise over  # queued messages stay queued

    def _enter_driver(self) -> None:
        if self._driver == threading.get_ident():
            raise UsageError(
                "run() was called while this thread is already driving the conversation",
                hint="callbacks must not call run(); call send_message() and let the run go on",
            )
        if not self._try_enter_driver():
            self._drive_lock.acquire()
            self._driver = threading.get_ident()

    def _try_enter_driver(self) -> bool:
        if self._driver == threading.get_ident():
            raise UsageError("arun() was called from a callback of this conversation")
        if self._drive_lock.acquire(blocking=False):
            self._driver = threading.get_ident()
            return True
        if self.state.lock.owned():
            # The driver needs the state lock to deliver: waiting for it here would deadlock.
            raise UsageError(
                "run() was called while holding the state lock and another thread is driving",
                hint="leave `with conversation.state:` before calling run() or arun()",
            )
        return False

    def _leave_driver(self) -> None:
        try:
            if self._closed:
                self._finish_close()
        finally:
            self._driver = None
            self._drive_lock.release()
        self._raise_from_callbacks()

    def _raise_from_callbacks(self) -> None:
        """Raise what a callback raised that must not be swallowed (``KeyboardInterrupt``),
        now that what was being delivered is delivered."""
        raised = self._delivery.take_raised()
        if raised is not None:
            raise raised

    def _next_turn(self) -> int | None:
        """Start the next queued turn (under the lock), or ``None`` when there is none."""
        with self.state:
            # stored together with the turn's start below (or right here if none starts)
            self._delivery.deliver(self._mailbox.drain(), publish=False)
            if self._closed or self._paused or not self._pending:
                if self._paused:
                    self._delivery.set_status("paused")
                self._delivery.publish()
                return None
            event, blocks = self._pending.popleft()
            turn = event.turn or self.state.turns + 1
            if not self._owned:  # so that readers tell our turns from a dead process's
                self.store.set_owner(self.id, Owner.current())
                self._owned = True
            # From here on the turn ends with a TurnDone in the mailbox, whatever happens.
            self._current_turn = turn
            self._io.start(self._runner.run_turn, turn, blocks)
            self._delivery.start_turn(turn, event.text)
            return turn

    def _drive_sync(self) -> TurnEndedEvent | None:
        self._paused = False
        ended: TurnEndedEvent | None = None
        while (turn := self._next_turn()) is not None:
            stop: BaseException | None = None
            end: _TurnEnd | None = None
            # In the main thread, wake now and then: a signal that came just before the wait
            # would otherwise wait for the agent's next word to raise (Ctrl-C unanswered).
            main = threading.current_thread() is threading.main_thread()
            check = SIGNAL_CHECK_S if main else None
            while end is None and self._current_turn == turn:
                try:
                    stop = stop or self._take_stop()
                    if self._mailbox.wait_sync(check):
                        end = self._deliver(self._mailbox.drain())
                except Exception:
                    self.interrupt()  # delivery itself failed (the store?): no settling
                    raise
                except BaseException as exc:  # Ctrl-C: the same path as a cancelled arun()
                    stop = self._stopping(stop, exc)
            ended = self._settled(end, stop)
        return ended

    async def _drive_async(self) -> TurnEndedEvent | None:
        self._paused = False
        ended: TurnEndedEvent | None = None
        while (turn := self._next_turn()) is not None:
            stop: BaseException | None = None
            end: _TurnEnd | None = None
            while end is None and self._current_turn == turn:
                try:
                    stop = stop or self._take_stop()
                    if self._mailbox.ready():  # a storm: let the caller's loop run between slices
                        await asyncio.sleep(0)
                    else:
                        await self._mailbox.wait_async(None)
                    end = self._deliver(self._mailbox.drain(ASYNC_SLICE))
                except (Exception, GeneratorExit):
                    self.interrupt()  # delivery failed, or the coroutine is being closed
                    raise
                except BaseException as exc:
                    # Cancelled: take the interrupt path, wait for the turn's end, re-raise.
                    current = asyncio.current_task()
                    if isinstance(exc, asyncio.CancelledError) and current is not None:
                        current.uncancel()
                    stop = self._stopping(stop, exc)
            ended = self._settled(end, stop)
        return ended

    def _stopping(self, stop: BaseException | None, exc: BaseException) -> BaseException:
        """A driver was stopped (Ctrl-C, its task cancelled): interrupt the turn; if it was
        interrupted already (a second Ctrl-C), stop an agent that ignores the cancel now."""
        again = stop is not None or self._interrupted == self._current_turn
        self.interrupt()
        if again:
            self._io.call_soon(self._runner.hurry)
        return stop or exc

    def _take_stop(self) -> BaseException | None:
        """A ``BaseException`` a callback raised (Ctrl-C in a callback): interrupt the turn."""
        stop = self._delivery.take_raised()
        return None if stop is None else self._stopping(None, stop)

    def _settled(self, end: _TurnEnd | None, stop: BaseException | None) -> TurnEndedEvent:
        """The turn is over and recorded: raise what stopped the driver, or its error."""
        if stop is not None:
            self._delivery.take_raised()  # about this turn too: one exception is enough
            raise stop
        self._raise_from_callbacks()
        assert end is not None  # the turn ended in _deliver, which raised nothing
        ended, error = end
        if error is not None:
            raise error
        return ended

    def _deliver(self, items: list[Any]) -> _TurnEnd | None:
        """Deliver a batch; with the turn's end in it, end the turn (one transaction)."""
        with self.state:
            done = self._delivery.deliver(items, turn=self._current_turn)
            if done is None:
                if self._delivery.stop_over_budget():
                    self._io.call_soon(self._runner.stop, self._current_turn, "budget")
                return None
            self._current_turn = None
            end = self._delivery.end_turn(done, self._runner)
            if done.cancelled or done.timeout:
                self._paused = True
            return end

    # --- control -------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Cancel the running turn, from any thread at any time; queued messages wait."""
        self._paused = True
        self._interrupted = turn = self._current_turn
        self._io.call_soon(self._runner.interrupt, turn)

    def pause(self) -> None:
        """Let the running turn finish, but run no queued message until the next ``run()``."""
        self._paused = True
        if self._driver is None:
            with self.state:
                if self.state.status not in ("finished", "paused"):
                    self._delivery.set_status("paused")
                    self._delivery.publish()
            self._raise_from_callbacks()

    def answer_permission(self, request_id: str, decision: Decision | bool) -> None:
        """Answer a pending permission request (``permission="ask"``), from any thread."""
        self._desk.answer(request_id, decision)
        self._deliver_if_idle()

    def set_mode(self, mode_id: str) -> None:
        """Switch the agent's session mode (one of ``state.available_modes``); it is recorded."""
        self._agent_call(self._runner.set_mode, mode_id)

    async def aset_mode(self, mode_id: str) -> None:
        """Like :meth:`set_mode`, awaited without blocking the caller's loop."""
        await self._aagent_call(self._runner.set_mode, mode_id)

    def set_config_option(self, config_id: str, value: str | bool) -> None:
        """Set an agent config option: a choice (a string: the model, thought level, speed...)
        or an on/off option (a bool); a value the option cannot take raises ``UsageError``."""
        with self.state:
            self.state.check_config_value(config_id, value)
        self._agent_call(self._runner.set_config_option, config_id, value)

    async def aset_config_option(self, config_id: str, value: str | bool) -> None:
        """Like :meth:`set_config_option`, awaited without blocking the caller's loop."""
        with self.state:
            self.state.check_config_value(config_id, value)
        await self._aagent_call(self._runner.set_config_option, config_id, value)

    def set_model(self, model: str) -> None:
        """Choose the model: sets the agent's config option of category ``model`` to ``model``."""
        self.set_config_option(self._model_option_id(), model)

    async def aset_model(self, model: str) -> None:
        """Like :meth:`set_model`, awaited without blocking the caller's loop."""
        await self.aset_config_option(self._model_option_id(), model)

    def _model_option_id(self) -> str:
        with self.state:
            option = self.state.model_option
        if option is None:
            raise UsageError("the agent offers no model option", hint="see state.config_options")
        return str(option["id"])

    def set_title(self, title: str) -> None:
        """Name the conversation (recorded, from the user); the agent is told too where it
        keeps titles (unstable: ACP's ``session/set_title``)."""
        self._record_title(title)
        self._agent_call(self._runner.set_title, title)

    async def aset_title(self, title: str) -> None:
        """Like :meth:`set_title`, awaited without blocking the caller's loop."""
        self._record_title(title)
        await self._aagent_call(self._runner.set_title, title)

    def _record_title(self, title: str) -> None:
        self._check_open()
        if not title.strip():
            raise UsageError("a title must not be empty")
        self._deliver_if_idle()  # what the agent said before comes first
        with self.state:
            self._delivery.tr.titled = True
            self._delivery.tr.new(SessionInfoEvent, trusted=True, source="user", title=title)
            self._delivery.publish()

    def fork(self, **options: Any) -> Conversation:
        """Unstable (ACP's ``session/fork``): a new conversation in a new agent process that
        starts from this one's context, which goes on unchanged. ``options`` are the
        constructor's (the store, permission policy and directories default to this one's);
        an agent that cannot fork fails the new conversation's first turn."""
        with self.state:
            session_id = self.state.session_id
        if session_id is None:
            raise UsageError("there is no agent session to fork yet", hint="run a turn first")
        if not isinstance(self.agent, ACPAgent):
            raise UsageError("only an ACP agent's session can be forked")
        options.setdefault("store", self.store)
        options.setdefault("permission", self._delivery.permission)
        options.setdefault("additional_directories", self.workspace.roots[1:])
        return Conversation(self.agent.forked(session_id), self.workspace.root, **options)

    def start(self) -> None:
        """Start the agent and its session now (otherwise the first turn does)."""
        self._agent_call(self._runner.ensure_session)

    async def astart(self) -> None:
        """Like :meth:`start`, awaited without blocking the caller's loop."""
        await self._aagent_call(self._runner.ensure_session)

    def _agent_call(self, func: Callable[..., Any], *args: Any) -> None:
        self._check_open()
        self._io.submit(func, *args).result()
        self._deliver_if_idle()

    async def _aagent_call(self, func: Callable[..., Any], *args: Any) -> None:
        self._check_open()
        await asyncio.wrap_future(self._io.submit(func, *args))
        self._deliver_if_idle()

    def _deliver_if_idle(self) -> None:
        if self._driver is None and self._drive_lock.acquire(blocking=False):
            self._driver = threading.get_ident()
            try:
                with self.state:  # no turn runs: close any message streamed since the last
                    self._delivery.deliver(self._mailbox.drain(), final=True)
            finally:
                self._leave_driver()

    def deliver_pending(self) -> None:
        """Deliver what the agent sent since the last turn ended (late titles, commands)."""
        self._deliver_if_idle()

    # --- closing -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConversationClosed(f"conversation {self.id} is closed")

    def detach(self) -> None:
        """Stop the agent process but leave the conversation as it is (not finished).

        For a host going away: the next turn, here or in a ``Conversation.resume`` elsewhere,
        starts the agent again and reattaches its session.
        """
        self._io.submit(self._runner.detach).result()

    async def adetach(self) -> None:
        """Like :meth:`detach`, awaited without blocking the caller's loop."""
        await asyncio.wrap_future(self._io.submit(self._runner.detach))

    def close(self) -> None:
        """Stop the agent and mark the conversation finished (its record stays in the store).

        From any thread, also from a callback: a running turn ends cancelled, and whoever
        drives finishes the close when it stops.
        """
        if self._closed:
            return
        self._closed = True
        self.interrupt()
        try:
            self._io.submit(self.agent.aclose).result(timeout=30)
        except (AcphostError, concurrent.futures.TimeoutError, OSError) as exc:
            log.warning("closing the agent of %s failed: %s", self.id, exc)
        finally:
            self._io.discard_closer(self.agent.aclose)
        # Only a driver may drain the mailbox (it waits for its turn's end in there); if one
        # is at work (maybe this very thread, in a callback), it finishes the close.
        me = threading.get_ident()
        if self._driver == me:
            return
        blocking = not self.state.lock.owned()  # else the driver needs our lock: don't wait
        if self._drive_lock.acquire(blocking, 30 if blocking else -1):
            self._driver = me
            self._leave_driver()

    def _finish_close(self) -> None:
        with self.state:
            self._delivery.deliver(self._mailbox.drain(), final=True)
            self._delivery.set_status("finished")
            self._delivery.publish()

    async def aclose(self) -> None:
        """Like :meth:`close`, awaited from async code without blocking the loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Conversation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Conversation:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Conversation {self.id} agent={self.agent.name!r} status={self.state.status}>"


_TurnEnd: TypeAlias = tuple[TurnEndedEvent, AcphostError | None]
