"""Elicitation: the agent asks the user for information (a form, or consent to open a URL).

It goes the way permission requests go (see ``_desk``): the request arrives on the I/O loop,
travels through the mailbox, is recorded, then answered on the caller's thread by a callback,
or from any thread by ``answer_elicitation`` (policy ``ask``), or at once by the ``decline``
policy; the answer returns to the agent through a future. A cancelled turn cancels what is
still pending. What the user entered is recorded in the log (it is what the agent was told)
and never written to Python's logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from acphost._event_base import Source
from acphost.conversation._callbacks import is_async, run_to_completion, start_on
from acphost.conversation._desk import Asking, Bridged
from acphost.conversation._forms import check_response
from acphost.conversation._items import ElicitationAnswer, ElicitationAsk
from acphost.conversation._mailbox import Mailbox
from acphost.errors import InvalidElicitationAnswer, UsageError
from acphost.events import ElicitationAnsweredEvent, ElicitationRequestedEvent

if TYPE_CHECKING:
    from acphost.conversation._delivery import Delivery
    from acphost.conversation._state import ConversationState

__all__ = [
    "ElicitationClerk",
    "ElicitationDesk",
    "ElicitationPolicy",
    "ElicitationReply",
    "ElicitationRequest",
    "completion_fields",
    "default_policy",
]

log = logging.getLogger("acphost")

ElicitationReply: TypeAlias = str | Mapping[str, Any]
"""A callback's answer: an action (``"accept"``, ``"decline"``, ``"cancel"``), or
``{"action": "accept", "content": {...field values...}}``."""

ElicitationPolicy: TypeAlias = (
    Literal["ask", "decline"]
    | Callable[["ElicitationRequest"], ElicitationReply]
    | Callable[["ElicitationRequest"], Awaitable[ElicitationReply]]
)
"""How a conversation answers the agent's questions: wait for ``answer_elicitation``
(``"ask"``), decline them at once (``"decline"``), or a callable run on the caller's thread
(an ``async def`` one: on the caller's loop under ``arun()``, while the turn goes on)."""

CANCEL: dict[str, Any] = {"action": "cancel"}
DECLINE: dict[str, Any] = {"action": "decline"}
DECLINED = "no one is there to answer (elicitation policy 'decline')"
CANCELLED = "the turn was cancelled"

_SOURCES: dict[str, Source] = {
    "policy": "policy",
    "callback": "user",
    "user": "user",
    "cancel": "host",
}
"""Who answered, by how it was answered (the event's ``source``)."""

_PARAMS = frozenset(
    {"sessionId", "toolCallId", "requestId", "mode", "message", "requestedSchema"}
    | {"url", "elicitationId"}
)


def default_policy(elicitation: ElicitationPolicy | None, permission: object) -> ElicitationPolicy:
    """The policy when none is given: a person answers where one answers permissions."""
    if elicitation is None:
        return "ask" if permission == "ask" else "decline"
    if isinstance(elicitation, str) and elicitation not in ("ask", "decline"):
        raise ValueError(f"unknown elicitation policy {elicitation!r}")
    return elicitation


@dataclass(frozen=True, slots=True)
class ElicitationRequest:
    """What the agent asks (ACP ``elicitation/create``), as an ``elicitation=`` callback
    gets it: a form (``requested_schema``) or a URL to open (never opened by acphost)."""

    request_id: str
    """acphost's id of the request (the event's, and ``answer_elicitation``'s)."""
    mode: str
    message: str
    requested_schema: dict[str, Any] | None = None
    url: str | None = None
    elicitation_id: str | None = None
    session_id: str | None = None
    tool_call_id: str | None = None
    scope_request_id: Any = None
    raw: dict[str, Any] = field(default_factory=dict)
    """The request's params as the agent sent them."""

    @classmethod
    def from_params(cls, params: Any, request_id: str) -> ElicitationRequest:
        """Read ``elicitation/create`` params; ``ValueError`` says what is wrong with them."""
        if not isinstance(params, dict):
            raise ValueError("params must be an object")
        mode, schema = params.get("mode"), params.get("requestedSchema")
        url, elicitation_id = params.get("url"), params.get("elicitationId")
        if mode == "form" and not isinstance(schema, dict):
            raise ValueError("a form elicitation needs a requestedSchema object")
        if mode == "url" and not (isinstance(url, str) and isinstance(elicitation_id, str)):
            raise ValueError("a URL elicitation needs url and elicitationId strings")
        if mode not in ("form", "url"):
            raise ValueError(f"mode must be 'form' or 'url', not {mode!r}")
        session_id, tool_call_id = params.get("sessionId"), params.get("toolCallId")
        return cls(
            request_id,
            str(mode),
            str(params.get("message") or ""),
            schema if mode == "form" else None,
            url if mode == "url" else None,
            elicitation_id if isinstance(elicitation_id, str) else None,
            session_id if isinstance(session_id, str) else None,
            tool_call_id if isinstance(tool_call_id, str) else None,
            params.get("requestId"),
            params,
        )

    def respond(self, action: str, content: Any = None) -> dict[str, Any]:
        """The ACP response to send for this answer; :class:`InvalidElicitationAnswer` if
        the content does not fit the form (required fields, types, choices)."""
        return check_response(self.mode, self.requested_schema, action, content)


class ElicitationDesk:
    """The I/O-loop side: requests go to the driver, answers (from any thread) to the agent."""

    def __init__(self, mailbox: Mailbox, policy: ElicitationPolicy, asking: Asking) -> None:
        self.mailbox = mailbox
        self.decline = policy == "decline"
        self.asking = asking  # waiting for the user: the agent is not idle (shared)
        self.asks: dict[str, ElicitationAsk] = {}
        # whether the running turn was cancelled (session/cancel sent): set by the conversation
        self.cancelled: Callable[[], bool] = lambda: False

    async def ask(self, params: dict[str, Any]) -> dict[str, Any]:
        """On the I/O loop (the agent's elicitation handler): the answer to send the agent."""
        key = f"elicitation-{uuid.uuid4().hex[:12]}"
        request = ElicitationRequest.from_params(params, key)
        if self.cancelled():
            return self._answer_now(request, CANCEL, "cancel", CANCELLED)
        if self.decline:
            return self._answer_now(request, DECLINE, "policy", DECLINED)
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        self.asks[key] = ElicitationAsk(key, request, future)
        self.asking.add(key)

        def forget(done: concurrent.futures.Future[dict[str, Any]]) -> None:
            self.asking.discard(key)
            if done.cancelled():  # the agent withdrew it ($/cancel_request)
                withdrawn = "the agent withdrew the request"
                self.mailbox.put(ElicitationAnswer(key, CANCEL, "cancel", withdrawn))

        future.add_done_callback(forget)
        self.mailbox.put(self.asks[key])
        return await Bridged(future, asyncio.get_running_loop())

    def _answer_now(
        self, request: ElicitationRequest, response: dict[str, Any], by: str, reason: str
    ) -> dict[str, Any]:
        decided: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        decided.set_result(response)
        key = request.request_id
        self.asks[key] = ElicitationAsk(key, request, decided)
        self.mailbox.put(self.asks[key])
        self.mailbox.put(ElicitationAnswer(key, response, by, reason))
        return response

    def answer(self, request_id: str, action: str, content: Any = None) -> None:
        """Answer a pending request from any thread; the driver records it."""
        ask = self.asks.get(str(request_id))
        if ask is None or ask.future.done():
            raise UsageError(
                f"no pending elicitation {request_id!r}",
                hint="see state.pending_elicitations; it may have been answered or cancelled",
            )
        response = ask.request.respond(action, content)  # the request stays pending if bad
        if not self.settle(ask, response, "user"):
            raise UsageError(f"elicitation {request_id!r} was already answered")

    def settle(self, ask: ElicitationAsk, response: dict[str, Any], by: str, why: str = "") -> bool:
        """Claim ``ask`` (no cancel can win now), record the answer, then tell the agent."""
        if not ask.claim():
            return False
        self.mailbox.put(ElicitationAnswer(ask.key, response, by, why))
        ask.future.set_result(response)
        return True

    def cancel_all(self) -> None:
        """From any thread: the turn is being cancelled; nothing pending is left waiting."""
        for ask in list(self.asks.values()):
            if not ask.future.done():
                self.settle(ask, CANCEL, "cancel", CANCELLED)


class ElicitationClerk:
    """The driver side: records requests and answers; asks a callback on the caller's thread."""

    def __init__(
        self, delivery: Delivery, policy: ElicitationPolicy, asks: dict[str, ElicitationAsk]
    ) -> None:
        self.delivery = delivery
        self.policy = policy
        self.asks = asks
        self.is_async = is_async(policy)  # an async def callback (decided once)
        # the desk's settle (claim, record, tell the agent): how an async callback answers
        self.settle: Callable[[ElicitationAsk, dict[str, Any], str, str], bool] | None = None

    def deliver(self, item: ElicitationAsk | ElicitationAnswer) -> None:
        """Record a request (and answer it by callback), or an answer made elsewhere."""
        if isinstance(item, ElicitationAnswer):
            self.answered(item.key, item.response, item.by, item.reason)
        else:
            self._asked(item)

    def _asked(self, ask: ElicitationAsk) -> None:
        request, delivery = ask.request, self.delivery
        extra = {k: v for k, v in request.raw.items() if k not in _PARAMS}
        delivery.tr.new(  # trusted: ElicitationRequest.from_params checked the types
            ElicitationRequestedEvent,
            trusted=True,
            request_id=ask.key,
            mode=request.mode,
            message=request.message,
            requested_schema=request.requested_schema,
            url=request.url,
            elicitation_id=request.elicitation_id,
            tool_call_id=request.tool_call_id,
            session_id=request.session_id,
            scope_request_id=request.scope_request_id,
            extra=extra or None,
        )
        if ask.future.done():
            return  # answered on the I/O loop (a policy, a cancel): its answer follows
        delivery.publish()  # the request is stored and seen before anyone answers
        if self.policy == "ask":
            log.warning(
                "conversation %s: the agent asks for input (%s elicitation %s) and waits; "
                "answer with conversation.answer_elicitation(%r, 'accept', {...}), "
                "'decline' or 'cancel'",
                delivery.state.id,
                request.mode,
                ask.key,
                ask.key,
            )
            return
        loop = self.delivery.loop
        if loop is not None and self.settle is not None and self.is_async:
            self._ask_later(ask, loop)
            return
        if not ask.claim():
            return  # cancelled meanwhile: an ElicitationAnswer follows
        response, reason = self._ask_callback(request)
        ask.future.set_result(response)
        self.answered(ask.key, response, "callback", reason)

    def _ask_callback(self, request: ElicitationRequest) -> tuple[dict[str, Any], str]:
        policy = self.policy
        assert callable(policy)

        def reply() -> object:
            answer = policy(request)
            return run_to_completion(answer) if inspect.isawaitable(answer) else answer

        return _response(request, reply)

    def _ask_later(self, ask: ElicitationAsk, loop: asyncio.AbstractEventLoop) -> None:
        """Run the async callback on the caller's loop; its answer is settled like a
        person's, unless the request was settled first (then it is cancelled)."""
        assert callable(self.policy)
        assert self.settle is not None
        settle = self.settle

        def finish(task: asyncio.Task[ElicitationReply]) -> None:
            response, reason = _response(ask.request, task.result)
            settle(ask, response, "callback", reason)  # False: a cancel won

        start_on(loop, self.policy(ask.request), ask.future, finish)  # type: ignore[arg-type]

    def answered(self, key: str, response: dict[str, Any], by: str, reason: str = "") -> None:
        """Record how ``key`` was answered (once: a late duplicate is ignored)."""
        if key not in self.delivery.state.pending_elicitations:
            return
        self.asks.pop(key, None)
        self.delivery.tr.new(
            ElicitationAnsweredEvent,
            trusted=True,
            request_id=key,
            action=response["action"],
            content=response.get("content"),
            answered_by=by,
            source=_SOURCES[by],
            reason=reason,
        )

    def cancel_leftovers(self) -> None:
        """The turn ended without finishing (cancelled, failed): cancel what still waits."""
        for key in list(self.delivery.state.pending_elicitations):
            ask = self.asks.get(key)
            if ask is not None:
                if not ask.claim():
                    continue  # an answer won the race: it follows in the mailbox
                ask.future.set_result(CANCEL)
            self.answered(key, CANCEL, "cancel", CANCELLED)


def completion_fields(state: ConversationState, params: Any) -> dict[str, Any]:
    """The fields of an ``elicitation_completed`` event for ``elicitation/complete`` params:
    which request it completes, or ``known=False`` (an unknown or completed id: ignored)."""
    params = params if isinstance(params, dict) else {}
    elicitation_id = str(params.get("elicitationId", ""))
    request_id = state.open_url_elicitations.get(elicitation_id)
    extra = {k: v for k, v in params.items() if k != "elicitationId"}
    return {
        "elicitation_id": elicitation_id,
        "request_id": request_id,
        "known": request_id is not None,
        "extra": extra or None,
    }


def _response(
    request: ElicitationRequest, reply_of: Callable[[], object]
) -> tuple[dict[str, Any], str]:
    """The response the callback's reply makes, and why it was declined instead, if it was
    (the callback raised, or its answer does not fit)."""
    try:
        reply = reply_of()
    except Exception:
        log.exception("the elicitation callback raised; the request is declined")
        return DECLINE, "the elicitation callback raised"
    if isinstance(reply, str):
        action, content = reply, None
    elif isinstance(reply, Mapping):
        action, content = str(reply.get("action")), reply.get("content")
    else:
        action, content = repr(reply), None
    try:
        return request.respond(action, content), ""
    except InvalidElicitationAnswer as exc:
        log.error("the elicitation callback's answer was declined: %s", exc.message)
        return DECLINE, f"the callback's answer was declined: {exc.message}"
