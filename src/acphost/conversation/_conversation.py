"""The conversation: a user drives an agent, and gets a typed, durable record of it.

The threading contract (see DESIGN.md) lives here. Agents run on the I/O loop and only post
to the mailbox; whoever drives (the thread in :meth:`Conversation.run`, the task in
:meth:`Conversation.arun`) drains it and, under the state's FIFO lock, turns each item into
events, stores them, folds them into the state, then calls the callbacks in order. So every
callback runs on the caller's thread or loop, in emission order, and may take the lock again.

The class keeps the public surface and its parts; its parts are wired in ``_wiring``, the
driving loops and the driver's seat are in ``_driving``, storing a user's message in
``_sending``, its stored record in ``_record``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from acphost.acp.client import ContentBlocks, SystemPromptMode
from acphost.acp.fs import Workspace
from acphost.acp.permissions import Decision
from acphost.agents import ACPAgent, resolve_agent
from acphost.conversation._driving import (
    aagent_call,
    agent_call,
    check_budget,
    deliver_if_idle,
    drive_async,
    drive_sync,
    enter,
    leave,
    restore,
    try_enter,
)
from acphost.conversation._elicitation import ElicitationPolicy
from acphost.conversation._inputs import AgentSpec, StoreSpec, open_store
from acphost.conversation._loop import IOLoop
from acphost.conversation._mailbox import Mailbox
from acphost.conversation._permission_clerk import PermissionPolicy
from acphost.conversation._pool import AgentPool
from acphost.conversation._record import new_record, resume_arguments
from acphost.conversation._runner import TurnSettings
from acphost.conversation._sending import queue, record_title, steered
from acphost.conversation._state import ConversationState
from acphost.conversation._wiring import asking_desks, delivery, turn_runner
from acphost.errors import AcphostError, ConversationClosed, UsageError
from acphost.events import Event, TurnEndedEvent, UserMessageEvent
from acphost.store import ConversationRecord

__all__ = ["Conversation"]

log = logging.getLogger("acphost")


class Conversation:
    """A conversation with one agent in one workspace.

    ``agent`` is an :class:`AgentBase`, a registry name (``"demo"``, ``"claude"``...) or a
    command line. ``permission`` is ``"allow"``, ``"deny"``, ``"ask"`` (requests wait in
    ``state.pending_permissions`` for :meth:`answer_permission`; each is logged once, saying
    how to answer) or a callable run on the caller's thread (an ``async def`` one runs on the
    caller's loop under :meth:`arun` while the turn goes on). A request nobody decides within
    ``permission_timeout`` seconds (default: no limit) is denied, recorded as decided by
    ``timeout``. ``idle_timeout`` (default 600 s without a word from the agent) and
    ``turn_timeout`` (default none) cancel a turn and end it with a ``timeout`` error; an agent
    that ignores the cancel is stopped after ``cancel_grace`` seconds (default 10). A turn
    without progress for ``stall_timeout`` seconds (default 60) is reported by a
    ``turn_stalled`` event (what it waits for: a permission, an elicitation, a running tool), and a
    ``turn_resumed`` follows when the agent moves again. Once the conversation cost more than
    ``max_cost`` (in the agent's currency, from its usage updates), the running turn is
    cancelled cleanly and ends with a ``budget_exceeded`` error, and no turn starts until
    :attr:`max_cost` is raised. With ``pool`` (an :class:`AgentPool`), the agent is one the
    pool started and initialised in advance, when it has one ready.

    ``elicitation`` answers the agent's questions (a form to fill, a URL to open): ``"ask"``
    (they wait in ``state.pending_elicitations`` for :meth:`answer_elicitation`),
    ``"decline"`` (at once, recorded with the reason) or a callable run on the caller's thread
    (given an :class:`ElicitationRequest`, it returns an action or
    ``{"action": "accept", "content": {...}}``). By default a person answers where one answers
    permissions (``permission="ask"``); otherwise they are declined.

    ``system_prompt`` goes to every session the agent opens for this conversation, after the
    agent's own system prompt (``system_prompt_mode="append"``) or instead of it
    (``"override"``); an agent that does not advertise it fails the turn with
    ``CapabilityMissing`` rather than run without it.

    Every method that waits for the agent has an async twin (``start``/``astart``,
    ``set_mode``/``aset_mode``, ``run``/``arun``, ``close``/``aclose``...).
    """

    # the driver's seat (see _driving), as it is before the first turn
    _driver: int | None = None  # the thread driving (run, arun, an idle delivery)
    _current_turn: int | None = None
    _interrupted: int | None = None  # the turn interrupt() was last called for
    _paused = False
    _closed = False
    _owned = False  # this process is recorded as the driver of its turns

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
        elicitation: ElicitationPolicy | None = None,
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
        self._drive_lock = threading.Lock()
        self._desk, self._elicitations, asking = asking_desks(
            self._mailbox, permission, permission_timeout, elicitation
        )
        settings = TurnSettings(
            idle_timeout, turn_timeout, cancel_grace, max_retries, stall_timeout=stall_timeout
        )
        self._runner = turn_runner(self, settings, permission, system_prompt, system_prompt_mode)
        self._delivery = delivery(
            self,
            asking,
            callbacks=callbacks,
            on_token=on_token,
            on_thought=on_thought,
            permission=permission,
            permission_timeout=permission_timeout,
            max_cost=max_cost,
        )
        self._delivery.tr.titled = (_resume[0].title if _resume else title) is not None
        if _resume is not None:
            restore(self, _resume[1])
        else:
            record = new_record(
                self,
                title=title,
                permission=permission,
                elicitation=elicitation,
                max_cost=max_cost,
                system_prompt=system_prompt,
                system_prompt_mode=system_prompt_mode,
            )
            self.store.create_conversation(record)
        self._io.add_closer(self.agent.aclose)

    @classmethod
    def resume(
        cls, id: str, *, store: StoreSpec = None, agent: AgentSpec | None = None, **options: Any
    ) -> Conversation:
        """Rebuild a stored conversation (state = fold of its events) and reattach its agent.

        The agent session is reattached on the next turn: ``session/resume`` if the agent
        supports it, else ``session/load``, else a new session and an event saying the
        agent's context was not restored.
        """
        agent, workspace, opened, resumed = resume_arguments(id, store, agent, options)
        return cls(agent, workspace, store=opened, _resume=resumed, **options)

    # --- sending -------------------------------------------------------------------------

    def send_message(self, message: ContentBlocks) -> UserMessageEvent:
        """Queue a message for the agent; ``run()`` sends it. Its event is stored at once.

        While a turn runs, the message waits for it to end, then runs as the next turn of the
        same ``run()`` (never interrupting the running one): to say something to the agent
        while it works, use :meth:`steer`.
        """
        return queue(self, message, publish=True)

    def steer(self, message: ContentBlocks) -> UserMessageEvent:
        """Say something to the agent while it works, from any thread.

        If a turn runs and the agent takes messages mid-turn (the ``_session/steering``
        extension of claude-agent-acp and codex-acp), the message joins that turn: its event,
        stored before the agent gets it, has ``steered=True`` and the turn's number. Otherwise
        it is queued exactly like :meth:`send_message`; so is a message the agent did not take
        because its turn ended meanwhile (a second event says so). Never lost, never sent twice.
        A turn whose agent is still starting is waited for: then it is known which it is.
        """
        if (turn := self._turn_now()) is not None:  # an agent starting cannot say yet
            self._io.submit(self._runner.until_stepping, turn).result()
        event = steered(self, message)
        if event is None:
            return self.send_message(message)
        assert event.turn is not None
        outcome = self._io.submit(self._runner.steer, event.turn, event.content).result()
        return event if outcome != "promptRequired" else self.send_message(message)

    async def asteer(self, message: ContentBlocks) -> UserMessageEvent:
        """Like :meth:`steer`, awaited without blocking the caller's loop."""
        if (turn := self._turn_now()) is not None:
            await asyncio.wrap_future(self._io.submit(self._runner.until_stepping, turn))
        event = steered(self, message)
        if event is None:
            return self.send_message(message)
        assert event.turn is not None
        steering = self._io.submit(self._runner.steer, event.turn, event.content)
        outcome = await asyncio.wrap_future(steering)
        return event if outcome != "promptRequired" else self.send_message(message)

    def _turn_now(self) -> int | None:
        """The running turn; read under the lock under which the driver starts a turn's task,
        so the runner has that task when it is asked about the turn."""
        with self.state:
            return self._current_turn

    # --- driving -------------------------------------------------------------------------

    def run(self, message: ContentBlocks | None = None) -> TurnEndedEvent | None:
        """Run every queued message as a turn, blocking this thread; callbacks run here.

        Returns the last turn's end, or ``None`` if nothing was queued. A turn that failed
        raises its typed error after everything was recorded; the conversation stays usable.
        """
        if message is not None:
            queue(self, message, publish=False)
        if self._io.in_loop():
            raise UsageError("run() was called on acphost's I/O loop", hint="use arun()")
        enter(self)
        try:
            check_budget(self)
            return drive_sync(self)
        finally:
            leave(self)

    async def arun(self, message: ContentBlocks | None = None) -> TurnEndedEvent | None:
        """Like :meth:`run`, on the running loop. Cancelling it interrupts the turn cleanly
        (tool calls failed, stop reason ``cancelled``, status paused) and re-raises."""
        if message is not None:
            queue(self, message, publish=False)
        if self._io.in_loop():
            raise UsageError("arun() was called on acphost's I/O loop", hint="use your own loop")
        # another driver is running: wait our turn
        while not try_enter(self):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        try:
            check_budget(self)
            return await drive_async(self)
        finally:
            leave(self)

    @property
    def max_cost(self) -> float | None:
        """The conversation's budget (``None``: no limit); raise it to go on once exceeded."""
        return self._delivery.max_cost

    @max_cost.setter
    def max_cost(self, value: float | None) -> None:
        self._delivery.max_cost = value

    def _raise_from_callbacks(self) -> None:
        """Raise what a callback raised that must not be swallowed (``KeyboardInterrupt``),
        now that what was being delivered is delivered."""
        raised = self._delivery.take_raised()
        if raised is not None:
            raise raised

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
        deliver_if_idle(self)

    def answer_elicitation(
        self, request_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        """Answer a pending elicitation (``elicitation="ask"``) from any thread: ``accept``
        (with the form's ``content``), ``decline`` or ``cancel``. Content that does not fit
        the form raises :class:`~acphost.errors.InvalidElicitationAnswer`; it stays pending."""
        self._elicitations.answer(request_id, action, content)
        deliver_if_idle(self)

    async def aanswer_elicitation(
        self, request_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        """Like :meth:`answer_elicitation`, from async code (it never waits for the agent)."""
        self.answer_elicitation(request_id, action, content)

    def set_mode(self, mode_id: str) -> None:
        """Switch the agent's session mode (one of ``state.available_modes``); it is recorded."""
        agent_call(self, self._runner.set_mode, mode_id)

    async def aset_mode(self, mode_id: str) -> None:
        """Like :meth:`set_mode`, awaited without blocking the caller's loop."""
        await aagent_call(self, self._runner.set_mode, mode_id)

    def set_config_option(self, config_id: str, value: str | bool) -> None:
        """Set an agent config option: a choice (a string: the model, thought level, speed...)
        or an on/off option (a bool); a value the option cannot take raises ``UsageError``."""
        with self.state:
            self.state.check_config_value(config_id, value)
        agent_call(self, self._runner.set_config_option, config_id, value)

    async def aset_config_option(self, config_id: str, value: str | bool) -> None:
        """Like :meth:`set_config_option`, awaited without blocking the caller's loop."""
        with self.state:
            self.state.check_config_value(config_id, value)
        await aagent_call(self, self._runner.set_config_option, config_id, value)

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
        record_title(self, title)
        agent_call(self, self._runner.set_title, title)

    async def aset_title(self, title: str) -> None:
        """Like :meth:`set_title`, awaited without blocking the caller's loop."""
        record_title(self, title)
        await aagent_call(self, self._runner.set_title, title)

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
        options.setdefault("permission", self._delivery.permissions.policy)
        options.setdefault("additional_directories", self.workspace.roots[1:])
        return Conversation(self.agent.forked(session_id), self.workspace.root, **options)

    def start(self) -> None:
        """Start the agent and its session now (otherwise the first turn does)."""
        agent_call(self, self._runner.ensure_session)

    async def astart(self) -> None:
        """Like :meth:`start`, awaited without blocking the caller's loop."""
        await aagent_call(self, self._runner.ensure_session)

    def deliver_pending(self) -> None:
        """Deliver what the agent sent since the last turn ended (late titles, commands)."""
        deliver_if_idle(self)

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
            leave(self)

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
