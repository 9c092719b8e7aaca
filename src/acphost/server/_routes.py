"""The REST API under ``/api``: conversations, their events, and control of their agents."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

import acphost
from acphost.agents import KNOWN_AGENTS
from acphost.events import Event
from acphost.server._errors import ApiError, errors
from acphost.server._listing import Rows
from acphost.server._manager import Live, Manager
from acphost.server._models import (
    MAX_SEQ,
    ActionResult,
    AgentInfo,
    AnswerElicitation,
    AnswerPermission,
    ConversationDetail,
    ConversationPage,
    CreateConversation,
    EventPage,
    Health,
    MessageAccepted,
    SendMessage,
    SetConfigOption,
    SetMode,
    Status,
    Steer,
    SteerAccepted,
)
from acphost.server._views import detail

__all__ = ["conversations_router", "public_router"]

AGENT_ERRORS = errors(400, 404, 409, 429, 502, 503, 504)

ConversationId = Annotated[str, Path(min_length=1, max_length=200)]


def public_router(manager: Manager) -> APIRouter:
    """What needs no key: only health, which reveals nothing about conversations."""
    router = APIRouter(tags=["server"])

    @router.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(version=acphost.__version__, live_conversations=len(manager.live))

    return router


def conversations_router(manager: Manager) -> APIRouter:
    router = APIRouter()
    rows = Rows(manager)

    async def describe(conversation_id: str) -> ConversationDetail:
        record = manager.record(conversation_id)
        state, live = await manager.state(conversation_id)
        return detail(record, state, live)

    def action(live: Live) -> ActionResult:
        conversation = live.conversation
        return ActionResult(
            conversation_id=conversation.id,
            status=conversation.state.status,
            running=live.running,
        )

    @router.get("/agents", response_model=list[AgentInfo], tags=["server"])
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

    @router.post(
        "/conversations",
        status_code=201,
        responses=errors(400, 429),
        response_model=ConversationDetail,
        tags=["conversations"],
    )
    async def create_conversation(body: CreateConversation) -> ConversationDetail:
        """Start a conversation; with ``message`` its first turn runs at once."""
        live = manager.create(body)
        return await describe(live.conversation.id)

    @router.get("/conversations", response_model=ConversationPage, tags=["conversations"])
    async def list_conversations(
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

    @router.get(
        "/conversations/{conversation_id}",
        response_model=ConversationDetail,
        responses=errors(404),
        tags=["conversations"],
    )
    async def get_conversation(conversation_id: ConversationId) -> ConversationDetail:
        return await describe(conversation_id)

    @router.delete(
        "/conversations/{conversation_id}",
        status_code=204,
        tags=["conversations"],
        responses=errors(404),
    )
    async def delete_conversation(conversation_id: ConversationId) -> Response:
        """Stop its agent, then remove it and its events from the store."""
        await manager.delete(conversation_id)
        return Response(status_code=204)

    @router.post(
        "/conversations/{conversation_id}/messages",
        responses=errors(404, 409, 429),
        status_code=202,
        response_model=MessageAccepted,
        tags=["control"],
    )
    async def send_message(conversation_id: ConversationId, body: SendMessage) -> MessageAccepted:
        """Store the message at once; run it now (or, with ``run: false``, on the next run)."""
        live = await manager.get_live(conversation_id)
        event = live.conversation.send_message(body.text)
        if body.run:
            manager.drive(live)
        return MessageAccepted(**action(live).model_dump(), seq=event.seq, turn=event.turn)

    @router.post(
        "/conversations/{conversation_id}/steer",
        responses=errors(404, 409, 429),
        status_code=202,
        response_model=SteerAccepted,
        tags=["control"],
    )
    async def steer(conversation_id: ConversationId, body: Steer) -> SteerAccepted:
        """Say something to the agent while it works: it joins the running turn where the agent
        takes messages mid-turn (``_session/steering``); otherwise it is queued as the next
        turn and run (as ``POST /messages`` does)."""
        live = await manager.get_live(conversation_id)
        with live.held():  # its agent stays attached meanwhile
            event = await live.conversation.asteer(body.text)
        if not event.steered:
            manager.drive(live)
        return SteerAccepted(
            **action(live).model_dump(), seq=event.seq, turn=event.turn, steered=event.steered
        )

    @router.post(
        "/conversations/{conversation_id}/run",
        responses=errors(404, 409, 429),
        status_code=202,
        response_model=ActionResult,
        tags=["control"],
    )
    async def run(conversation_id: ConversationId) -> ActionResult:
        """Run queued messages (a no-op when a turn is already being driven)."""
        live = await manager.get_live(conversation_id)
        manager.drive(live)
        return action(live)

    @router.post(
        "/conversations/{conversation_id}/interrupt",
        responses=errors(404, 409, 429),
        status_code=202,
        response_model=ActionResult,
        tags=["control"],
    )
    async def interrupt(conversation_id: ConversationId) -> ActionResult:
        """Cancel the running turn: it ends ``cancelled``, open tool calls ``failed``,
        unanswered permission requests ``cancelled``; queued messages wait."""
        live = await manager.get_live(conversation_id)
        live.conversation.interrupt()
        return action(live)

    @router.post(
        "/conversations/{conversation_id}/pause",
        responses=errors(404, 409, 429),
        status_code=202,
        response_model=ActionResult,
        tags=["control"],
    )
    async def pause(conversation_id: ConversationId) -> ActionResult:
        """Let the running turn finish, then run no queued message until the next run."""
        live = await manager.get_live(conversation_id)
        live.conversation.pause()
        return action(live)

    @router.post(
        "/conversations/{conversation_id}/config",
        responses=AGENT_ERRORS,
        response_model=ConversationDetail,
        tags=["control"],
    )
    async def set_config_option(
        conversation_id: ConversationId, body: SetConfigOption
    ) -> ConversationDetail:
        """Set an agent config option (the model is the option of category ``model``)."""
        live = await manager.get_live(conversation_id)
        state = live.conversation.state
        with state:
            known = [str(o.get("id")) for o in state.config_options]
        if known and body.config_id not in known:
            raise ApiError(
                400,
                "unknown_config_option",
                f"the agent has no config option {body.config_id!r}",
                hint=f"its options: {', '.join(known)}",
            )
        with live.held():  # its agent stays attached meanwhile
            await live.conversation.aset_config_option(body.config_id, body.value)
        return await describe(conversation_id)

    @router.post(
        "/conversations/{conversation_id}/mode",
        responses=AGENT_ERRORS,
        response_model=ConversationDetail,
        tags=["control"],
    )
    async def set_mode(conversation_id: ConversationId, body: SetMode) -> ConversationDetail:
        live = await manager.get_live(conversation_id)
        state = live.conversation.state
        with state:
            known = [str(m.get("id")) for m in state.modes]
        if known and body.mode_id not in known:
            raise ApiError(
                400,
                "unknown_mode",
                f"the agent has no mode {body.mode_id!r}",
                hint=f"its modes: {', '.join(known)}",
            )
        with live.held():  # its agent stays attached meanwhile
            await live.conversation.aset_mode(body.mode_id)
        return await describe(conversation_id)

    @router.post(
        "/conversations/{conversation_id}/permissions/{request_id}",
        responses=errors(404, 409, 429),
        response_model=ActionResult,
        tags=["control"],
    )
    async def answer_permission(
        conversation_id: ConversationId,
        request_id: Annotated[str, Path(min_length=1, max_length=200)],
        body: AnswerPermission,
    ) -> ActionResult:
        """Answer a permission request of a conversation created with ``permission: ask``."""
        live = await manager.get_live(conversation_id)
        with live.conversation.state as state:
            pending = request_id in state.pending_permissions
        if not pending:
            raise ApiError(
                404,
                "permission_request_not_found",
                f"no pending permission request {request_id!r}",
                hint="see pending_permissions of the conversation; it may have been answered "
                "or cancelled",
            )
        live.conversation.answer_permission(request_id, body.decision)
        return action(live)

    @router.post(
        "/conversations/{conversation_id}/elicitations/{request_id}",
        responses=errors(404, 409, 429),
        response_model=ActionResult,
        tags=["control"],
    )
    async def answer_elicitation(
        conversation_id: ConversationId,
        request_id: Annotated[str, Path(min_length=1, max_length=200)],
        body: AnswerElicitation,
    ) -> ActionResult:
        """Answer what the agent asks (an elicitation pending in the conversation): accept a
        form with its ``content`` (checked against the form: 422 ``invalid_elicitation_answer``
        names the fields), consent to a URL (``accept``; the client opens it), decline or
        cancel."""
        live = await manager.get_live(conversation_id)
        with live.conversation.state as state:
            pending = request_id in state.pending_elicitations
        if not pending:
            raise ApiError(
                404,
                "elicitation_not_found",
                f"no pending elicitation {request_id!r}",
                hint="see pending_elicitations of the conversation; it may have been answered "
                "or cancelled",
            )
        await live.conversation.aanswer_elicitation(request_id, body.action, body.content)
        return action(live)

    @router.get(
        "/conversations/{conversation_id}/events",
        responses=errors(404),
        response_model=EventPage,
        tags=["events"],
    )
    async def list_events(
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
                b'],"next_after_seq":%d,"has_more":%s}'
                % (next_after, b"true" if more else b"false"),
            )
        )
        return Response(body, media_type="application/json")

    @router.get(
        "/conversations/{conversation_id}/events/{seq}",
        responses=errors(404),
        response_model=Event,
        tags=["events"],
    )
    async def get_event(
        conversation_id: ConversationId, seq: Annotated[int, Path(ge=0, le=MAX_SEQ)]
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

    return router
