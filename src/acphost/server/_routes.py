"""The REST API under ``/api``: conversations and their events (control of their agents is in
``_control_routes``). Routes get the server's :class:`Manager` as a dependency."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

import acphost
from acphost.agents import KNOWN_AGENTS
from acphost.events import Event
from acphost.server._deps import ConversationId, ManagerDep, RowsDep, describe
from acphost.server._errors import ApiError, errors
from acphost.server._manager import Manager
from acphost.server._models import (
    MAX_SEQ,
    AgentInfo,
    ConversationDetail,
    ConversationPage,
    CreateConversation,
    EventPage,
    Health,
    Status,
)

__all__ = ["conversations", "events", "public_router"]


def public_router(manager: Manager) -> APIRouter:
    """What needs no key: only health, which reveals nothing about conversations."""
    router = APIRouter(tags=["server"])

    @router.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(version=acphost.__version__, live_conversations=len(manager.live))

    return router


conversations = APIRouter()
"""The agents the server knows, and conversations: create, list, get, delete."""

events = APIRouter()
"""A conversation's stored events, by ``seq``."""


@conversations.get("/agents", response_model=list[AgentInfo], tags=["server"])
async def list_agents() -> list[AgentInfo]:
    """The agents the server knows by name, and whether each is installed."""
    return [
        AgentInfo(
            name=e.name,
            title=e.title,
            command=list(e.command),
            installed=e.installed(),
            install=e.install,
            credentials=list(e.credentials),
            homepage=e.homepage,
            notes=e.notes,
        )
        for e in KNOWN_AGENTS.values()
    ]


@conversations.post(
    "/conversations",
    status_code=201,
    responses=errors(400, 429),
    response_model=ConversationDetail,
    tags=["conversations"],
)
async def create_conversation(manager: ManagerDep, body: CreateConversation) -> ConversationDetail:
    """Start a conversation; with ``message`` its first turn runs at once."""
    live = manager.create(body)
    return await describe(manager, live.conversation.id)


@conversations.get("/conversations", response_model=ConversationPage, tags=["conversations"])
async def list_conversations(
    manager: ManagerDep,
    rows: RowsDep,
    status: Status | None = None,
    agent: str | None = None,
    search: Annotated[str | None, Query(description="In the title or the id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
) -> ConversationPage:
    """Every stored conversation, most recently updated first."""
    store = manager.store
    records = store.list_conversations(
        status=status, agent=agent, search=search, limit=limit, offset=offset
    )
    total = store.count_conversations(status=status, agent=agent, search=search)
    return ConversationPage(
        conversations=await rows.rows(records),
        total=total,
        limit=limit,
        offset=offset,
    )


@conversations.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    responses=errors(404),
    tags=["conversations"],
)
async def get_conversation(
    manager: ManagerDep, conversation_id: ConversationId
) -> ConversationDetail:
    return await describe(manager, conversation_id)


@conversations.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    tags=["conversations"],
    responses=errors(404),
)
async def delete_conversation(manager: ManagerDep, conversation_id: ConversationId) -> Response:
    """Stop its agent, then remove it and its events from the store."""
    await manager.delete(conversation_id)
    return Response(status_code=204)


@events.get(
    "/conversations/{conversation_id}/events",
    responses=errors(404),
    response_model=EventPage,
    tags=["events"],
)
async def list_events(
    manager: ManagerDep,
    conversation_id: ConversationId,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    kinds: Annotated[
        str | None, Query(description="Comma-separated event kinds, e.g. tool_call,plan")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Stored events after ``after_seq`` in seq order; page with ``next_after_seq``."""
    manager.record(conversation_id)
    wanted = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    page = await asyncio.to_thread(
        manager.store.events,
        conversation_id,
        after_seq=after_seq,
        kinds=wanted or None,
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    next_after = page[-1].seq if page else after_seq
    body = b"".join(
        (
            b'{"events":[',
            b",".join(record.data for record in page),
            b'],"next_after_seq":%d,"has_more":%s}' % (next_after, b"true" if more else b"false"),
        )
    )
    return Response(body, media_type="application/json")


@events.get(
    "/conversations/{conversation_id}/events/{seq}",
    responses=errors(404),
    response_model=Event,
    tags=["events"],
)
async def get_event(
    manager: ManagerDep,
    conversation_id: ConversationId,
    seq: Annotated[int, Path(ge=0, le=MAX_SEQ)],
) -> Response:
    manager.record(conversation_id)
    record = manager.store.get_event(conversation_id, seq)
    if record is None:
        raise ApiError(
            404,
            "event_not_found",
            f"conversation {conversation_id!r} has no event {seq}",
            hint="events are numbered from 1 to the conversation's last_seq",
        )
    return Response(record.data, media_type="application/json")
