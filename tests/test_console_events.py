"""The console shows the newer events (host-reported stalls, steering, notices, compactions,
subagents, tool names) and offers an agent's earlier modes and models at create.

Real servers and fake agents, and Chromium. With a short ``stall_timeout`` the stall banner comes
from the host's ``turn_stalled`` event (no clock in the page), the Steer button sends into the
running turn, and the banner goes when it resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from acphost.testing import Scenario, fake_agent_command
from console_support import browser_page, chromium, console_server, sign_in

LISTENER = (
    "async def scenario(ctx, prompt):\n"
    '    await ctx.tool_call("t1", "Thinking it over", status="in_progress")\n'
    "    heard = await ctx.wait_for_steering(60)\n"
    '    await ctx.tool_update("t1", status="completed")\n'
    '    await ctx.text(f"heard: {heard}")\n'
    '    return "end_turn"\n'
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_stalled_turn_is_shown_and_steered_back_to_work(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    source = workspace.parent / "listener.py"
    source.write_text(LISTENER)
    scenario = Scenario("listener", python=f"{source}:scenario", steering=True)
    options = {"cancel_grace": 2.0, "stall_timeout": 1.0}
    with (
        console_server(store_path, conversation_options=options) as console,
        browser_page(browser) as page,
    ):
        command = fake_agent_command(scenario, directory=workspace.parent)
        cid = console.create(workspace, command=command, title="Stalls")
        sign_in(page, console, f"/#/c/{cid}")
        expect(page.get_by_test_id("conv-connection")).to_have_attribute("data-state", "open")
        expect(page.get_by_test_id("composer-steer")).to_have_count(0)  # idle: only send
        page.get_by_test_id("composer-input").fill("plan the work")
        page.get_by_test_id("composer-send").click()

        stalled = page.get_by_test_id("banner-stalled")
        expect(stalled).to_contain_text("No progress from the agent")
        expect(stalled).to_contain_text("Thinking it over")  # what the turn waits on
        expect(page.locator("[data-testid=note-row][data-what=stalled]")).to_have_count(1)

        page.get_by_test_id("composer-input").fill("go left")
        page.get_by_test_id("composer-steer").click()
        expect(page.locator("[data-testid=user-message][data-steered=true]")).to_contain_text(
            "go left"
        )
        expect(page.get_by_test_id("agent-message").last).to_have_text("heard: go left")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        expect(stalled).to_have_count(0)
        expect(page.locator("[data-testid=note-row][data-what=resumed]")).to_have_count(1)
        expect(page.get_by_test_id("user-message")).to_have_count(2)  # no echo, no duplicate
        expect(page.get_by_test_id("composer-steer")).to_have_count(0)


def test_notices_compactions_subagents_and_tool_names_are_shown(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    scenario = (
        Scenario("wire")
        .turn()
        .notice("Switched to a smaller model", severity="warning", description="rate limited")
        .compaction("c1", "in_progress")
        .compaction("c1", "completed", summary="We fixed the parser.")
        .subagent("sub-1", name="scout", task="map the repo")
        .raw_update(
            {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "3 files"},
            },
            session_id="sub-1",
        )
        .subagent_state("sub-1", "completed")
        .tool_call("t1", title="Run the tests", kind="execute", status="completed", name="Bash")
        .text("all done")
    )
    with console_server(store_path) as console, browser_page(browser) as page:
        command = fake_agent_command(scenario, directory=workspace.parent)
        cid = console.create(workspace, command=command, permission="allow", message="go")
        sign_in(page, console, f"/#/c/{cid}")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        notice = page.locator("[data-testid=note-row][data-what=notice]")
        expect(notice).to_have_attribute("data-tone", "warn")
        expect(notice).to_contain_text("Switched to a smaller model")
        expect(notice).to_contain_text("rate limited")
        divider = page.get_by_test_id("compaction")
        expect(divider).to_have_count(1)  # one divider, updated in place
        expect(divider).to_have_attribute("data-status", "completed")
        divider.locator("summary").click()
        expect(page.get_by_test_id("compaction-summary")).to_have_text("We fixed the parser.")
        subagent = page.get_by_test_id("subagent")
        expect(subagent).to_have_attribute("data-state", "completed")
        expect(subagent).to_contain_text("scout")
        expect(page.get_by_test_id("subagent-text")).to_have_text("3 files")
        expect(page.get_by_test_id("tool-call-name")).to_have_text("Bash")
        expect(page.get_by_test_id("agent-message")).to_have_text(["all done"])


def test_the_create_form_offers_the_modes_and_models_the_agent_gave_before(
    browser: Browser, store_path: Path, workspace: Path
) -> None:
    with console_server(store_path) as console, browser_page(browser) as page:
        earlier = console.create(workspace, permission="allow", message="hello")
        sign_in(page, console, f"/#/c/{earlier}")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        modes = [m["id"] for m in console.detail(earlier)["modes"]]
        assert modes  # the demo agent offered modes once its session existed
        page.goto(console.url + "/#/new")
        page.get_by_test_id("create-agent").select_option("demo")
        offered = page.locator("#create-mode-choices option")
        expect(offered).to_have_count(len(modes))
        assert offered.evaluate_all("options => options.map(o => o.value)") == modes
        expect(page.locator("#create-model-choices option")).not_to_have_count(0)
        page.get_by_test_id("create-mode").fill("anything")  # still free text
        expect(page.get_by_test_id("create-mode")).to_have_value("anything")
