"""Helpers for the web console's browser tests (no tests here).

Debian's Chromium driven by Playwright for Python (Playwright's own browser download cannot work
offline), against a real uvicorn serving the console bundle from the package and real fake
agents. ``scripts/web.sh`` installs Chromium when it is missing; without it the browser tests
skip, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from acphost.server import create_app
from test_server_support import KEY, WAIT, LiveServer

CHROMIUM = os.environ.get("ACPHOST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}

expect.set_options(timeout=WAIT * 1000)  # a busy machine; the pages take well under it


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/web.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """A real server with the packaged console; ``restart()`` keeps its port and store."""

    def __init__(self, store: Path, *, key: str | None = KEY, **options: Any) -> None:
        self.store = store
        self.key = key
        options.setdefault("conversation_options", {"cancel_grace": 2.0})
        self.options = options
        self.server = self._start(0)
        self.api = httpx.Client(
            base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=WAIT
        )

    def _start(self, port: int) -> LiveServer:
        app = create_app(
            api_key=self.key, store=self.store, allow_no_auth=self.key is None, **self.options
        )
        return LiveServer(app, port=port).start()

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        """A new server process state on the same port and store (stop() first)."""
        self.server = self._start(self.server.port)

    def close(self) -> None:
        self.api.close()
        if self.server.thread.is_alive():
            self.server.stop()

    def create(self, workspace: Path, **body: Any) -> str:
        """A conversation made over REST (``command``: a list, the fake agent's argv)."""
        command = body.pop("command", None)
        if command is not None:
            body["command"], body["args"] = command[0], command[1:]
        else:
            body.setdefault("agent", "demo")
        made = self.api.post("/api/conversations", json={"workspace": str(workspace), **body})
        assert made.status_code == 201, made.text
        conversation_id: str = made.json()["id"]
        return conversation_id

    def detail(self, conversation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get(f"/api/conversations/{conversation_id}").json()
        return body


@contextmanager
def console_server(store: Path, **options: Any) -> Iterator[Console]:
    console = Console(store, **options)
    try:
        yield console
    finally:
        console.close()


@contextmanager
def browser_page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (its own cookies) and one page, its waits bounded."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT * 1000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, console: Console, path: str = "/") -> None:
    """Open the console and sign in with the key on its sign-in page."""
    page.goto(console.url + path)
    assert console.key is not None
    page.get_by_test_id("signin-key").fill(console.key)
    page.get_by_test_id("signin-submit").click()
    page.get_by_test_id("conv-list").wait_for()
