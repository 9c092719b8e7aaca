"""The web console stays true over time: across a server restart, and in two browsers at once.

Every WebSocket frame the page receives is recorded (Playwright sees the real sockets), so the
tests check the stream itself: each event once, in order, with no gap, over every reconnect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from console_support import browser_page, chromium, console_server, sign_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def record_event_seqs(page: Page) -> list[int]:
    """The seq of every event frame the page receives, over all its sockets, in arrival order."""
    seqs: list[int] = []

    def on_frame(payload: str | bytes) -> None:
        message = json.loads(payload)
        if message.get("type") == "event":
            seqs.append(message["event"]["seq"])
        elif message.get("type") == "events":  # a batch (the console asks for batch=true)
            seqs.extend(event["seq"] for event in message["events"])

    def on_socket(socket: WebSocket) -> None:
        if "/events" in socket.url:
            socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return seqs


def send(page: Page, text: str) -> None:
    page.get_by_test_id("composer-input").fill(text)
    page.get_by_test_id("composer-send").click()


def test_a_server_restart_is_survived_without_gap_or_duplicate(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        cid = console.create(workspace, permission="allow", title="Survives restarts")
        seqs = record_event_seqs(page)
        sign_in(page, console, f"/#/c/{cid}")
        view = page.get_by_test_id("conversation-view")
        expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        send(page, "first question")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        expect(page.get_by_test_id("conv-status")).to_have_text("idle")

        console.stop()
        expect(page.get_by_test_id("banner-connection")).to_be_visible()
        expect(page.get_by_test_id("conv-connection")).to_have_attribute(
            "data-state", "reconnecting"
        )
        console.start_again()
        expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        expect(page.get_by_test_id("banner-connection")).to_have_count(0)

        send(page, "second question")  # the agent is resumed on first use
        expect(page.get_by_test_id("turn-ended")).to_have_count(2)
        expect(page.get_by_test_id("agent-message").last).to_contain_text("second question")
        expect(page.get_by_test_id("conv-status")).to_have_text("idle")
        last = console.detail(cid)["last_seq"]
        expect(view).to_have_attribute("data-last-seq", str(last))
        expect(view).to_have_attribute("data-event-count", str(last))
        # the sockets brought each event at most once, in order (a backlog may come in REST
        # pages instead), and the page folded every seq exactly once
        assert seqs == sorted(set(seqs))
        assert seqs[-1] == last


def test_one_conversation_in_two_browsers_sees_each_answer_at_once(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with (
        console_server(store_path) as console,
        browser_page(browser) as first,
        browser_page(browser) as second,
    ):
        cid = console.create(workspace, permission="ask", title="Shared")
        for page in (first, second):
            sign_in(page, console, f"/#/c/{cid}")
            expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        send(first, "write the notes")
        for page in (first, second):
            expect(page.get_by_test_id("user-message")).to_contain_text("write the notes")
            expect(
                page.locator("[data-testid=permission-card][data-state=pending]")
            ).to_be_visible()

        first.locator("[data-testid=permission-option][data-kind=allow_once]").click()
        for page in (second, first):  # the other browser first: it was not the one clicking
            expect(page.get_by_test_id("permission-decision")).to_have_attribute(
                "data-decision", "allow_once"
            )
            expect(page.get_by_test_id("agent-message").last).to_contain_text(
                "I wrote a short summary to NOTES.md"
            )
            expect(page.get_by_test_id("permission-alert")).to_have_count(0)
        expect(second.get_by_test_id("permission-option")).to_have_count(0)
        assert (workspace / "NOTES.md").is_file()
