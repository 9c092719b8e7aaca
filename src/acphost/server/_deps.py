"""What the REST routes share: the server's manager and list rows as dependencies, the
conversation id path parameter, and the bodies most answers are made of."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Path, Request

from acphost.server._errors import errors
from acphost.server._listing import Rows
from acphost.server._manager import Live, Manager
from acphost.server._models import ActionResult, ConversationDetail
from acphost.server._views import detail

__all__ = [
    "AGENT_ERRORS",
    "ConversationId",
    "ManagerDep",
    "RowsDep",
    "action",
    "describe",
]

AGENT_ERRORS = errors(400, 404, 409, 429, 502, 503, 504)
"""What a call that reaches the agent may answer."""

ConversationId = Annotated[str, Path(min_length=1, max_length=200)]


def _manager(request: Request) -> Manager:
    return cast(Manager, request.app.state.manager)


def _rows(request: Request) -> Rows:
    return cast(Rows, request.app.state.rows)


ManagerDep = Annotated[Manager, Depends(_manager)]
"""The server's :class:`Manager` (``app.state.manager``)."""

RowsDep = Annotated[Rows, Depends(_rows)]
"""The server's list rows, with their cost cache (``app.state.rows``)."""


async def describe(manager: Manager, conversation_id: str) -> ConversationDetail:
    """A conversation's detail, live or folded from the store."""
    record = manager.record(conversation_id)
    state, live = await manager.state(conversation_id)
    return detail(record, state, live)


def action(live: Live) -> ActionResult:
    """The answer of a control call: the conversation's status now."""
    conversation = live.conversation
    return ActionResult(
        conversation_id=conversation.id,
        status=conversation.state.status,
        running=live.running,
    )
