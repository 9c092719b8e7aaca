"""The web console: its built files served from the package, at ``/``, same origin as the API.

The bundle (``index.html`` and ``assets/``) ships inside the wheel under
``acphost/server/console/`` and is read with :mod:`importlib.resources`, so a server needs no
Node and no network. ``index.html`` is revalidated on every load (``no-cache`` with an ETag);
an asset requested with the bundle's ``?v=<hash>`` is immutable for a year. Every other GET
that names no file (``/c/<id>``, ``/new``) is a client route: it gets ``index.html`` too.

Every console response forbids external sources (CSP), framing and MIME sniffing.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from acphost.server._errors import ApiError

__all__ = ["CSP", "ConsoleSource", "install_console"]

ConsoleSource = str | os.PathLike[str] | None
"""A directory holding a built console, or ``None`` for the one inside the package."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # no "..", no hidden files
_NOT_CLIENT_ROUTES = ("api", "assets", "docs", "redoc", "openapi.json")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json"}


def _root(source: ConsoleSource) -> Traversable:
    if source is None:
        return resources.files("acphost.server") / "console"
    return Path(source)


def _not_built() -> ApiError:
    return ApiError(
        404,
        "console_not_built",
        "this acphost has no web console bundle",
        hint="build it: cd web && npm ci && npm run build (or install acphost from a wheel)",
    )


def _media_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    guessed = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def _file(request: Request, file: Traversable, name: str, cache: str) -> Response:
    """The file with an ETag; a matching ``If-None-Match`` gets an empty 304."""
    body = file.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**_HEADERS, "Cache-Control": cache, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_media_type(name), headers=headers)


class _Page(Route):
    """A GET route that does not even match other methods or paths that are not pages.

    So ``POST /api/nope`` stays a 404 and ``DELETE /api/health`` a 405 naming the API's own
    methods, exactly as without the console.
    """

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        super().__init__(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        path: str = scope["path"]
        first, _, rest = path.lstrip("/").partition("/")
        if first in _NOT_CLIENT_ROUTES and not (first == "assets" and rest):
            return Match.NONE, {}
        if first != "assets" and "." in path.rstrip("/").rsplit("/", 1)[-1]:  # a file
            return Match.NONE, {}
        return super().matches(scope)


def install_console(app: FastAPI, source: ConsoleSource = None) -> None:
    """Serve ``/``, ``/assets/...`` and the client routes; call it after adding every API route."""
    root = _root(source)

    async def asset(request: Request) -> Response:
        path: str = request.path_params["path"]
        file = root / "assets"
        for part in path.split("/"):
            if not _SEGMENT.match(part):
                break
            file = file / part
        else:
            if file.is_file():
                cache = _IMMUTABLE if "v" in request.query_params else _REVALIDATE
                return _file(request, file, path, cache)
        raise ApiError(404, "not_found", f"no console asset {path[:200]!r}")

    async def page(request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            raise _not_built()
        return _file(request, index, "index.html", _REVALIDATE)

    app.router.routes.append(_Page("/assets/{path:path}", asset))
    app.router.routes.append(_Page("/{path:path}", page))
