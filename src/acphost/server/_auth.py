"""API keys: required by default, compared in constant time, never logged or echoed.

A server without a key is allowed only when asked for explicitly and only on loopback, where
every client is a local user anyway; even then requests from a non-loopback peer are refused,
so an app built with ``allow_no_auth=True`` but served on a public interface stays closed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from fastapi.security import APIKeyHeader, HTTPBearer

from acphost.errors import UsageError
from acphost.server._errors import ApiError

__all__ = ["KeyCheck", "check_auth_config", "is_loopback"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The server's API key"
)
bearer = HTTPBearer(auto_error=False, description="The server's API key as a bearer token")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a peer address) can only be reached locally."""
    host = host.strip().strip("[]")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_config(api_key: str | None, allow_no_auth: bool, host: str | None = None) -> None:
    """Refuse configurations that would expose agents (which run commands) without a key."""
    if api_key is not None:
        if not api_key.strip():
            raise UsageError("the API key is empty", hint="pass a non-empty api_key")
        return
    if not allow_no_auth:
        raise UsageError(
            "the server needs an API key",
            hint="pass api_key=... (or, on a loopback host only, api_key=None with "
            "allow_no_auth=True)",
        )
    if host is not None and not is_loopback(host):
        raise UsageError(
            f"refusing to serve without an API key on {host!r}, which is not a loopback address",
            hint="set an API key, or bind to 127.0.0.1",
        )


class KeyCheck:
    """Compares a presented key with the server's; one instance per app."""

    def __init__(self, api_key: str | None) -> None:
        self._key = api_key.encode() if api_key is not None else None

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"<KeyCheck {'key set' if self._key else 'no key'}>"

    def accepts(self, presented: list[str], peer: str | None) -> bool:
        """Every key presented must be right (a wrong bearer next to a right header fails)."""
        if self._key is None:
            return peer is None or is_loopback(peer)
        if not presented:
            return False
        key = self._key
        return all(hmac.compare_digest(p.encode(), key) for p in presented)

    def presented(self, headers: Mapping[str, str]) -> list[str]:
        """The keys in ``X-API-Key`` and ``Authorization`` (for WebSockets too).

        An ``Authorization`` header that is not ``Bearer <key>`` counts as a wrong key: a
        request carrying any wrong credential is refused, whatever else it carries.
        """
        keys = []
        key = headers.get("x-api-key")
        if key is not None:
            keys.append(key)
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            keys.append(token.strip() if scheme.lower() == "bearer" else "")
        return keys

    def fail(self) -> ApiError:
        if self._key is None:
            return ApiError(
                403,
                "forbidden",
                "this server accepts local clients only",
                hint="connect from the server's own host",
            )
        return ApiError(
            401,
            "unauthorized",
            "a valid API key is required",
            hint="send it as the X-API-Key header or as Authorization: Bearer <key>",
        )
