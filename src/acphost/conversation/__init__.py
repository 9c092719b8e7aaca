"""Conversations: the threading contract, typed events, durable state, clean cancel."""

from acphost.conversation._conversation import Conversation
from acphost.conversation._elicitation import ElicitationPolicy, ElicitationRequest
from acphost.conversation._lock import FIFOLock
from acphost.conversation._permission_clerk import PermissionPolicy
from acphost.conversation._pool import AgentPool
from acphost.conversation._runner import TurnSettings
from acphost.conversation._settle import settle_dangling_turn
from acphost.conversation._state import ConversationState, Status

__all__ = (
    "AgentPool",
    "Conversation",
    "ConversationState",
    "ElicitationPolicy",
    "ElicitationRequest",
    "FIFOLock",
    "PermissionPolicy",
    "Status",
    "TurnSettings",
    "settle_dangling_turn",
)
