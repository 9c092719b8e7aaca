"""Known ACP agents by name: the built-in entries (:mod:`._builtin`) merged with the user's
config file (:mod:`._config`) each time it changed, and how an agent spec becomes an agent.

``Conversation(agent="claude")`` and ``acphost agents`` read :data:`KNOWN_AGENTS`.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from acphost.agents._acp import ACPAgent
from acphost.agents._base import AgentBase
from acphost.agents._builtin import BUILTIN_AGENTS
from acphost.agents._config import config_path, read_config
from acphost.agents._entry import AgentEntry
from acphost.errors import UsageError

__all__ = ["BUILTIN_AGENTS", "KNOWN_AGENTS", "resolve_agent"]  # BUILTIN_AGENTS: from _builtin


def _merge(base: AgentEntry | None, name: str, fields: dict[str, Any], source: str) -> AgentEntry:
    if base is None:
        if "command" not in fields:
            raise UsageError(f"{source}: [agents.{name}] a new agent needs a command")
        fields = {"title": name, "install": "see the agent's documentation", **fields}
        return AgentEntry(name=name, source=source, **fields)
    if "env" in fields:
        fields = {**fields, "env": {**base.env, **fields["env"]}}
    return dataclasses.replace(base, source=source, **fields)


class _Registry(Mapping[str, AgentEntry]):
    """The built-ins merged with the config file, re-read whenever the file changed."""

    def __init__(self, builtins: Mapping[str, AgentEntry]) -> None:
        self._builtins = builtins
        self._key: tuple[str, float | None] | None = None
        self._entries: dict[str, AgentEntry] = dict(builtins)

    def _current(self) -> dict[str, AgentEntry]:
        path = config_path()
        try:
            mtime: float | None = path.stat().st_mtime
        except OSError:
            mtime = None
        key = (str(path), mtime)
        if key != self._key:
            entries = dict(self._builtins)
            if mtime is not None:
                for name, fields in read_config(path).items():
                    entries[name] = _merge(entries.get(name), name, fields, str(path))
            self._entries, self._key = entries, key
        return self._entries

    def __getitem__(self, name: str) -> AgentEntry:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"<KNOWN_AGENTS {', '.join(self)}>"


KNOWN_AGENTS: Mapping[str, AgentEntry] = _Registry(BUILTIN_AGENTS)
"""Every agent that can be run by name: the built-ins plus the user's ``agents.toml``.

Read live: an edit of the config file shows on the next lookup.
"""


def resolve_agent(agent: AgentBase | str | Sequence[str]) -> AgentBase:
    """An agent from an instance, a registry name, or a command line.

    A registry name whose program is missing raises :class:`AgentNotFound` naming the
    install command, before anything is started.
    """
    if isinstance(agent, AgentBase):
        return agent
    if isinstance(agent, str):
        entry = KNOWN_AGENTS.get(agent)
        if entry is not None:
            return entry.agent()
        return ACPAgent(shlex.split(agent))
    return ACPAgent(list(agent))
