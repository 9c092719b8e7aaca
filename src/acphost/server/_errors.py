"""Every failure becomes ``{code, message, hint, retryable}`` with a status that says whose fault.

Clients branch on ``code`` (stable, shared with :mod:`acphost.errors`), people read ``message``
and ``hint``. Nothing a client sends may produce a 500: bodies are validated up front (422), and
what only the server can judge (a missing workspace, an unknown agent) is a 400.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from acphost.errors import (
    AcphostError,
    AgentError,
    AgentExited,
    AgentRequestError,
    AgentStartError,
    AuthRequired,
    CapabilityMissing,
    ConnectionClosed,
    InvalidElicitationAnswer,
    RequestTimeout,
    ResourceNotFound,
    TerminalNotFound,
    UsageError,
    WorkspaceError,
)
from acphost.server._limits import TOO_LARGE_HINT
from acphost.server._models import ErrorBody
from acphost.store import ConversationExists, ConversationNotFound, StoreBusy

__all__ = ["ERROR_RESPONSES", "ApiError", "errors", "install_error_handlers", "status_for"]

log = logging.getLogger("acphost.server")

_INVALID_PARAMS = -32602

# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[AcphostError], int], ...] = (
    (ConversationNotFound, 404),
    (ResourceNotFound, 404),
    (TerminalNotFound, 404),
    (ConversationExists, 409),
    (InvalidElicitationAnswer, 422),  # a body that does not fit the agent's form
    (UsageError, 409),  # includes ConversationClosed: "not now / not in this state"
    (WorkspaceError, 400),
    (CapabilityMissing, 409),
    (AuthRequired, 401),  # the *agent* needs a login; code ``auth_required`` tells it apart
    (RequestTimeout, 504),
    (AgentStartError, 503),
    (AgentExited, 503),
    (ConnectionClosed, 503),
    (StoreBusy, 503),
    (AgentError, 502),
)


class ApiError(Exception):
    """An error only the HTTP layer knows about (bad workspace, unknown id, missing key)."""

    def __init__(
        self, status: int, code: str, message: str, *, hint: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.retryable = retryable

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
        }


def status_for(exc: AcphostError) -> int:
    if isinstance(exc, AgentRequestError):
        return 400 if exc.rpc_code == _INVALID_PARAMS else 502
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _acphost_body(exc: AcphostError) -> dict[str, Any]:
    data = exc.to_dict()
    body = {key: data.pop(key) for key in ("code", "message", "hint", "retryable")}
    if data:
        body["details"] = jsonable_encoder(data)
    return body


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (a path may have several routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the error body; unexpected ones are logged, never echoed."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    async def acphost_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AcphostError)
        status = status_for(exc)
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(_acphost_body(exc), status_code=status)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        body = {
            "code": "invalid_request",
            "message": _validation_message(errors),
            "hint": "see the request schema in /openapi.json",
            "retryable": False,
            "details": jsonable_encoder(errors),
        }
        return JSONResponse(body, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        hint = TOO_LARGE_HINT if exc.status_code == 413 else ""
        body = {"code": code, "message": str(exc.detail), "hint": hint, "retryable": False}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s raised", request.method, request.url.path)
        body = {
            "code": "internal_error",
            "message": f"the server failed: {type(exc).__name__}",
            "hint": "see the server log",
            "retryable": False,
        }
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(AcphostError, acphost_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be carried out as given (e.g. no such workspace, a body that is"
    " not UTF-8)",
    401: "A missing or wrong API key (code `unauthorized`), or the agent needs a login"
    " (code `auth_required`)",
    403: "A server without an API key serves local clients only; a change made with the"
    " session cookie lacks its X-CSRF-Token (`csrf_failed`); the request comes from another"
    " site's page (`origin_refused`)",
    404: "No such conversation, event, permission request or elicitation",
    409: "Not possible in the conversation's current state",
    413: "The request body is over the server's limit (code `body_too_large`)",
    429: "Every live conversation is running a turn (code `too_many_live_conversations`);"
    " retry later",
    422: "The request does not match its schema (or an answer does not fit the agent's form:"
    " code `invalid_elicitation_answer`, `details.problems` names the fields)",
    502: "The agent failed or rejected the request",
    503: "The agent could not be started or went away, or the store is busy (another"
    " process holds its write lock); retry",
    504: "The agent did not answer in time",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting these error statuses with the error body."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


ERROR_RESPONSES = errors(400, 401, 403, 413, 422, 503)
"""Documented on every authenticated operation (replacing FastAPI's default 422 body); 503:
every one reads the store, which may be busy (code ``store_busy``)."""
