"""The console's conversation list follows the server's change feed, not its poll."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, WebSocket, WebSocketRoute, expect

from console_support import browser_page, chromium, console_server, sign_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def record_feed(page: Page) -> list[dict[str, object]]:
    """Every message the page's change feed receives, in arrival order."""
    messages: list[dict[str, object]] = []

    def on_socket(socket: WebSocket) -> None:
        if socket.url.endswith("/api/conversations/changes"):
            socket.on("framereceived", lambda payload: messages.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return messages


def test_a_conversation_made_elsewhere_shows_up_and_its_badge_follows_live(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        feed = record_feed(page)
        sign_in(page, console)
        listing = page.get_by_test_id("conv-list")
        expect(listing).to_have_attribute("data-feed", "open")
        expect(page.get_by_test_id("conv-list-empty")).to_be_visible()
        # From now on the list cannot be read over REST: whatever shows came from the feed.
        blocked: list[str] = []

        def refuse(route: Route) -> None:
            blocked.append(route.request.url)
            route.abort()

        page.route("**/api/conversations?*", refuse)

        cid = console.create(workspace, permission="ask", title="Made elsewhere")
        row = page.locator(f"[data-testid=conv-row][data-conversation-id='{cid}']")
        expect(row.get_by_test_id("conv-row-title")).to_have_text("Made elsewhere")
        assert any(m.get("type") == "conversation" for m in feed)

        sent = console.api.post(f"/api/conversations/{cid}/messages", json={"text": "write notes"})
        assert sent.status_code == 202, sent.text
        expect(row.get_by_test_id("conv-row-pending")).to_have_text("⚠ 1")
        expect(row).to_have_attribute("data-pending", "1")

        request = console.detail(cid)["pending_permissions"][0]["request_id"]
        answered = console.api.post(
            f"/api/conversations/{cid}/permissions/{request}", json={"decision": "allow_once"}
        )
        assert answered.status_code == 200, answered.text
        expect(row.get_by_test_id("conv-row-pending")).to_have_count(0)
        expect(row).to_have_attribute("data-status", "idle")
        # the creation asked for a re-GET (the total moved): refused, yet the rows are live
        assert blocked

        page.unroute("**/api/conversations?*")
        assert console.api.delete(f"/api/conversations/{cid}").status_code == 204
        expect(row).to_have_count(0)
        expect(page.get_by_test_id("conv-list-empty")).to_be_visible()


def test_while_the_feed_is_down_the_list_polls(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        attempts: list[str] = []

        def refuse(socket: WebSocketRoute) -> None:  # as a proxy without WebSockets would
            attempts.append(socket.url)
            socket.close(code=1011, reason="no WebSockets here")

        page.route_web_socket("**/api/conversations/changes", refuse)
        sign_in(page, console)
        expect(page.get_by_test_id("conv-list-empty")).to_be_visible()  # the first GET
        cid = console.create(workspace, title="Found by polling")
        row = page.locator(f"[data-testid=conv-row][data-conversation-id='{cid}']")
        expect(row.get_by_test_id("conv-row-title")).to_have_text("Found by polling")
        expect(page.get_by_test_id("conv-list")).to_have_attribute("data-feed", "down")
        assert len(attempts) >= 2  # refused, it kept trying with backoff meanwhile
