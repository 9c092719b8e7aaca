"""Jobs in the web console: the list, the task × agent grid, the per-agent summary, and a click
through to a trial's conversation (a real job run with the fake agent, a real server, Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from acphost.jobs import AgentConfig, Job, Task, run_job
from acphost.testing import fake_agent_command
from console_support import browser_page, chromium, console_server, sign_in
from jobs_support import writes


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_job_is_listed_compared_and_its_trials_open(
    browser: Browser, tmp_path: Path, store_path: Path
) -> None:
    agent = AgentConfig(name="fake", command=fake_agent_command(writes(0.02), directory=tmp_path))
    job = Job(
        name="bench",
        agents=[agent],
        tasks=[
            Task(id="ok", prompt="go", check="test -f out.txt"),
            Task(id="ko", prompt="go", check="false"),
        ],
    )
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        pool.submit(run_job, job, store=store_path, workdir=tmp_path / "ws").result()
    with console_server(store_path) as console, browser_page(browser) as page:
        sign_in(page, console)
        page.get_by_test_id("jobs-link").click()
        row = page.locator("[data-testid=job-row][data-job-id=bench]")
        expect(row).to_have_attribute("data-status", "finished")
        expect(row).to_contain_text("2 / 2")
        row.get_by_role("link", name="bench").click()

        view = page.get_by_test_id("job-view")
        expect(view).to_have_attribute("data-job-id", "bench")
        ok = page.locator("[data-testid=job-cell][data-task=ok][data-agent=fake]")
        expect(ok.get_by_test_id("job-trial")).to_have_attribute("data-outcome", "passed")
        ko = page.locator("[data-testid=job-cell][data-task=ko][data-agent=fake]")
        expect(ko.get_by_test_id("job-trial")).to_have_attribute("data-outcome", "failed")
        expect(ok).to_contain_text("$0.0200")
        summary = page.locator("[data-testid=job-agent][data-agent=fake]")
        expect(summary).to_contain_text("1 / 2")
        expect(summary).to_contain_text("50%")

        trials = console.api.get("/api/jobs/bench").json()["results"]["trials"]
        cid = next(t["conversation_id"] for t in trials if t["task_id"] == "ok")
        ok.get_by_role("link").click()
        conversation = page.get_by_test_id("conversation-view")
        expect(conversation).to_have_attribute("data-conversation-id", cid)
        expect(page.get_by_test_id("user-message")).to_contain_text("go")
