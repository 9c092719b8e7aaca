"""The console shows a conversation that another process runs on the server's store (issue
14): it appears in the list, and its page streams the turn as that process stores it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from console_support import browser_page, chromium, console_server, sign_in
from test_server_support import OTHER_AGENT, mid_turn, other_processes


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_conversation_another_process_runs_shows_up_and_streams_live(
    browser: Browser, store_path: Path, workspace: Path, fake_agent: Callable[..., list[str]]
) -> None:
    agent = fake_agent(source=OTHER_AGENT)
    with (
        console_server(store_path) as console,
        browser_page(browser) as page,
        other_processes(store_path, workspace, agent) as start,
    ):
        sign_in(page, console)
        expect(page.get_by_test_id("conv-list")).to_have_attribute("data-feed", "open")
        with mid_turn(console.api, start, "gated one") as elsewhere:
            row = page.locator(f"[data-testid=conv-row][data-conversation-id='{elsewhere.id}']")
            expect(row).to_have_attribute("data-status", "running")
            row.click()
            expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
            expect(page.get_by_test_id("tool-call")).to_have_count(1)
            elsewhere.open("gated one")
            expect(page.get_by_test_id("turn-ended")).to_have_count(1)
            expect(page.get_by_test_id("agent-message").last).to_contain_text("done: gated one")
            expect(page.get_by_test_id("tool-call")).to_have_count(21)
            expect(page.get_by_test_id("conv-status")).to_have_text("idle")
            expect(row).to_have_attribute("data-status", "idle")
            elsewhere.wait()
