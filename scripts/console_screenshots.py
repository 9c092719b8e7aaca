"""Screenshots of the web console's main views into docs/console/*.png.

    .venv/bin/python scripts/console_screenshots.py [--out docs/console]

Runs a real server (temporary store, the demo agent, a small sample workspace) and drives
Debian's Chromium with Playwright, as the browser tests do. Needs Chromium at /usr/bin/chromium
(or $ACPHOST_CHROMIUM); scripts/web.sh installs it.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from acphost.jobs import AgentConfig, Job, Task, run_job
from acphost.server import create_app
from acphost.testing import Scenario, fake_agent_command

ROOT = Path(__file__).resolve().parent.parent
KEY = "screenshots-key"
sys.path.insert(0, str(ROOT / "tests"))
from console_support import CHROMIUM  # noqa: E402  (one launch setup with the browser tests)
from console_support import CHROMIUM_ARGS as ARGS  # noqa: E402


@contextmanager
def server(store: Path) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(api_key=KEY, store=store)
    config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not running.started:
        if not thread.is_alive():
            raise SystemExit("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        running.should_exit = True
        thread.join(20)


def sample_workspace(root: Path) -> Path:
    workspace = root / "shop"
    workspace.mkdir()
    (workspace / "README.md").write_text(
        "# Shop\n\nA small web shop.\n\n## Run\n\n    make serve\n\n## Test\n\n    make test\n"
    )
    (workspace / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    return workspace


FORM = {
    "type": "object",
    "properties": {
        "version": {"type": "string", "title": "Version"},
        "audience": {"type": "string", "enum": ["users", "developers"], "default": "users"},
        "breaking": {"type": "boolean", "title": "Call out breaking changes"},
    },
    "required": ["version"],
}
"""The question the elicitation screenshot shows."""


def sample_job(store: Path, workspace: Path) -> str:
    """A small job in ``store``: the demo agent allowed to write, and denied, on two tasks."""
    notes = "test -s NOTES.md && grep -q 'README.md has' NOTES.md"
    job = Job(
        name="notes-vs-deny",
        agents=[
            AgentConfig(name="demo", agent="demo"),
            AgentConfig(name="demo-deny", agent="demo", permission="deny"),
        ],
        tasks=[
            Task(id="summarise", prompt="What does this project do?",
                 workspace={"path": str(workspace)}, check=notes),
            Task(id="answer-only", prompt="Which files are there?",
                 workspace={"path": str(workspace)}),
        ],
        attempts=2,
    )  # fmt: skip
    run_job(job, store=store, workdir=store.parent / "trials")
    return job.name


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}/{name}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp) / "acphost.db") as url:
        shoot_all(url, out, Path(tmp))
    return 0


def shoot_all(url: str, out: Path, tmp: Path) -> None:
    """Make the conversations each view needs, then shoot the views."""
    workspace = sample_workspace(tmp)
    api = httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30)

    def create(title: str, permission: str, message: str | None = None) -> str:
        body = {"agent": "demo", "workspace": str(workspace), "permission": permission}
        body["title"] = title
        if message:
            body["message"] = message
        made = api.post("/api/conversations", json=body)
        made.raise_for_status()
        conversation_id: str = made.json()["id"]
        return conversation_id

    done = create("Summarise the README", "allow", "What does this project do?")
    create("Review cart.py", "deny", "Review cart.py")
    waiting = create("Write release notes", "ask", "Write release notes for 1.2")
    question = Scenario("asks").turn().elicitation("Which release do the notes cover?", FORM)
    command = fake_agent_command(question.stop(), directory=tmp)
    made = api.post(
        "/api/conversations",
        json={"command": command[0], "args": command[1:], "workspace": str(workspace),
              "permission": "ask", "title": "Release notes: which release?",
              "message": "Write the release notes"},
    )  # fmt: skip
    made.raise_for_status()
    asking = made.json()["id"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        expect.set_options(timeout=30_000)
        page.goto(url)
        page.get_by_test_id("signin-form").wait_for()
        shoot(page, out, "signin")
        page.get_by_test_id("signin-key").fill(KEY)
        page.get_by_test_id("signin-submit").click()
        page.get_by_test_id("conv-list").wait_for()
        expect(page.get_by_test_id("conv-row")).to_have_count(4)
        shoot(page, out, "list")

        page.goto(f"{url}/#/c/{waiting}")
        card = page.locator("[data-testid=permission-card][data-state=pending]")
        expect(card.get_by_test_id("diff")).to_be_visible()
        card.scroll_into_view_if_needed()
        shoot(page, out, "permission")

        page.goto(f"{url}/#/c/{asking}")
        card = page.locator("[data-testid=elicitation-card][data-state=pending]")
        card.locator('[data-field="version"]').fill("1.2.0")
        card.scroll_into_view_if_needed()
        shoot(page, out, "elicitation")

        page.goto(f"{url}/#/c/{done}")
        expect(page.get_by_test_id("turn-ended")).to_have_count(1)
        shoot(page, out, "conversation")

        page.get_by_test_id("new-conversation-button").click()
        page.get_by_test_id("create-form").wait_for()
        page.get_by_test_id("create-workspace").fill(str(workspace))
        page.get_by_test_id("create-message").fill("Add a discount to total()")
        shoot(page, out, "create")

        (tmp / "job").mkdir()  # a workspace of its own: the conversations above wrote NOTES.md
        job = sample_job(tmp / "acphost.db", sample_workspace(tmp / "job"))
        page.goto(f"{url}/#/jobs/{job}")
        expect(page.get_by_test_id("job-trial")).to_have_count(8)
        shoot(page, out, "jobs")
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
