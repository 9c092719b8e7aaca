"""The FastAPI app and the uvicorn runner behind ``acphost serve``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

import acphost
from acphost.server._auth import KeyCheck, check_auth_config
from acphost.server._changes import Feed, change_feed
from acphost.server._console import ConsoleSource, install_console
from acphost.server._control_routes import control
from acphost.server._docs_assets import install_docs
from acphost.server._errors import ERROR_RESPONSES, install_error_handlers
from acphost.server._follow import Follower
from acphost.server._guard import Guard, session_router
from acphost.server._jobs_routes import jobs_router
from acphost.server._limits import DEFAULT_MAX_BODY, DEFAULT_MAX_LIVE, BodyLimit
from acphost.server._listing import Rows
from acphost.server._manager import Manager, StoreSpec
from acphost.server._routes import conversations, events, public_router
from acphost.server._session import SessionTokens
from acphost.server._transport import WebSocketProtocol
from acphost.server._ws import event_stream

__all__ = ["DESCRIPTION", "WS_PROTOCOL", "create_app", "serve"]

log = logging.getLogger("acphost.server")

DESCRIPTION = """\
Host coding agents that speak the Agent Client Protocol and drive them as conversations.

Every route except `GET /api/health` and `/api/session` needs the server's API key, as
`X-API-Key: <key>` or `Authorization: Bearer <key>` (or a browser's session cookie, below).
Errors are `{code, message, hint, retryable}`.

**Browsers** (the web console at `/`) trade the key once for a session: `POST /api/session`
with `{"api_key": ...}` sets an HttpOnly, SameSite=Strict cookie and returns a `csrf_token`;
a change (POST, DELETE) authenticated by the cookie must send it as `X-CSRF-Token`. Changes and
WebSockets coming from another site's page (`Origin`) are refused with 403 `origin_refused`.

**Live events**: `WS /api/conversations/{id}/events?after_seq=N` (same key headers) sends the
stored events after `N` and then follows live, in seq order with no gap or duplicate, each as
`{"type": "event", "event": {...}}`; streamed text arrives as
`{"type": "token", "text": "...", "thought": false}` (not stored; the whole message follows as an
`agent_message` event). A client that falls behind is served from the store (token deltas
missed meanwhile are lost); one that stops reading is closed with code 4008: reconnect with
`after_seq` set to the last seq it received. Code 4404 means the conversation was deleted.
With `&batch=true`, consecutive events may come as one `{"type": "events", "events": [...]}`
message (seq order, no gap); token deltas stay messages of their own.

**Live list**: `WS /api/conversations/changes` (same key headers) sends
`{"type": "conversation", "conversation": {...}}` (a row as `GET /api/conversations` returns it)
when a conversation is created or its row changes, and `{"type": "deleted", "id": "..."}`; at
most one message per conversation per 0.2 s, nothing historical. Connect first, then GET the
list, then apply the changes. A client that stops reading is closed with 4008 (reconnect, GET
again). WebSocket routes are not part of this OpenAPI document.

**Limits**: a request body over the server's limit (1 MiB unless configured) gets 413
`body_too_large`. The server keeps a bounded number of agents attached: an idle conversation's
agent may be stopped to make room (the conversation resumes on its next use); when every live
conversation is busy (running a turn, or waiting on its agent), another gets 429
`too_many_live_conversations`.
"""


WS_PROTOCOL = WebSocketProtocol
"""uvicorn's WebSocket implementation that :func:`serve` runs (tests run the same)."""


def _operation_id(route: APIRoute) -> str:
    return route.name  # stable, readable ids for generated clients (and the API checker)


def create_app(
    *,
    api_key: str | None = None,
    store: StoreSpec = None,
    allow_no_auth: bool = False,
    cors_origins: Sequence[str] = (),
    ws_queue_size: int = 8192,
    ws_max_lag: float = 5.0,
    conversation_options: Mapping[str, Any] | None = None,
    stop_timeout: float = 15.0,
    max_live: int | None = DEFAULT_MAX_LIVE,
    max_body: int = DEFAULT_MAX_BODY,
    console: ConsoleSource = None,
) -> FastAPI:
    """The agent server as an ASGI app.

    ``store`` is an :class:`~acphost.store.EventStore` or the path of a SQLite file (default:
    acphost's usual store), opened when the app starts. ``api_key=None`` is refused unless
    ``allow_no_auth=True``, and then only loopback clients are served. ``ws_queue_size`` is how
    many live messages a conversation keeps for its WebSocket clients: one that falls further
    behind is served from the store instead (token deltas dropped meanwhile are lost); while a
    turn runs, sending to clients takes at most a tenth of the server's loop, so watchers fall
    behind and catch up instead of slowing the turn. A client whose socket accepts nothing for
    ``ws_max_lag`` seconds (it stopped reading) is closed with 4008. ``conversation_options``
    go to every :class:`~acphost.Conversation` (``idle_timeout``, ``turn_timeout``,
    ``cancel_grace``...). ``max_live`` bounds the agents attached at once (``None``: no
    bound): the least recently used idle one is detached to make room. ``max_body`` bounds
    request bodies, in bytes. ``console`` is a directory with a built web console to serve
    at ``/`` instead of the one inside the package.
    """
    check_auth_config(api_key, allow_no_auth)
    if ws_queue_size < 1 or ws_max_lag < 0:
        raise ValueError("ws_queue_size must be at least 1 and ws_max_lag not negative")
    if (max_live is not None and max_live < 1) or max_body < 1:
        raise ValueError("max_live and max_body must be at least 1")
    manager = Manager(
        store,
        conversation_options or {},
        stop_timeout=stop_timeout,
        max_live=max_live,
        hub_size=ws_queue_size,
    )
    guard = Guard(KeyCheck(api_key), SessionTokens(api_key) if api_key else None, cors_origins)
    rows = Rows(manager)  # list rows, with their cost cache: for GET and for the feed
    feed = manager.changes = Feed(manager, rows)
    follower = Follower(manager)  # other processes' writes, while a client follows them

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        try:
            yield
        finally:
            await follower.close()
            await manager.shutdown()
            feed.close_all(1001, "server shutting down")

    app = FastAPI(
        title="acphost",
        version=acphost.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)  # /docs and /redoc with local assets: they work offline
    app.state.manager = manager  # the routes' dependency (see _deps.py)
    app.state.rows = rows
    app.state.follower = follower
    install_error_handlers(app)
    _install_routes(app, manager, guard, feed, follower, ws_max_lag)
    install_console(app, console)
    app.add_middleware(BodyLimit, max_bytes=max_body)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-CSRF-Token"],
        )
    return app


def _install_routes(
    app: FastAPI, manager: Manager, guard: Guard, feed: Feed, follower: Follower, max_lag: float
) -> None:
    """The API under ``/api``: open routes, the session's, the guarded REST routes and the two
    WebSocket routes (which check the credential themselves, at the handshake)."""
    app.include_router(public_router(manager), prefix="/api")
    app.include_router(session_router(guard), prefix="/api")
    for router in (conversations, control, events, jobs_router(manager)):
        app.include_router(
            router, prefix="/api", dependencies=[Depends(guard)], responses=ERROR_RESPONSES
        )
    app.add_api_websocket_route(
        "/api/conversations/{conversation_id}/events",
        event_stream(manager, follower, guard, max_lag),
        name="stream_events",
    )
    app.add_api_websocket_route(
        "/api/conversations/changes",
        change_feed(feed, follower, guard, max_lag),
        name="conversation_changes",
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    api_key: str | None = None,
    store: StoreSpec = None,
    allow_no_auth: bool = False,
    cors_origins: Sequence[str] = (),
    *,
    log_level: str = "info",
    **app_options: Any,
) -> None:
    """Run the server with uvicorn until interrupted; see :func:`create_app` for the options.

    Refuses to start without an API key unless ``allow_no_auth=True`` *and* ``host`` is a
    loopback address.
    """
    import uvicorn

    check_auth_config(api_key, allow_no_auth, host)
    app = create_app(
        api_key=api_key,
        store=store,
        allow_no_auth=allow_no_auth,
        cors_origins=cors_origins,
        **app_options,
    )
    where = os.fspath(store) if isinstance(store, str | os.PathLike) else "default store"
    log.info(
        "acphost server on %s:%d (%s, %s)",
        host,
        port,
        "API key required" if api_key else "no API key, loopback only",
        where,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws=WS_PROTOCOL)
