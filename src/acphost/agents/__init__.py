"""Agents a conversation can host: any ACP program, a registry name, or plain Python."""

from acphost.agents._acp import ACPAgent
from acphost.agents._base import (
    AgentBase,
    AgentContext,
    SessionStart,
    SteerOutcome,
    TurnResult,
)
from acphost.agents._entry import AgentEntry
from acphost.agents._registry import KNOWN_AGENTS, resolve_agent

__all__ = (
    "KNOWN_AGENTS",
    "ACPAgent",
    "AgentBase",
    "AgentContext",
    "AgentEntry",
    "SessionStart",
    "SteerOutcome",
    "TurnResult",
    "resolve_agent",
)
