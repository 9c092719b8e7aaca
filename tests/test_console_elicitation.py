"""The web console in a real Chromium: the agent asks a question (an elicitation), the card
shows the form with its defaults, the badge counts it, and the answer sent from the card is
what the agent is told. Real server, real fake agent, the packaged console bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from acphost.testing import Scenario
from console_support import browser_page, chromium, console_server, sign_in

FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Your name"},
        "level": {"type": "string", "enum": ["junior", "senior"], "default": "senior"},
        "remote": {"type": "boolean"},
    },
    "required": ["name"],
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_form_is_answered_from_its_card(
    browser: Browser, store_path: Path, workspace: Path, fake_agent: Any
) -> None:
    scenario = Scenario("asks").turn().elicitation("About you?", FORM, echo_result=True).stop()
    with console_server(store_path) as console, browser_page(browser) as page:
        cid = console.create(workspace, command=fake_agent(scenario), permission="ask")
        sign_in(page, console, f"/#/c/{cid}")
        expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        page.get_by_test_id("composer-input").fill("go")
        page.get_by_test_id("composer-send").click()
        card = page.get_by_test_id("elicitation-card")
        expect(card).to_have_attribute("data-state", "pending")
        expect(card.get_by_test_id("elicitation-message")).to_have_text("About you?")
        expect(page.get_by_test_id("elicitation-alert")).to_be_visible()
        row = page.locator(f'[data-testid="conv-row"][data-conversation-id="{cid}"]')
        expect(row).to_have_attribute("data-pending", "1")
        level = card.locator('[data-field="level"]')
        expect(level).to_have_value("senior")  # the schema's default, filled in
        card.locator('[data-field="name"]').fill("Ada")
        card.locator('[data-field="remote"]').check()
        card.get_by_test_id("elicitation-accept").click()

        expect(card).to_have_attribute("data-state", "answered")
        expect(card.get_by_test_id("elicitation-answer")).to_have_attribute("data-action", "accept")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        expect(page.get_by_test_id("elicitation-alert")).to_have_count(0)
        expect(row).to_have_attribute("data-pending", "0")
        events = console.api.get(f"/api/conversations/{cid}/events").json()["events"]
        answered = [e for e in events if e["kind"] == "elicitation_answered"]
        content = {"name": "Ada", "level": "senior", "remote": True}
        assert [(e["action"], e["answered_by"], e["content"]) for e in answered] == [
            ("accept", "user", content)
        ]
        told = [e["text"] for e in events if e["kind"] == "agent_message"]
        assert [json.loads(t) for t in told] == [{"action": "accept", "content": content}]
