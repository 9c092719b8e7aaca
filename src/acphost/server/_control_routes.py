"""The REST API's control of a conversation's agent: messages, steering, runs, interrupts,
modes and options, and the answers to its permission requests and questions."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path

from acphost.server._deps import AGENT_ERRORS, ConversationId, ManagerDep, action, describe
from acphost.server._errors import ApiError, errors
from acphost.server._models import (
    ActionResult,
    AnswerElicitation,
    AnswerPermission,
    ConversationDetail,
    MessageAccepted,
    SendMessage,
    SetConfigOption,
    SetMode,
    Steer,
    SteerAccepted,
)

__all__ = ["control"]

control = APIRouter()
"""Everything that reaches a conversation's agent (it is resumed first when it is not live)."""


@control.post(
    "/conversations/{conversation_id}/messages",
    responses=errors(404, 409, 429),
    status_code=202,
    response_model=MessageAccepted,
    tags=["control"],
)
async def send_message(
    manager: ManagerDep, conversation_id: ConversationId, body: SendMessage
) -> MessageAccepted:
    """Store the message at once; run it now (or, with ``run: false``, on the next run)."""
    live = await manager.get_live(conversation_id)
    event = live.conversation.send_message(body.text)
    if body.run:
        manager.drive(live)
    return MessageAccepted(**action(live).model_dump(), seq=event.seq, turn=event.turn)


@control.post(
    "/conversations/{conversation_id}/steer",
    responses=errors(404, 409, 429),
    status_code=202,
    response_model=SteerAccepted,
    tags=["control"],
)
async def steer(manager: ManagerDep, conversation_id: ConversationId, body: Steer) -> SteerAccepted:
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


@control.post(
    "/conversations/{conversation_id}/run",
    responses=errors(404, 409, 429),
    status_code=202,
    response_model=ActionResult,
    tags=["control"],
)
async def run(manager: ManagerDep, conversation_id: ConversationId) -> ActionResult:
    """Run queued messages (a no-op when a turn is already being driven)."""
    live = await manager.get_live(conversation_id)
    manager.drive(live)
    return action(live)


@control.post(
    "/conversations/{conversation_id}/interrupt",
    responses=errors(404, 409, 429),
    status_code=202,
    response_model=ActionResult,
    tags=["control"],
)
async def interrupt(manager: ManagerDep, conversation_id: ConversationId) -> ActionResult:
    """Cancel the running turn: it ends ``cancelled``, open tool calls ``failed``,
    unanswered permission requests ``cancelled``; queued messages wait."""
    live = await manager.get_live(conversation_id)
    live.conversation.interrupt()
    return action(live)


@control.post(
    "/conversations/{conversation_id}/pause",
    responses=errors(404, 409, 429),
    status_code=202,
    response_model=ActionResult,
    tags=["control"],
)
async def pause(manager: ManagerDep, conversation_id: ConversationId) -> ActionResult:
    """Let the running turn finish, then run no queued message until the next run."""
    live = await manager.get_live(conversation_id)
    live.conversation.pause()
    return action(live)


@control.post(
    "/conversations/{conversation_id}/config",
    responses=AGENT_ERRORS,
    response_model=ConversationDetail,
    tags=["control"],
)
async def set_config_option(
    manager: ManagerDep, conversation_id: ConversationId, body: SetConfigOption
) -> ConversationDetail:
    """Set an agent config option (the model is the option of category ``model``)."""
    live = await manager.get_live(conversation_id)
    with live.conversation.state as state:
        _refuse_unknown("config_option", body.config_id, state.config_options)
    with live.held():  # its agent stays attached meanwhile
        await live.conversation.aset_config_option(body.config_id, body.value)
    return await describe(manager, conversation_id)


@control.post(
    "/conversations/{conversation_id}/mode",
    responses=AGENT_ERRORS,
    response_model=ConversationDetail,
    tags=["control"],
)
async def set_mode(
    manager: ManagerDep, conversation_id: ConversationId, body: SetMode
) -> ConversationDetail:
    live = await manager.get_live(conversation_id)
    with live.conversation.state as state:
        _refuse_unknown("mode", body.mode_id, state.modes)
    with live.held():  # its agent stays attached meanwhile
        await live.conversation.aset_mode(body.mode_id)
    return await describe(manager, conversation_id)


@control.post(
    "/conversations/{conversation_id}/permissions/{request_id}",
    responses=errors(404, 409, 429),
    response_model=ActionResult,
    tags=["control"],
)
async def answer_permission(
    manager: ManagerDep,
    conversation_id: ConversationId,
    request_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: AnswerPermission,
) -> ActionResult:
    """Answer a permission request of a conversation created with ``permission: ask``."""
    live = await manager.get_live(conversation_id)
    with live.conversation.state as state:
        _require_pending(request_id, state.pending_permissions, "permission_request", "permission")
    live.conversation.answer_permission(request_id, body.decision)
    return action(live)


@control.post(
    "/conversations/{conversation_id}/elicitations/{request_id}",
    responses=errors(404, 409, 429),
    response_model=ActionResult,
    tags=["control"],
)
async def answer_elicitation(
    manager: ManagerDep,
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
        _require_pending(request_id, state.pending_elicitations, "elicitation", "elicitation")
    await live.conversation.aanswer_elicitation(request_id, body.action, body.content)
    return action(live)


def _require_pending(request_id: str, pending: Container[str], kind: str, field: str) -> None:
    """404 ``<kind>_not_found`` unless ``request_id`` is pending (in ``pending_<field>s``)."""
    if request_id not in pending:
        raise ApiError(
            404,
            f"{kind}_not_found",
            f"no pending {kind.replace('_', ' ')} {request_id!r}",
            hint=f"see pending_{field}s of the conversation; it may have been answered "
            "or cancelled",
        )


def _refuse_unknown(kind: str, value: str, offered: Iterable[Mapping[str, Any]]) -> None:
    """400 ``unknown_<kind>`` for a value the agent did not offer (when it said what it offers:
    the ids of ``offered``)."""
    known = [str(entry.get("id")) for entry in offered]
    if known and value not in known:
        what = kind.replace("_", " ")
        raise ApiError(
            400,
            f"unknown_{kind}",
            f"the agent has no {what} {value!r}",
            hint=f"its {what}s: {', '.join(known)}",
        )
