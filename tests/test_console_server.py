"""The server side of the web console: its files, and the browser credential (cookie + CSRF).

A real uvicorn and real HTTP/WebSocket clients; the console is a placeholder directory, so these
tests do not depend on the built bundle (tests/test_console_browser*.py drive the real one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from acphost.server._session import SessionTokens
from test_server_cli import free_port, run_server
from test_server_support import (
    KEY,
    open_ws,
    receive_until,
    server_and_client,
    status_is,
    wait_until,
)

PAGE = b"<!doctype html><title>console</title><script src='/assets/app.js?v=1'></script>"


@pytest.fixture
def console(tmp_path: Path) -> Path:
    root = tmp_path / "console"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(PAGE)
    (root / "assets" / "app.js").write_text("console.log('hi')\n")
    (root / "assets" / "app.css").write_text("body{}\n")
    return root


def test_the_console_and_its_client_routes_are_served_with_a_strict_csp(
    store_path: Path, console: Path
) -> None:
    with server_and_client(store_path, console=console) as (server, _client):
        for path in ("/", "/c/0123abcd", "/new", "/c/x/y"):
            page = httpx.get(server.url + path)
            assert page.status_code == 200, path
            assert page.content == PAGE
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"
            csp = page.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "script-src 'self';" in csp
            assert "frame-ancestors 'none'" in csp
            assert "http" not in csp  # no external source of any kind
            assert page.headers["x-content-type-options"] == "nosniff"
        again = httpx.get(server.url + "/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""

        versioned = httpx.get(server.url + "/assets/app.js?v=1")
        assert versioned.status_code == 200
        assert versioned.text == "console.log('hi')\n"
        assert versioned.headers["content-type"].startswith("text/javascript")
        assert "immutable" in versioned.headers["cache-control"]
        assert httpx.get(server.url + "/assets/app.css").headers["cache-control"] == "no-cache"
        assert httpx.head(server.url + "/assets/app.css").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/assets/missing.js", 404, "not_found"),
        ("GET", "/assets/../index.html", 404, "not_found"),
        ("GET", "/assets/%2e%2e/index.html", 404, "not_found"),
        ("GET", "/assets/.hidden", 404, "not_found"),
        ("GET", "/favicon.ico", 404, "not_found"),  # a file, not a client route
        ("GET", "/api/nothing-here", 404, "not_found"),  # the API never falls back to the page
        ("POST", "/api/nothing-here", 404, "not_found"),
        ("POST", "/c/abc", 404, "not_found"),
        ("DELETE", "/api/health", 405, "method_not_allowed"),
    ],
)
def test_what_is_not_a_page_stays_an_error(
    store_path: Path, console: Path, method: str, path: str, status: int, code: str
) -> None:
    with server_and_client(store_path, console=console) as (_server, client):
        response = client.request(method, path)
        assert response.status_code == status, response.text
        assert response.json()["code"] == code


def test_a_server_without_the_bundle_says_how_to_build_it(store_path: Path, tmp_path: Path) -> None:
    with server_and_client(store_path, console=tmp_path / "none") as (server, _client):
        page = httpx.get(server.url + "/")
        assert page.status_code == 404
        assert page.json()["code"] == "console_not_built"
        assert "npm" in page.json()["hint"]


def test_the_console_is_not_part_of_the_api_document(store_path: Path, console: Path) -> None:
    with server_and_client(store_path, console=console) as (server, _client):
        paths = httpx.get(server.url + "/openapi.json").json()["paths"]
        assert "/api/session" in paths
        assert not any(p == "/" or p.startswith(("/assets", "/{")) for p in paths)


# --- the browser credential -------------------------------------------------------------------


def browser(server: Any, **headers: str) -> httpx.Client:
    """A client like a browser page of the server: no key header, its own Origin, a cookie jar."""
    return httpx.Client(base_url=server.url, headers={"Origin": server.url, **headers}, timeout=8.0)


def test_sign_in_trades_the_key_for_an_httponly_cookie_and_a_csrf_token(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with server_and_client(store_path) as (server, _client), browser(server) as page:
        before = page.get("/api/session").json()
        assert before == {
            "auth_required": True,
            "signed_in": False,
            "csrf_token": None,
            "expires_at": None,
            "default_workspace": None,
        }
        assert page.get("/api/conversations").status_code == 401
        wrong = page.post("/api/session", json={"api_key": "not-the-key"})
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "unauthorized"
        assert "set-cookie" not in wrong.headers
        unicode = page.post("/api/session", json={"api_key": "ключ \U000e9e8b"})
        assert unicode.status_code == 401  # any text is a wrong key, never a 500

        signed = page.post("/api/session", json={"api_key": KEY})
        assert signed.status_code == 200, signed.text
        cookie = signed.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/api", "Max-Age="):
            assert attribute.lower() in cookie.lower(), cookie
        assert KEY not in cookie
        assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
        body = signed.json()
        assert body["signed_in"] is True
        assert body["default_workspace"]
        csrf = body["csrf_token"]
        assert csrf
        assert page.get("/api/session").json()["csrf_token"] == csrf  # a reload gets it back

        assert page.get("/api/conversations").status_code == 200
        create = {"agent": "echo", "workspace": str(workspace)}
        refused = page.post("/api/conversations", json=create)
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_failed"
        forged = page.post("/api/conversations", json=create, headers={"X-CSRF-Token": "x"})
        assert forged.json()["code"] == "csrf_failed"
        made = page.post("/api/conversations", json=create, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text

        out = page.delete("/api/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert 'acphost_session=""' in out.headers["set-cookie"]
        assert page.get("/api/conversations").status_code == 401
    assert KEY not in caplog.text


def test_a_signed_out_cookie_stays_dead_and_a_restart_keeps_live_ones(
    store_path: Path,
) -> None:
    with server_and_client(store_path) as (server, _client), browser(server) as page:
        page.post("/api/session", json={"api_key": KEY})
        kept = dict(page.cookies)
    with server_and_client(store_path) as (server, _client), browser(server) as page:
        page.cookies.update(kept)
        session = page.get("/api/session").json()
        assert session["signed_in"] is True  # a restarted server honours the cookie
        assert page.get("/api/conversations").status_code == 200
        page.delete("/api/session", headers={"X-CSRF-Token": session["csrf_token"]})
        with httpx.Client(base_url=server.url, cookies=kept) as stolen:
            assert stolen.get("/api/conversations").status_code == 401
    with server_and_client(store_path, key="another-key-456") as (server, _client):
        old = httpx.get(f"{server.url}/api/conversations", cookies=kept)
        assert old.status_code == 401  # a new key signs every browser out


def test_other_sites_can_neither_change_anything_nor_open_the_event_stream(
    store_path: Path, workspace: Path
) -> None:
    evil = "http://evil.example"
    with server_and_client(store_path) as (server, client), browser(server) as page:
        cid = client.post("/api/conversations", json={"agent": "echo", "workspace": str(workspace)})
        cid = cid.json()["id"]
        csrf = page.post("/api/session", json={"api_key": KEY}).json()["csrf_token"]
        cookie = f"acphost_session={page.cookies['acphost_session']}"
        other_port = server.url.rsplit(":", 1)[0] + ":1"
        for origin in (evil, other_port, "null"):
            hijack = page.post(
                f"/api/conversations/{cid}/interrupt",
                headers={"Origin": origin, "X-CSRF-Token": csrf},
            )
            assert hijack.status_code == 403, origin
            assert hijack.json()["code"] == "origin_refused"
            sign_in = page.post("/api/session", json={"api_key": KEY}, headers={"Origin": origin})
            assert sign_in.json()["code"] == "origin_refused"
            with pytest.raises(InvalidStatus) as refused:
                open_ws(server, cid, additional_headers={"Origin": origin, "Cookie": cookie})
            assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as anonymous:
            open_ws(server, cid, additional_headers={"Origin": server.url})
        assert anonymous.value.response.status_code == 401

        ours = {"Origin": server.url, "Cookie": cookie}
        with open_ws(server, cid, additional_headers=ours) as ws:
            sent = page.post(
                f"/api/conversations/{cid}/messages",
                json={"text": "from the browser"},
                headers={"X-CSRF-Token": csrf},
            )
            assert sent.status_code == 202, sent.text
            messages = receive_until(ws, status_is("idle"))
        tokens = "".join(m["text"] for m in messages if m["type"] == "token")
        assert "from the browser" in tokens


def test_a_keyless_server_answers_only_to_loopback_host_names(store_path: Path) -> None:
    with server_and_client(store_path, key=None) as (server, client):
        assert client.get("/api/conversations").status_code == 200
        session = client.get("/api/session").json()
        assert session["auth_required"] is False
        assert session["signed_in"] is True
        # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1
        rebound = client.get("/api/conversations", headers={"Host": "evil.example:8765"})
        assert rebound.status_code == 403
        assert rebound.json()["code"] == "forbidden"
        local = client.get("/api/conversations", headers={"Host": f"localhost:{server.port}"})
        assert local.status_code == 200
        with pytest.raises(InvalidStatus) as refused:
            open_ws(server, "x", additional_headers={"Origin": "http://evil.example"})
        assert refused.value.response.status_code == 403


def test_the_session_api_is_documented(store_path: Path) -> None:
    with server_and_client(store_path) as (server, _client):
        document = httpx.get(server.url + "/openapi.json").json()
        session = document["paths"]["/api/session"]
        assert set(session) == {"get", "post", "delete"}
        schemes = document["components"]["securitySchemes"]
        assert any(s.get("in") == "cookie" for s in schemes.values())
        assert json.dumps(session["post"]).count("SignIn")


def test_serve_open_opens_the_console_in_a_browser_without_the_key(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.py"
    recorder.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    port = free_port()
    env = {
        "ACPHOST_API_KEY": KEY,
        "ACPHOST_HOME": str(tmp_path),
        "BROWSER": f"{sys.executable} {recorder} %s",  # what webbrowser runs
    }
    process = run_server("--port", str(port), "--open", "--log-level", "warning", env=env)
    try:
        url = wait_until(lambda: opened.is_file() and opened.read_text(), what="the browser")
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(f"{url}api/session").json()["auth_required"] is True
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert KEY not in output + url


def test_list_rows_show_cost_running_and_pending_requests(
    store_path: Path, workspace: Path
) -> None:
    def row(client: httpx.Client, cid: str) -> dict[str, Any]:
        rows = client.get("/api/conversations").json()["conversations"]
        found: dict[str, Any] = next(r for r in rows if r["id"] == cid)
        return found

    body = {"agent": "demo", "workspace": str(workspace), "permission": "ask"}
    with server_and_client(store_path) as (server, client):
        cid = client.post("/api/conversations", json=body).json()["id"]
        assert row(client, cid)["pending_permission_count"] == 0
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "write notes"})
            asked = receive_until(ws, lambda e: e["kind"] == "permission_requested")
            waiting = row(client, cid)
            assert waiting["pending_permission_count"] == 1
            assert waiting["running"] is True
            assert waiting["status"] == "running"
            request_id = asked[-1]["event"]["request_id"]
            client.post(
                f"/api/conversations/{cid}/permissions/{request_id}",
                json={"decision": "allow_once"},
            )
            receive_until(ws, status_is("idle"))
        done = row(client, cid)
        assert done["pending_permission_count"] == 0
        assert done["cost"] > 0
        assert done["currency"] == "USD"
        detail = client.get(f"/api/conversations/{cid}").json()
        assert detail["cost"] == done["cost"]
    with server_and_client(store_path) as (server, client):  # folded from the store now
        stored = row(client, cid)
        assert stored["live"] is False
        assert stored["running"] is False
        assert (stored["cost"], stored["currency"]) == (done["cost"], done["currency"])


def test_the_packaged_bundle_names_each_asset_by_its_content() -> None:
    """Assets are cached as immutable by their ``?v=``: it must change whenever they do."""
    root = resources.files("acphost.server") / "console"
    page = (root / "index.html").read_text(encoding="utf-8")
    referenced = re.findall(r"""["'](/assets/[^"'?]+)\?v=([0-9a-f]+)["']""", page)
    assert {path for path, _ in referenced} >= {"/assets/app.js", "/assets/app.css"}
    for path, version in referenced:
        content = (root / path.removeprefix("/")).read_bytes()
        assert hashlib.sha256(content).hexdigest().startswith(version), path
    assert not re.search(r"""(src|href)=["']https?:""", page)  # nothing from elsewhere


def test_session_tokens_are_bound_to_the_key_unforgeable_and_expire() -> None:
    tokens = SessionTokens("key-one")
    token = tokens.mint()
    assert tokens.expiry(token) is not None
    assert SessionTokens("key-two").expiry(token) is None  # another key: another secret
    version, expires, nonce, mac = token.split(".")
    later = str(int(expires) + 3600)
    for forged in (
        f"{version}.{later}.{nonce}.{mac}",  # a longer life
        f"{version}.{expires}.{nonce}.{mac[:-2]}AA",
        f"v2.{expires}.{nonce}.{mac}",
        "",
        "x" * 1000,
    ):
        assert tokens.expiry(forged) is None, forged
    assert not tokens.csrf_ok(token, None)
    assert not tokens.csrf_ok(token, tokens.csrf(tokens.mint()))  # another session's token
    assert tokens.csrf_ok(token, tokens.csrf(token))
    assert tokens.expiry(SessionTokens("key-one", ttl=0).mint()) is None  # expired at once
    assert "key-one" not in repr(tokens)


def test_a_stored_conversation_described_again_shows_what_happened_since(
    store_path: Path, workspace: Path
) -> None:
    """Folds of stored conversations are kept: one resumed and detached again is not stale."""

    def detail(client: httpx.Client, cid: str) -> dict[str, Any]:
        body: dict[str, Any] = client.get(f"/api/conversations/{cid}").json()
        return body

    def settled(client: httpx.Client, cid: str, turns: int) -> bool:
        events = client.get(f"/api/conversations/{cid}/events", params={"limit": 1000}).json()
        described = detail(client, cid)
        return (
            not described["live"]
            and described["turns"] == turns
            and described["last_seq"] == events["events"][-1]["seq"]
        )

    body = {"agent": "demo", "workspace": str(workspace), "permission": "allow"}
    with server_and_client(store_path, max_live=1) as (_server, client):
        cid = client.post("/api/conversations", json={**body, "message": "one"}).json()["id"]
        wait_until(lambda: detail(client, cid)["turns"] == 1 and not detail(client, cid)["running"])
        client.post("/api/conversations", json={"agent": "echo", "workspace": str(workspace)})
        wait_until(lambda: settled(client, cid, 1), what="the first conversation stored")
        first = detail(client, cid)
        assert detail(client, cid) == first  # described again from the kept fold

        sent = client.post(f"/api/conversations/{cid}/messages", json={"text": "two"})
        assert sent.status_code == 202, sent.text  # resumed: the echo agent makes room
        wait_until(lambda: detail(client, cid)["turns"] == 2 and not detail(client, cid)["running"])
        client.post("/api/conversations", json={"agent": "echo", "workspace": str(workspace)})
        wait_until(lambda: settled(client, cid, 2), what="the conversation stored again")
        again = detail(client, cid)
        assert again["last_seq"] > first["last_seq"]
        assert again["usage"]["total_tokens"] > first["usage"]["total_tokens"]
