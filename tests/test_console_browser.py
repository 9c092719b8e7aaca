"""The web console in a real Chromium: sign-in, create, live streaming, permissions, interrupt.

The server is real (uvicorn), the agents are real subprocesses speaking ACP (the fake agent),
the console is the bundle shipped in the package. Every wait is on what the page shows, with
a deadline (Playwright's expect), never a sleep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from acphost.testing import Scenario
from console_support import browser_page, chromium, console_server, sign_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def storage_text(page: Page) -> str:
    """Everything a script of the page can read back: cookies, local and session storage."""
    text: str = page.evaluate(
        "() => document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"
    )
    return text


def test_sign_in_keeps_the_key_out_of_urls_and_scripts_and_signs_out(
    browser: Browser, store_path: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(console.url)
        expect(page.get_by_test_id("signin-form")).to_be_visible()
        page.get_by_test_id("signin-key").fill("not the key")
        page.get_by_test_id("signin-submit").click()
        expect(page.get_by_test_id("signin-error")).to_be_visible()

        sign_in(page, console)
        assert console.key is not None
        assert not any(console.key in url for url in requested)
        assert console.key not in page.url
        assert console.key not in storage_text(page)
        assert "acphost_session" not in storage_text(page)  # HttpOnly: no script can read it
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["acphost_session"]["httpOnly"] is True
        assert cookies["acphost_session"]["sameSite"] == "Strict"

        page.reload()  # the cookie signs the browser in again; the key is not asked for
        expect(page.get_by_test_id("conv-list")).to_be_visible()
        expect(page.get_by_test_id("signin-form")).to_have_count(0)

        page.get_by_test_id("signout-button").click()
        expect(page.get_by_test_id("signin-form")).to_be_visible()
        assert console.api.get("/api/conversations").status_code == 200  # the key still works
        page.reload()
        expect(page.get_by_test_id("signin-form")).to_be_visible()


def test_create_from_the_form_then_approve_the_permission_from_its_card_with_its_diff(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        sign_in(page, console)
        page.get_by_test_id("new-conversation-button").click()
        form = page.get_by_test_id("create-form")
        expect(form.locator("[data-testid=create-agent] option[value=demo]")).to_have_count(1)
        page.get_by_test_id("create-agent").select_option("demo")
        page.get_by_test_id("create-workspace").fill(str(workspace))
        page.get_by_test_id("create-permission").select_option("ask")
        page.get_by_test_id("create-title").fill("Notes from the console")
        page.get_by_test_id("create-message").fill("Summarise the project")
        page.get_by_test_id("create-submit").click()

        view = page.get_by_test_id("conversation-view")
        expect(view).to_be_visible()
        conversation_id = view.get_attribute("data-conversation-id")
        assert conversation_id
        expect(page.get_by_test_id("conv-title")).to_have_text("Notes from the console")

        # the request is impossible to miss: a card, a badge in the list, the page title
        card = page.locator("[data-testid=permission-card][data-state=pending]")
        expect(card).to_be_visible()
        expect(page.get_by_test_id("permission-alert")).to_be_visible()
        expect(page.get_by_test_id("conv-row-pending")).to_have_text(re.compile("1"))
        expect(page).to_have_title(re.compile("answer needed"))
        diff = card.get_by_test_id("diff")  # exactly what will be written, where
        expect(diff).to_have_attribute("data-path", str(workspace / "NOTES.md"))
        expect(diff).to_contain_text("Prompt: Summarise the project")
        assert not (workspace / "NOTES.md").exists()
        kinds = card.get_by_test_id("permission-option").evaluate_all(
            "buttons => buttons.map(b => b.dataset.kind)"
        )
        assert "allow_once" in kinds
        assert "reject_once" in kinds

        card.locator("[data-testid=permission-option][data-kind=allow_once]").click()
        decision = page.get_by_test_id("permission-decision")
        expect(decision).to_have_attribute("data-decision", "allow_once")
        expect(page.get_by_test_id("agent-message").last).to_contain_text(
            "I wrote a short summary to NOTES.md"
        )
        expect(page.get_by_test_id("turn-ended")).to_have_attribute("data-stop-reason", "end_turn")
        expect(page.get_by_test_id("conv-status")).to_have_text("idle")
        expect(page.get_by_test_id("permission-alert")).to_have_count(0)
        expect(page).to_have_title("acphost console")
        assert "Summarise the project" in (workspace / "NOTES.md").read_text()
        decided = [
            e
            for e in console.api.get(f"/api/conversations/{conversation_id}/events").json()[
                "events"
            ]
            if e["kind"] == "permission_decided"
        ]
        assert [(e["decision"], e["decided_by"]) for e in decided] == [("allow_once", "user")]
        expect(page.get_by_test_id("usage-cost")).to_contain_text("$")


def asks_midway(fake_agent: Any) -> list[str]:
    """Streams text, then waits on a permission request: the turn is visibly not over."""
    scenario = (
        Scenario("asks-midway")
        .turn()
        .text("Streaming **the first** words.", chunks=4)
        .tool_call("w", title="Write out.txt", kind="edit", status="pending")
        .permission("w", title="Write out.txt", otherwise="continue")
        .text("And the rest, after the answer.")
    )
    command: list[str] = fake_agent(scenario)
    return command


def test_the_answer_streams_in_before_the_turn_ends(
    browser: Browser, store_path: Path, workspace: Path, fake_agent: Any
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        cid = console.create(workspace, command=asks_midway(fake_agent), permission="ask")
        sign_in(page, console, f"/#/c/{cid}")
        expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        page.get_by_test_id("composer-input").fill("go")
        page.get_by_test_id("composer-send").click()
        expect(page.get_by_test_id("user-message").locator(".user-text")).to_have_text("go")
        first = page.get_by_test_id("agent-message").first
        expect(first.locator("strong")).to_have_text("the first")  # rendered as Markdown
        expect(page.get_by_test_id("conv-status")).to_have_text("running")
        expect(page.get_by_test_id("turn-ended")).to_have_count(0)  # streamed, not after the end

        pending = console.detail(cid)["pending_permissions"]
        assert len(pending) == 1
        request_id = pending[0]["request_id"]
        answered = console.api.post(  # over REST: the same path as the card's buttons
            f"/api/conversations/{cid}/permissions/{request_id}", json={"decision": "reject_once"}
        )
        assert answered.status_code == 200, answered.text
        expect(page.get_by_test_id("permission-decision")).to_have_attribute(
            "data-decision", "reject_once"
        )
        expect(page.get_by_test_id("agent-message").last).to_contain_text("And the rest")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)


def test_interrupt_from_the_console_cancels_the_turn(
    browser: Browser, store_path: Path, workspace: Path, fake_agent: Any
) -> None:
    long = (
        Scenario("long")
        .turn()
        .text("Working on it.")
        .tool_call("job", title="Long job", kind="execute", status="in_progress")
        .sleep(60)
    )
    with console_server(store_path) as console, browser_page(browser) as page:
        cid = console.create(workspace, command=fake_agent(long), message="start")
        sign_in(page, console, f"/#/c/{cid}")
        call = page.get_by_test_id("tool-call")
        expect(call.get_by_test_id("tool-call-status")).to_have_text(re.compile("in.progress"))
        page.get_by_test_id("interrupt-button").click()
        expect(page.get_by_test_id("turn-ended")).to_have_attribute("data-stop-reason", "cancelled")
        expect(call.get_by_test_id("tool-call-status")).to_have_text("failed")
        expect(page.get_by_test_id("conv-status")).to_have_text("paused")
        assert console.detail(cid)["status"] == "paused"


def test_a_keyless_loopback_server_needs_no_sign_in(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path, key=None) as console, browser_page(browser) as page:
        cid = console.create(workspace, agent="echo", message="hello there")
        page.goto(f"{console.url}/#/c/{cid}")
        expect(page.get_by_test_id("conv-list")).to_be_visible()
        expect(page.get_by_test_id("signin-form")).to_have_count(0)
        expect(page.get_by_test_id("signout-button")).to_have_count(0)  # nothing to sign out of
        expect(page.get_by_test_id("agent-message").last).to_contain_text("hello there")
