"""A browser's credential: an HttpOnly session cookie with a CSRF token, minted from the API key.

Browsers cannot put a key in a WebSocket's headers, and a key kept in page storage is one
script injection away from being stolen. So the console trades the key once
(``POST /api/session``, key in the body) for a cookie that scripts cannot read
(``HttpOnly``), that no other site's request carries (``SameSite=Strict``), scoped to ``/api``,
plus a CSRF token returned in the body. A request authenticated by the cookie must repeat the
token in ``X-CSRF-Token`` when it changes anything, because ``SameSite`` does not separate two
ports of one host. WebSockets, which cannot carry that header, must come from the server's own
origin instead.

The cookie is stateless: ``v1.<expiry>.<nonce>.<mac>``, a MAC under a secret derived from the
API key. It survives a server restart, and changing the key signs every browser out. Signing out
forgets the cookie's nonce until it would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

__all__ = ["COOKIE", "CSRF_HEADER", "SESSION_TTL", "SessionTokens"]

COOKIE = "acphost_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = 12 * 3600.0
"""Seconds a browser stays signed in: a working day, then the key is asked for again."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SessionTokens:
    """Mints and checks session cookies and their CSRF tokens for one API key."""

    def __init__(self, api_key: str, ttl: float = SESSION_TTL) -> None:
        self._secret = hmac.new(api_key.encode(), b"acphost console session v1", "sha256").digest()
        self.ttl = ttl
        self._revoked: dict[str, float] = {}  # nonce -> expiry

    def __repr__(self) -> str:
        return "<SessionTokens>"  # never the secret

    def _mac(self, message: str) -> str:
        return _b64(hmac.new(self._secret, message.encode(), hashlib.sha256).digest())

    def mint(self) -> str:
        """A new session cookie value."""
        expires = int(time.time() + self.ttl)
        body = f"v1.{expires}.{_b64(secrets.token_bytes(16))}"
        return f"{body}.{self._mac(body)}"

    def expiry(self, token: str | None) -> float | None:
        """When a valid, unexpired, not signed-out ``token`` expires; ``None`` otherwise."""
        if not token or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(body), parts[3]):
            return None
        expires = float(parts[1])
        if expires <= time.time() or parts[2] in self._revoked:
            return None
        return expires

    def csrf(self, token: str) -> str:
        """The CSRF token bound to a session cookie (derived, so a reload can fetch it again)."""
        return self._mac(f"csrf.{token}")

    def csrf_ok(self, token: str, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf(token), presented)

    def revoke(self, token: str) -> None:
        """Sign a cookie out (it is also cleared in the browser)."""
        expires = self.expiry(token)
        if expires is None:
            return
        now = time.time()
        self._revoked = {n: e for n, e in self._revoked.items() if e > now}
        self._revoked[token.split(".")[2]] = expires
