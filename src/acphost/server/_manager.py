"""Conversation lifecycle on the server's event loop.

Each conversation is driven by one ``arun()`` task on the server loop, so its callbacks (the
WebSocket fan-out, and :class:`Changes` for the live list) run right there without a thread
hop. Conversations are loaded lazily: after a restart everything is listed straight from the
store, and a conversation is resumed (``Conversation.resume``) the first time something has to
reach its agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from acphost.agents import KNOWN_AGENTS, ACPAgent, AgentBase
from acphost.conversation import Conversation, ConversationState
from acphost.errors import AcphostError
from acphost.server._errors import ApiError
from acphost.server._folds import Folds
from acphost.server._hub import Hub, Pacer
from acphost.server._models import CreateConversation
from acphost.store import ConversationRecord, EventStore, SQLiteStore, default_store_path

__all__ = ["Changes", "Live", "Manager", "StoreSpec"]

log = logging.getLogger("acphost.server")

StoreSpec = EventStore | str | os.PathLike[str] | None

DELETED = 4404
"""Close code sent to subscribers of a conversation that was deleted."""


@dataclass(slots=True, eq=False)
class Live:
    """A conversation whose agent is attached in this process."""

    conversation: Conversation
    hub: Hub
    driver: asyncio.Task[None] | None = None
    holds: int = 0  # requests awaiting its agent outside a turn (set_mode...)

    @property
    def running(self) -> bool:
        return self.driver is not None and not self.driver.done()

    @property
    def idle(self) -> bool:
        """Its agent may be detached: no turn running, no request waiting on it."""
        return not self.holds and not self.running

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holds += 1
        try:
            yield
        finally:
            self.holds -= 1


class Changes(Protocol):
    """Told whenever a conversation's list row may have changed (the feed, ``_changes.py``).

    ``changed`` runs on the turn's path, on any thread, for every event: it must cost O(1).
    """

    def changed(self, conversation_id: str) -> None: ...

    def deleted(self, conversation_id: str) -> None: ...


class _NoChanges:
    def changed(self, conversation_id: str) -> None:
        pass

    def deleted(self, conversation_id: str) -> None:
        pass


def not_found(conversation_id: str) -> ApiError:
    return ApiError(
        404,
        "conversation_not_found",
        f"no conversation {conversation_id!r}",
        hint="GET /api/conversations lists them",
    )


class Manager:
    """The live conversations and hubs of one server; every method runs on the server loop."""

    def __init__(
        self,
        store: StoreSpec,
        options: Mapping[str, Any],
        *,
        stop_timeout: float,
        max_live: int | None = None,
        hub_size: int = 8192,
    ) -> None:
        self._store_spec = store
        self._store: EventStore | None = store if isinstance(store, EventStore) else None
        self._owns_store = self._store is None
        self.options = dict(options)
        self.stop_timeout = stop_timeout
        self.max_live = max_live
        self.live: dict[str, Live] = {}  # least recently used first
        self._evicting: dict[str, asyncio.Task[None]] = {}
        self.hubs: dict[str, Hub] = {}
        self.hub_size = hub_size
        self.pacer = Pacer()  # watchers never slow the turns (see _hub.py)
        self._deleting: set[str] = set()
        self._folds = Folds()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.changes: Changes = _NoChanges()  # every live conversation's rows are told here

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._store is None:
            spec = self._store_spec
            path = default_store_path() if spec is None else spec
            assert not isinstance(path, EventStore)
            self._store = await asyncio.to_thread(SQLiteStore, path)
        await asyncio.to_thread(self.settle_dangling_turns)

    def settle_dangling_turns(self) -> list[str]:
        """End every turn a dead process (this server before a crash, a CLI) left running;
        the conversations whose turn it ended (call it in a worker thread, then
        :meth:`settled` on the loop for each)."""
        settled = []
        for conversation_id in self.store.dangling_turns():
            try:
                if self._folds.state(self.store, conversation_id)[1]:
                    settled.append(conversation_id)
            except Exception:  # one bad log must not keep the server down: it is read later
                log.exception("could not end the dangling turn of %s", conversation_id)
        return settled

    def settled(self, conversation_id: str) -> None:
        """The server ended a dead process's turn in this stored conversation: tell its
        clients (its row changed, its event streams read the events from the store)."""
        self.changes.changed(conversation_id)
        hub = self.hubs.get(conversation_id)
        if hub is not None:
            hub.refresh()

    async def shutdown(self) -> None:
        """Stop every turn (it ends ``cancelled``) and every agent; statuses stay as they are."""
        lives = list(self.live.values())
        self.live.clear()
        await asyncio.gather(
            *(self._stop(live, close=False) for live in lives), *self._evicting.values()
        )
        for hub in self.hubs.values():
            hub.close_all(1001, "server shutting down")
        self.hubs.clear()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise ApiError(503, "not_ready", "the server is not started", retryable=True)
        return self._store

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "Manager.start() was not awaited"
        return self._loop

    # --- lookup ---------------------------------------------------------------------------

    def record(self, conversation_id: str) -> ConversationRecord:
        record = self.store.get_conversation(conversation_id)
        if record is None or conversation_id in self._deleting:
            raise not_found(conversation_id)
        return record

    def hub(self, conversation_id: str) -> Hub:
        hub = self.hubs.get(conversation_id)
        if hub is None:
            hub = self.hubs[conversation_id] = Hub(self.loop, self.hub_size)
        return hub

    def release_hub(self, conversation_id: str) -> None:
        hub = self.hubs.get(conversation_id)
        if hub is not None and not hub.subscribers and conversation_id not in self.live:
            del self.hubs[conversation_id]

    async def get_live(self, conversation_id: str) -> Live:
        """The live conversation, resuming it from the store on first use."""
        evicting = self._evicting.get(conversation_id)
        if evicting is not None:  # its agent is being stopped: resume it after that
            await asyncio.wait({evicting})
        live = self.live.pop(conversation_id, None)
        if live is not None:
            self.live[conversation_id] = live  # now the most recently used
            return live
        self.record(conversation_id)
        self._make_room()
        hub = self.hub(conversation_id)
        try:
            conversation = Conversation.resume(
                conversation_id,
                store=self.store,
                **self._callbacks(conversation_id, hub),
                **self.options,
            )
        except ValueError as exc:  # e.g. its workspace is gone; nothing was started
            self.release_hub(conversation_id)
            raise ApiError(
                409,
                "cannot_resume",
                f"conversation {conversation_id!r} cannot be resumed: {exc}",
                hint="its events can still be read; recreate its workspace to continue",
            ) from exc
        live = self.live[conversation_id] = Live(conversation, hub)
        self.changes.changed(conversation_id)  # live again
        log.info("resumed conversation %s", conversation_id)
        return live

    async def state(self, conversation_id: str) -> tuple[ConversationState, Live | None]:
        """The folded state: the live one, or a fold of the stored log (no agent started)."""
        live = self.live.get(conversation_id)
        if live is not None:
            return live.conversation.state, live
        self.record(conversation_id)
        state, settled = await asyncio.to_thread(self._folds.state, self.store, conversation_id)
        if settled:
            self.settled(conversation_id)
        return state, None

    # --- creating and driving ---------------------------------------------------------------

    def create(self, body: CreateConversation) -> Live:
        workspace = _existing_directory(body.workspace)
        agent = self._agent(body)
        self._make_room()
        conversation_id = os.urandom(16).hex()
        hub = self.hub(conversation_id)
        conversation = Conversation(
            agent,
            workspace,
            store=self.store,
            permission=body.permission,
            elicitation=body.elicitation,
            title=body.title,
            max_cost=body.max_cost,
            id=conversation_id,
            system_prompt=body.system_prompt,
            system_prompt_mode=body.system_prompt_mode,
            **self._callbacks(conversation_id, hub),
            **self.options,
        )
        live = self.live[conversation_id] = Live(conversation, hub)
        self.changes.changed(conversation_id)
        if body.message is not None:
            conversation.send_message(body.message)
            self.drive(live)
        return live

    @staticmethod
    def _agent(body: CreateConversation) -> AgentBase:
        if body.agent is not None:
            entry = KNOWN_AGENTS.get(body.agent)
            if entry is None:
                raise ApiError(
                    400,
                    "unknown_agent",
                    f"no agent named {body.agent!r}",
                    hint=f"known agents: {', '.join(KNOWN_AGENTS)}; or give `command`",
                )
            if not entry.installed():
                raise ApiError(
                    400,
                    "agent_not_installed",
                    f"agent {entry.name!r} is not installed on the server",
                    hint=f"install it: {entry.install}",
                )
            if not body.args:
                return entry.agent(env=body.env)
            # with extra arguments the full command is what a resume must run again
            command = [*entry.launch_command(), *body.args]
            return ACPAgent(command, name=entry.name, env={**entry.env, **body.env})
        assert body.command is not None
        if shutil.which(body.command, path=body.env.get("PATH")) is None:
            raise ApiError(
                400,
                "agent_not_found",
                f"command {body.command!r} is not an executable on the server",
                hint="give the full path of the agent's program",
            )
        return ACPAgent([body.command, *body.args], env=body.env)

    def _callbacks(self, conversation_id: str, hub: Hub) -> dict[str, Any]:
        def changed(_: object) -> None:  # every event moves the row (its last activity)
            self.changes.changed(conversation_id)

        return {
            "callbacks": [hub.on_event, changed],
            "on_token": hub.on_token,
            "on_thought": hub.on_thought,
        }

    def drive(self, live: Live) -> None:
        """Run queued messages in an ``arun()`` task, unless one is running (it takes them)."""
        if not live.running:
            name = f"acphost-drive-{live.conversation.id}"
            live.driver = self.loop.create_task(self._drive(live), name=name)

    async def _drive(self, live: Live) -> None:
        conversation = live.conversation
        try:
            with self.pacer.turn():
                await conversation.arun()
        except AcphostError as exc:  # already recorded as an error event
            log.info("a turn of %s failed: %s", conversation.id, exc.code)
        except Exception:
            log.exception("driving %s failed", conversation.id)
        finally:
            self.changes.changed(conversation.id)  # no longer running

    # --- stopping -------------------------------------------------------------------------

    def _make_room(self) -> None:
        """Keep at most ``max_live`` agents attached: detach the least recently used idle one
        (it resumes from the store on its next use), or refuse when every one is running."""
        if self.max_live is None:
            return
        while len(self.live) >= self.max_live:
            idle = next((cid for cid, live in self.live.items() if live.idle), None)
            if idle is None:
                raise ApiError(
                    429,
                    "too_many_live_conversations",
                    f"all {len(self.live)} live conversations of this server are busy",
                    hint="retry when a turn has ended, or start the server with a higher"
                    " --max-live",
                    retryable=True,
                )
            self._evict(idle)

    def _evict(self, conversation_id: str) -> None:
        live = self.live.pop(conversation_id)
        task = self.loop.create_task(self._stop(live, close=False))
        self._evicting[conversation_id] = task

        def forget(_: asyncio.Task[None]) -> None:
            if self._evicting.get(conversation_id) is task:
                del self._evicting[conversation_id]
            self.release_hub(conversation_id)
            self.changes.changed(conversation_id)  # no longer live

        task.add_done_callback(forget)
        log.info("detached idle conversation %s (max_live=%s)", conversation_id, self.max_live)

    async def delete(self, conversation_id: str) -> None:
        self.record(conversation_id)
        self._deleting.add(conversation_id)
        try:
            evicting = self._evicting.get(conversation_id)
            if evicting is not None:
                await asyncio.wait({evicting})
            live = self.live.pop(conversation_id, None)
            if live is not None:
                await self._stop(live, close=True)
            hub = self.hubs.pop(conversation_id, None)
            if hub is not None:
                hub.close_all(DELETED, "conversation deleted")
            await asyncio.to_thread(self.store.delete_conversation, conversation_id)
            self._folds.forget(conversation_id)
            self.changes.deleted(conversation_id)
        finally:
            self._deleting.discard(conversation_id)

    async def _stop(self, live: Live, *, close: bool) -> None:
        """Interrupt the turn (bounded), then close the agent (or only detach it)."""
        conversation = live.conversation
        driver = live.driver
        if driver is not None and not driver.done():
            conversation.interrupt()
            await asyncio.wait({driver}, timeout=self.stop_timeout)
            if not driver.done():
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({driver}, timeout=self.stop_timeout)
        try:
            if close:
                await asyncio.wait_for(conversation.aclose(), timeout=self.stop_timeout + 30)
            else:
                await asyncio.wait_for(_detach(conversation), timeout=self.stop_timeout)
        except (TimeoutError, AcphostError, OSError) as exc:
            log.warning("stopping the agent of %s failed: %r", conversation.id, exc)


def _existing_directory(given: str) -> Path:
    """The workspace as an absolute path, or a 400 (never a 500, whatever the string)."""
    try:
        path = Path(os.path.expanduser(given))  # os.path: an unknown ``~user`` stays as is
        if path.is_dir():
            return path.resolve()
    except (OSError, ValueError, RuntimeError):  # a name too long, a loop of symlinks...
        pass
    raise ApiError(
        400,
        "workspace_not_found",
        f"workspace {given[:300]!r} is not an existing directory on the server",
        hint="create it first, or give another path",
    )


async def _detach(conversation: Conversation) -> None:
    """Stop the agent without marking the conversation finished (a restart resumes it)."""
    await conversation.adetach()
