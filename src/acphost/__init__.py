"""acphost: host coding agents that speak the Agent Client Protocol.

Drive any ACP agent (Claude Code, Codex, Gemini CLI, OpenCode, goose, Kimi...) as a
:class:`Conversation` from Python, sync or async, and get a typed, durable, replayable record
of everything it did. Agent I/O runs on acphost's own background loop; every callback runs on
the thread (or loop) that drives the conversation, in order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acphost.acp.fs import Workspace
    from acphost.acp.permissions import Decision, PermissionRequest
    from acphost.agents import (
        KNOWN_AGENTS,
        ACPAgent,
        AgentBase,
        AgentContext,
        AgentEntry,
        SessionStart,
        TurnResult,
        resolve_agent,
    )
    from acphost.conversation import (
        Conversation,
        ConversationState,
        FIFOLock,
        PermissionPolicy,
        Status,
    )
    from acphost.errors import (
        AcphostError,
        AgentError,
        AgentExited,
        AgentNotFound,
        AgentRequestError,
        AgentStartError,
        AuthRequired,
        CapabilityMissing,
        ConnectionClosed,
        ConversationClosed,
        ProtocolError,
        RequestTimeout,
        ResourceNotFound,
        TerminalNotFound,
        UsageError,
        WorkspaceError,
        WorkspaceNotFound,
    )
    from acphost.events import (
        AgentMessageEvent,
        CommandsEvent,
        CompactionEvent,
        ConfigOptionsEvent,
        ErrorEvent,
        Event,
        EventBase,
        ModeChangedEvent,
        NoticeEvent,
        PermissionDecidedEvent,
        PermissionRequestedEvent,
        PlanEvent,
        RawEvent,
        SessionEvent,
        SessionInfoEvent,
        StatusChangedEvent,
        SubagentEvent,
        SubagentUpdateEvent,
        TerminalEvent,
        ThoughtEvent,
        TokenUsage,
        ToolCallEvent,
        TurnEndedEvent,
        TurnStartedEvent,
        UsageEvent,
        UserMessageEvent,
        parse_event,
    )
    from acphost.store import ConversationRecord, EventRecord, EventStore, SQLiteStore

__version__ = "0.1.0"

# Names are imported on first use: ``import acphost`` stays cheap, and the fake agent
# (``python -m acphost.testing.fake_agent``) never pays for pydantic or the ACP schema.
_EXPORTS: dict[str, str] = {
    "ACPAgent": "acphost.agents",
    "AcphostError": "acphost.errors",
    "AgentBase": "acphost.agents",
    "AgentContext": "acphost.agents",
    "AgentEntry": "acphost.agents",
    "AgentError": "acphost.errors",
    "AgentExited": "acphost.errors",
    "AgentMessageEvent": "acphost.events",
    "AgentNotFound": "acphost.errors",
    "AgentRequestError": "acphost.errors",
    "AgentStartError": "acphost.errors",
    "AuthRequired": "acphost.errors",
    "CapabilityMissing": "acphost.errors",
    "CommandsEvent": "acphost.events",
    "CompactionEvent": "acphost.events",
    "ConfigOptionsEvent": "acphost.events",
    "ConnectionClosed": "acphost.errors",
    "Conversation": "acphost.conversation",
    "ConversationClosed": "acphost.errors",
    "ConversationRecord": "acphost.store",
    "ConversationState": "acphost.conversation",
    "Decision": "acphost.acp.permissions",
    "ErrorEvent": "acphost.events",
    "Event": "acphost.events",
    "EventBase": "acphost.events",
    "EventRecord": "acphost.store",
    "EventStore": "acphost.store",
    "FIFOLock": "acphost.conversation",
    "KNOWN_AGENTS": "acphost.agents",
    "ModeChangedEvent": "acphost.events",
    "NoticeEvent": "acphost.events",
    "PermissionDecidedEvent": "acphost.events",
    "PermissionPolicy": "acphost.conversation",
    "PermissionRequest": "acphost.acp.permissions",
    "PermissionRequestedEvent": "acphost.events",
    "PlanEvent": "acphost.events",
    "ProtocolError": "acphost.errors",
    "RawEvent": "acphost.events",
    "RequestTimeout": "acphost.errors",
    "ResourceNotFound": "acphost.errors",
    "SQLiteStore": "acphost.store",
    "SessionEvent": "acphost.events",
    "SessionInfoEvent": "acphost.events",
    "SessionStart": "acphost.agents",
    "Status": "acphost.conversation",
    "StatusChangedEvent": "acphost.events",
    "SubagentEvent": "acphost.events",
    "SubagentUpdateEvent": "acphost.events",
    "TerminalNotFound": "acphost.errors",
    "TerminalEvent": "acphost.events",
    "ThoughtEvent": "acphost.events",
    "TokenUsage": "acphost.events",
    "ToolCallEvent": "acphost.events",
    "TurnEndedEvent": "acphost.events",
    "TurnResult": "acphost.agents",
    "TurnStartedEvent": "acphost.events",
    "UsageError": "acphost.errors",
    "UsageEvent": "acphost.events",
    "UserMessageEvent": "acphost.events",
    "Workspace": "acphost.acp.fs",
    "WorkspaceError": "acphost.errors",
    "WorkspaceNotFound": "acphost.errors",
    "parse_event": "acphost.events",
    "resolve_agent": "acphost.agents",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'acphost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = (
    "KNOWN_AGENTS",
    "ACPAgent",
    "AcphostError",
    "AgentBase",
    "AgentContext",
    "AgentEntry",
    "AgentError",
    "AgentExited",
    "AgentMessageEvent",
    "AgentNotFound",
    "AgentRequestError",
    "AgentStartError",
    "AuthRequired",
    "CapabilityMissing",
    "CommandsEvent",
    "CompactionEvent",
    "ConfigOptionsEvent",
    "ConnectionClosed",
    "Conversation",
    "ConversationClosed",
    "ConversationRecord",
    "ConversationState",
    "Decision",
    "ErrorEvent",
    "Event",
    "EventBase",
    "EventRecord",
    "EventStore",
    "FIFOLock",
    "ModeChangedEvent",
    "NoticeEvent",
    "PermissionDecidedEvent",
    "PermissionPolicy",
    "PermissionRequest",
    "PermissionRequestedEvent",
    "PlanEvent",
    "ProtocolError",
    "RawEvent",
    "RequestTimeout",
    "ResourceNotFound",
    "SQLiteStore",
    "SessionEvent",
    "SessionInfoEvent",
    "SessionStart",
    "Status",
    "StatusChangedEvent",
    "SubagentEvent",
    "SubagentUpdateEvent",
    "TerminalEvent",
    "TerminalNotFound",
    "ThoughtEvent",
    "TokenUsage",
    "ToolCallEvent",
    "TurnEndedEvent",
    "TurnResult",
    "TurnStartedEvent",
    "UsageError",
    "UsageEvent",
    "UserMessageEvent",
    "Workspace",
    "WorkspaceError",
    "WorkspaceNotFound",
    "__version__",
    "parse_event",
    "resolve_agent",
)
