"""Helpers for the server tests (no tests here): a real uvicorn in a thread, real clients.

Every wait is bounded, so a regression fails fast instead of hanging the suite.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from acphost.server import create_app
from acphost.server._app import WS_PROTOCOL

KEY = "test-key-0123456789"
WAIT = 8.0  # an upper bound for a busy machine; the tests take well under it


class LiveServer:
    """A real uvicorn on a free loopback port, running the app in a background thread."""

    def __init__(
        self,
        app: FastAPI,
        *,
        send_buffer: int | None = None,
        ping: float | None = None,
        port: int = 0,
    ) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if send_buffer is not None:  # inherited by accepted sockets: a constrained network
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.sock.bind(("127.0.0.1", port))  # a given port: a restarted server, same origin
        self.port = self.sock.getsockname()[1]
        # ``ping``: uvicorn's keepalive (interval and timeout), off unless a test needs it
        config = uvicorn.Config(
            app,
            log_level="warning",
            ws=WS_PROTOCOL,
            lifespan="on",
            ws_ping_interval=ping,
            ws_ping_timeout=ping,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop"


@contextmanager
def running(
    app: FastAPI, *, send_buffer: int | None = None, ping: float | None = None
) -> Iterator[LiveServer]:
    server = LiveServer(app, send_buffer=send_buffer, ping=ping).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def server_and_client(
    store: Any,
    *,
    key: str | None = KEY,
    send_buffer: int | None = None,
    ping: float | None = None,
    **options: Any,
) -> Iterator[tuple[LiveServer, httpx.Client]]:
    options.setdefault("conversation_options", {"cancel_grace": 2.0})
    app = create_app(api_key=key, store=store, allow_no_auth=key is None, **options)
    with running(app, send_buffer=send_buffer, ping=ping) as server:
        headers = {"X-API-Key": key} if key else {}
        with httpx.Client(base_url=server.url, headers=headers, timeout=WAIT) as client:
            yield server, client


def open_ws(
    server: LiveServer,
    conversation_id: str,
    after_seq: int | str | None = None,
    *,
    batch: str | None = None,
    **kwargs: Any,
) -> ClientConnection:
    path = f"/api/conversations/{conversation_id}/events"
    query = {"after_seq": after_seq, "batch": batch}
    if params := "&".join(f"{k}={v}" for k, v in query.items() if v is not None):
        path += f"?{params}"
    kwargs.setdefault("additional_headers", {"X-API-Key": KEY})
    ws: ClientConnection = connect(
        server.ws_url(path), open_timeout=WAIT, close_timeout=1, **kwargs
    )
    return ws


def receive_until(
    ws: ClientConnection,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = WAIT,
) -> list[dict[str, Any]]:
    """Every message until an *event* satisfies ``done`` (that one included)."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kinds = [e["kind"] for e in events_of(messages)]
            raise AssertionError(f"timed out; events so far: {kinds}")
        message = json.loads(ws.recv(timeout=remaining))
        messages.append(message)
        if any(done(event) for event in events_of([message])):
            return messages


def read_until_closed(
    ws: ClientConnection, *, timeout: float = WAIT
) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    """Every message left, and the close that ended them (fails if the socket stays open)."""
    deadline = time.monotonic() + timeout
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            messages.append(json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic()))))
        except ConnectionClosed as closed:
            return messages, closed
        except TimeoutError:
            break
    raise AssertionError("the WebSocket was not closed")


def events_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events in ``messages``, those of ``batch=true``'s ``events`` messages included."""
    events: list[dict[str, Any]] = []
    for message in messages:
        if message["type"] == "event":
            events.append(message["event"])
        elif message["type"] == "events":
            events.extend(message["events"])
    return events


def turn_ended(event: dict[str, Any]) -> bool:
    return bool(event["kind"] == "turn_ended")


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["kind"] == "status_changed" and event["status"] == status


def wait_until(condition: Callable[[], Any], *, timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


# The other process: a conversation on the same store, one turn per prompt, then detached (a
# host going away leaves it resumable). It prints the conversation's id before the first turn.
OTHER = """
import json, sys
from acphost import ACPAgent, Conversation
command, store, workspace, *prompts = sys.argv[1:]
conversation = Conversation(ACPAgent(json.loads(command)), workspace, store=store,
                            title="From elsewhere")
print(conversation.id, flush=True)
for prompt in prompts:
    conversation.run(prompt)
conversation.detach()
"""

# Its agent (the fake agent's Python scenario): a prompt starting with "gated" holds its turn
# open until the file named after the prompt exists in the workspace's parent, then makes a few
# more events.
OTHER_AGENT = """
import asyncio, os

async def scenario(ctx, prompt):
    await ctx.tool_call("t1", "Working", status="in_progress")
    gate = os.path.join(os.path.dirname(ctx.cwd), prompt + ".open")
    while prompt.startswith("gated") and not os.path.exists(gate):
        await asyncio.sleep(0.01)
    for i in range(20):
        await ctx.tool_call(f"s{i}", f"step {i}", status="completed")
    await ctx.tool_update("t1", status="completed")
    await ctx.text(f"done: {prompt}")
    return "end_turn"
"""


class Other:
    """A process other than the server driving one conversation on its store (``OTHER``)."""

    def __init__(self, process: subprocess.Popen[str], gates: Path) -> None:
        self.process = process
        self.gates = gates
        assert process.stdout is not None
        self.id = process.stdout.readline().strip()
        assert self.id, process.stderr.read() if process.stderr else "no id"

    def open(self, prompt: str) -> None:
        (self.gates / f"{prompt}.open").touch()

    def wait(self) -> None:
        _, err = self.process.communicate(timeout=WAIT * 2)
        assert self.process.returncode == 0, err


@contextmanager
def other_processes(
    store: Path, workspace: Path, agent: list[str]
) -> Iterator[Callable[..., Other]]:
    """Start other processes (each on ``prompts``) driving ``agent`` on ``store``; those still
    running on leaving are killed."""
    started: list[subprocess.Popen[str]] = []

    def start(*prompts: str) -> Other:
        argv = [sys.executable, "-c", OTHER, json.dumps(agent), str(store), str(workspace)]
        process = subprocess.Popen(
            [*argv, *prompts], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        return Other(process, workspace.parent)

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=WAIT)


def stored_kinds(client: httpx.Client, cid: str) -> list[str]:
    page = client.get(f"/api/conversations/{cid}/events", params={"limit": 1000})
    return [event["kind"] for event in page.json()["events"]] if page.status_code == 200 else []


@contextmanager
def mid_turn(client: httpx.Client, start: Callable[..., Other], *prompts: str) -> Iterator[Other]:
    """The other process, once its first (gated) turn stored its first tool call."""
    other = start(*prompts)
    wait_until(lambda: "tool_call" in stored_kinds(client, other.id), what="the other's turn")
    yield other
