"""Records and folded states, shaped into response bodies."""

from __future__ import annotations

from typing import Any, cast, get_args

from acphost.conversation import ConversationState
from acphost.server._manager import Live
from acphost.server._models import (
    ConversationDetail,
    ConversationSummary,
    PendingElicitation,
    PendingPermission,
    Status,
)
from acphost.store import ConversationRecord

__all__ = ["detail", "summary"]

_STATUSES: frozenset[str] = frozenset(get_args(Status))


def _status(value: str) -> Status:
    # a store written by a newer acphost may know more statuses; never fail a listing for it
    return cast(Status, value) if value in _STATUSES else "error"


def summary(
    record: ConversationRecord,
    live: Live | None,
    *,
    cost: float | None = None,
    currency: str | None = None,
) -> ConversationSummary:
    """A list row; a live conversation's figures come from its state, else from the caller."""
    pending = asking = 0
    if live is not None:
        with live.conversation.state as state:
            cost, currency = state.cost, state.currency
            pending = len(state.pending_permissions)
            asking = len(state.pending_elicitations)
    return ConversationSummary(
        id=record.id,
        agent=record.agent,
        workspace=record.workspace,
        title=record.title,
        status=_status(record.status),
        created_at=record.created_at,
        updated_at=record.updated_at,
        live=live is not None,
        running=live is not None and live.running,
        cost=cost,
        currency=currency,
        pending_permission_count=pending,
        pending_elicitation_count=asking,
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def detail(
    record: ConversationRecord, state: ConversationState, live: Live | None
) -> ConversationDetail:
    """Read under the state lock, so the body is one consistent moment of the conversation."""
    with state:
        option = state.model_option
        return ConversationDetail(
            id=record.id,
            agent=record.agent,
            workspace=record.workspace,
            title=state.title or record.title,
            status=_status(state.status),
            created_at=record.created_at,
            updated_at=record.updated_at,
            live=live is not None,
            running=live is not None and live.running,
            pending_permission_count=len(state.pending_permissions),
            pending_elicitation_count=len(state.pending_elicitations),
            last_seq=state.last_seq,
            session_id=state.session_id,
            permission=str(record.metadata.get("permission", "deny")),
            turns=state.turns,
            last_stop_reason=state.last_stop_reason,
            usage=state.usage,
            cost=state.cost,
            currency=state.currency,
            context_used=state.context_used,
            context_size=state.context_size,
            mode_id=state.mode_id,
            modes=_dicts(state.modes),
            model=state.model,
            models=_dicts(option.get("options")) if option else [],
            config_options=_dicts(state.config_options),
            commands=_dicts(state.commands),
            plan=_dicts(state.plan),
            running_tool_calls=[call.tool_call_id for call in state.running_tool_calls],
            pending_permissions=_pending_permissions(state),
            pending_elicitations=_pending_elicitations(state),
        )


def _pending_permissions(state: ConversationState) -> list[PendingPermission]:
    return [
        PendingPermission(
            request_id=request.request_id,
            seq=request.seq,
            tool_call_id=request.tool_call_id,
            title=request.title,
            options=request.options,
            tool_call=request.tool_call,
        )
        for request in state.pending_permissions.values()
    ]


def _pending_elicitations(state: ConversationState) -> list[PendingElicitation]:
    return [
        PendingElicitation(
            request_id=asked.request_id,
            seq=asked.seq,
            mode=asked.mode,
            message=asked.message,
            requested_schema=asked.requested_schema,
            url=asked.url,
            elicitation_id=asked.elicitation_id,
            tool_call_id=asked.tool_call_id,
        )
        for asked in state.pending_elicitations.values()
    ]
