"""Who may call the API: an API key header, or a browser's session cookie; and from where.

- A request carrying ``X-API-Key`` / ``Authorization`` is judged by the key alone (scripts,
  the CLI, generated clients): every key presented must be right.
- Otherwise a valid session cookie (see :mod:`acphost.server._session`) authenticates it; a
  cookie-authenticated request that changes anything must also carry ``X-CSRF-Token``.
- A request that changes anything, and every WebSocket, is refused when its ``Origin`` is
  another site (another host or port) than the server's own or a configured CORS origin:
  a page elsewhere can neither drive the agents nor read their events (cross-site WebSocket
  hijacking), even on a loopback server without a key.
- A server without a key answers only loopback peers that name it by a loopback host, so a
  DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) is refused too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.websockets import WebSocket

from acphost.server._auth import KeyCheck, api_key_header, bearer, is_loopback
from acphost.server._errors import ApiError, errors
from acphost.server._session import COOKIE, CSRF_HEADER, SessionTokens

__all__ = ["Guard", "SessionInfo", "SignIn", "session_router"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

session_cookie = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    description="A browser session from POST /api/session; changes need the X-CSRF-Token header",
)


class SignIn(BaseModel):
    """The API key, traded once for a session cookie (it never goes in a URL)."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, max_length=4096)


class SessionInfo(BaseModel):
    """What a browser needs to know about its session."""

    auth_required: bool = Field(description="Whether the server asks for its API key")
    signed_in: bool = Field(description="Whether this request's credentials are accepted")
    csrf_token: str | None = Field(
        description="Send it as X-CSRF-Token on every POST/DELETE authenticated by the cookie"
    )
    expires_at: float | None = Field(description="When the session cookie expires (epoch s)")
    default_workspace: str | None = Field(
        description="The server's working directory (only when signed in)"
    )


def _refused(code: str, message: str, hint: str) -> ApiError:
    return ApiError(403, code, message, hint=hint)


def _origin_refused() -> ApiError:
    return _refused(
        "origin_refused",
        "requests from another site's pages are refused",
        hint="use the console served by this server, or start the server with --cors-origin",
    )


class Guard:
    """The one check of every API request and WebSocket handshake (see the module doc)."""

    def __init__(
        self, keys: KeyCheck, sessions: SessionTokens | None, origins: Sequence[str] = ()
    ) -> None:
        self.keys = keys
        self.sessions = sessions
        self._origins = frozenset(origins)

    def origin_ok(self, headers: Headers) -> bool:
        """No ``Origin`` (not a browser, or a same-origin GET), ours, or an allowed one."""
        origin = headers.get("origin")
        if origin is None or origin in self._origins:
            return True
        netloc = urlsplit(origin).netloc.lower()
        return bool(netloc) and netloc == headers.get("host", "").lower()

    def check(
        self, headers: Headers, cookies: Mapping[str, str], peer: str | None, *, unsafe: bool
    ) -> str | None:
        """Raise the refusal, if any; the session cookie that authenticated, if it was one."""
        if unsafe and not self.origin_ok(headers):
            raise _origin_refused()
        presented = self.keys.presented(headers)
        if presented or self.sessions is None:
            if not self.keys.accepts(presented, peer):
                raise self.keys.fail()
            if self.sessions is None and not is_loopback(_hostname(headers)):
                raise _refused(
                    "forbidden",
                    "a server without an API key answers only to a loopback host name",
                    hint="open it as http://127.0.0.1:<port>/ or http://localhost:<port>/",
                )
            return None
        token = cookies.get(COOKIE)
        if self.sessions.expiry(token) is None:
            raise self.keys.fail()
        assert token is not None
        return token

    async def __call__(
        self,
        request: Request,
        x_api_key: Annotated[str | None, Security(api_key_header)],
        authorization: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        cookie: Annotated[str | None, Security(session_cookie)],
    ) -> None:
        """The FastAPI dependency of every route but health and session.

        The parameters only document the schemes in OpenAPI; the raw headers are checked.
        """
        peer = request.client.host if request.client else None
        unsafe = request.method not in _SAFE
        token = self.check(request.headers, request.cookies, peer, unsafe=unsafe)
        if token is not None and unsafe:
            self.require_csrf(token, request.headers)

    def require_csrf(self, token: str, headers: Headers) -> None:
        assert self.sessions is not None
        if not self.sessions.csrf_ok(token, headers.get(CSRF_HEADER)):
            raise _refused(
                "csrf_failed",
                f"a change made with the session cookie needs the {CSRF_HEADER} header",
                hint="send the csrf_token of GET /api/session in the X-CSRF-Token header",
            )

    def websocket(self, websocket: WebSocket) -> None:
        """The handshake's check: like a change (the Origin must be ours), minus CSRF."""
        peer = websocket.client.host if websocket.client else None
        self.check(websocket.headers, websocket.cookies, peer, unsafe=True)


def _hostname(headers: Headers) -> str:
    try:
        return urlsplit("//" + headers.get("host", "")).hostname or ""
    except ValueError:
        return ""


def _session_info(guard: Guard, request: Request, token: str | None) -> SessionInfo:
    """What the console is told of its session (``token``: its cookie's, if any)."""
    sessions = guard.sessions
    csrf = expires = None
    if sessions is None:  # a loopback server without a key: is this a local client?
        peer = request.client.host if request.client else None
        try:
            guard.check(request.headers, {}, peer, unsafe=False)
            signed_in = True
        except ApiError:
            signed_in = False
    else:
        expires = sessions.expiry(token)
        signed_in = token is not None and expires is not None
        csrf = sessions.csrf(token) if token is not None and signed_in else None
    return SessionInfo(
        auth_required=sessions is not None,
        signed_in=signed_in,
        csrf_token=csrf,
        expires_at=expires,
        default_workspace=os.getcwd() if signed_in else None,
    )


def session_router(guard: Guard) -> APIRouter:
    """``/api/session``: sign in (key → cookie), see the session, sign out."""
    router = APIRouter(tags=["session"])
    sessions = guard.sessions

    @router.get("/session", response_model=SessionInfo)
    async def get_session(request: Request) -> SessionInfo:
        """Whether this browser is signed in, and its CSRF token (no key needed)."""
        return _session_info(guard, request, request.cookies.get(COOKIE))

    @router.post("/session", response_model=SessionInfo, responses=errors(400, 401, 403, 413, 422))
    async def sign_in(request: Request, response: Response, body: SignIn) -> SessionInfo:
        """Trade the API key (in the body) for an HttpOnly, SameSite=Strict session cookie."""
        peer = request.client.host if request.client else None
        if sessions is None:  # no key to check: the usual rules for a keyless server
            guard.check(request.headers, {}, peer, unsafe=True)
            return _session_info(guard, request, None)
        if not guard.origin_ok(request.headers):
            raise _origin_refused()
        if not guard.keys.accepts([body.api_key], peer):
            raise guard.keys.fail()
        token = sessions.mint()
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(sessions.ttl),
            path="/api",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return _session_info(guard, request, token)

    @router.delete("/session", status_code=204, responses=errors(403))
    async def sign_out(request: Request) -> Response:
        """Forget this browser's session cookie (with its X-CSRF-Token)."""
        if not guard.origin_ok(request.headers):
            raise _origin_refused()
        token = request.cookies.get(COOKIE)
        if sessions is not None and token is not None and sessions.expiry(token) is not None:
            guard.require_csrf(token, request.headers)
            sessions.revoke(token)
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, path="/api", httponly=True, samesite="strict")
        return response

    return router
