"""Warm starts: agent processes started and initialised before a conversation needs them.

Claude Code and Codex take seconds to start. An :class:`AgentPool` keeps ``size`` of them per
agent spec running on acphost's I/O loop, ``initialize`` done, no session yet; a conversation
given the pool takes one (its first prompt then pays only ``session/new``) and the pool starts
a replacement in the background.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import threading
from collections import deque
from typing import Any

from acphost.agents import ACPAgent, AgentBase, resolve_agent
from acphost.conversation._inputs import AgentSpec
from acphost.conversation._loop import IOLoop

__all__ = ["AgentPool"]

log = logging.getLogger("acphost")


class AgentPool:
    """Keeps ``size`` initialised agent processes per agent spec ready for new conversations.

    ``Conversation(agent, pool=pool)`` takes a ready one when there is one (else starts its
    own, as without a pool) and the pool starts a replacement. Only ACP agent programs are
    pooled (a Python agent has no start-up to save). Waiting processes run in ``directory``
    (default: the temp dir); each session still gets its conversation's workspace. Close the
    pool (or use it as a context manager) to stop the processes nobody took.
    """

    def __init__(self, size: int = 1, *, directory: str | os.PathLike[str] | None = None) -> None:
        if size < 1:
            raise ValueError("an agent pool keeps at least one agent ready")
        self.size = size
        self.directory = os.fspath(directory or tempfile.gettempdir())
        self._io = IOLoop.get()
        self._ready: dict[str, deque[ACPAgent]] = {}
        self._starting: dict[str, int] = {}
        self._changed = threading.Condition()
        self._closed = False
        self._io.add_closer(self.aclose)

    def warm(self, agent: AgentSpec) -> None:
        """Start ``size`` agents for ``agent`` (a registry name or command line) in the
        background, if they are not ready or starting already."""
        resolved = resolve_agent(agent)
        if isinstance(resolved, ACPAgent):
            self._fill(_key(resolved), resolved)

    def take(self, agent: AgentSpec) -> AgentBase:
        """A ready agent for ``agent`` if there is one, else a new (cold) one; either way the
        pool tops itself up again in the background."""
        resolved = resolve_agent(agent)
        if not isinstance(resolved, ACPAgent) or self._closed:
            return resolved
        key = _key(resolved)
        taken: ACPAgent | None = None
        with self._changed:
            ready = self._ready.get(key, deque())
            while ready and taken is None:
                candidate = ready.popleft()
                if candidate.alive:
                    taken = candidate
                else:  # it died waiting: not worth handing out
                    self._io.submit(candidate.aclose)
        self._fill(key, resolved)
        return taken or resolved

    def ready(self, agent: AgentSpec) -> int:
        """How many agents for ``agent`` are started and waiting."""
        resolved = resolve_agent(agent)
        if not isinstance(resolved, ACPAgent):
            return 0
        with self._changed:
            return len(self._ready.get(_key(resolved), ()))

    def wait_ready(self, agent: AgentSpec, count: int | None = None, timeout: float = 60) -> bool:
        """Wait until ``count`` (default: ``size``) agents for ``agent`` are ready; ``False``
        if ``timeout`` passed first."""
        resolved = resolve_agent(agent)
        if not isinstance(resolved, ACPAgent):
            return False
        key, want = _key(resolved), self.size if count is None else count
        with self._changed:
            return self._changed.wait_for(lambda: len(self._ready.get(key, ())) >= want, timeout)

    def _fill(self, key: str, template: ACPAgent) -> None:
        with self._changed:
            if self._closed:
                return
            missing = self.size - len(self._ready.get(key, ())) - self._starting.get(key, 0)
            self._starting[key] = self._starting.get(key, 0) + max(0, missing)
        for _ in range(missing):
            self._io.submit(self._start_one, key, copy.copy(template))

    async def _start_one(self, key: str, agent: ACPAgent) -> None:
        try:
            await agent.awarm(self.directory)
            started = True
        except Exception as exc:  # the conversation that needs it will say why, cold
            log.warning("agent pool: starting %s failed: %s", agent.name, exc)
            started = False
        with self._changed:
            self._starting[key] -= 1
            keep = started and not self._closed
            if keep:
                self._ready.setdefault(key, deque()).append(agent)
            self._changed.notify_all()
        if not keep:
            await agent.aclose()

    async def aclose(self) -> None:
        """Stop every agent still waiting; agents already taken belong to their conversations."""
        with self._changed:
            self._closed = True
            waiting = [agent for ready in self._ready.values() for agent in ready]
            self._ready.clear()
        for agent in waiting:
            await agent.aclose()

    def close(self) -> None:
        """Like :meth:`aclose`, from synchronous code."""
        self._io.submit(self.aclose).result(timeout=30)
        self._io.discard_closer(self.aclose)

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _key(agent: ACPAgent) -> str:
    """Agents are interchangeable when they run the same command with the same settings."""
    fields: dict[str, Any] = {
        "command": agent.command,
        "env": agent.env,
        "mcp_servers": [repr(server) for server in agent.mcp_servers],
        "additional_directories": [os.fspath(d) for d in agent.additional_directories],
        "auth_method": agent.auth_method,
    }
    return json.dumps(fields, sort_keys=True, default=str)
