"""The live conversation list: ``WS /api/conversations/changes`` over a real server."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from test_server_support import KEY, WAIT, LiveServer, read_until_closed, server_and_client
from test_server_ws import SLOW_CLIENT, create_with, logged, slow_socket, storm, wait_idle

Row = dict[str, Any]


def open_feed(server: LiveServer, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("additional_headers", {"X-API-Key": KEY})
    feed: ClientConnection = connect(
        server.ws_url("/api/conversations/changes"), open_timeout=WAIT, close_timeout=1, **kwargs
    )
    return feed


def feed_until(
    feed: ClientConnection, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Every message until one satisfies ``done`` (that one included)."""
    deadline = time.monotonic() + 2 * WAIT
    messages: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out; messages so far: {messages}")
        message = json.loads(feed.recv(timeout=remaining))
        messages.append(message)
        if done(message):
            return messages


def row_of(cid: str, check: Callable[[Row], bool] = lambda row: True) -> Callable[[Any], bool]:
    def matches(message: dict[str, Any]) -> bool:
        if message["type"] != "conversation" or message["conversation"]["id"] != cid:
            return False
        return check(message["conversation"])

    return matches


def ends_where_the_list_is(
    feed: ClientConnection, client: httpx.Client, seen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Read until the last row of the first listed conversation is the one the list shows."""
    listed = client.get("/api/conversations").json()["conversations"][0]
    rows = [m["conversation"] for m in seen if m.get("conversation", {}).get("id") == listed["id"]]
    if rows and rows[-1] == listed:
        return []
    return feed_until(feed, lambda m: m.get("conversation") == listed)


def settled(row: Row) -> bool:
    return row["status"] == "idle" and not row["running"]


def test_creation_changes_and_deletion_arrive_as_rows_like_the_list(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path) as (server, client), open_feed(server) as feed:
        body = {"agent": "demo", "workspace": str(workspace), "permission": "ask"}
        first = client.post("/api/conversations", json={**body, "title": "First"}).json()["id"]
        # nothing historical: the first message is about the conversation made after connecting
        got = feed_until(feed, lambda m: True)[0]
        assert got["type"] == "conversation"
        assert got["conversation"]["id"] == first
        assert got["conversation"]["title"] == "First"

        client.post(f"/api/conversations/{first}/messages", json={"text": "write the notes"})
        asking = feed_until(feed, row_of(first, lambda row: row["pending_permission_count"] == 1))
        assert asking[-1]["conversation"]["running"]
        request_id = client.get(f"/api/conversations/{first}").json()["pending_permissions"][0]
        answer = {"decision": "allow_once"}
        answered = client.post(
            f"/api/conversations/{first}/permissions/{request_id['request_id']}", json=answer
        )
        assert answered.status_code == 200, answered.text
        seen = feed_until(
            feed, row_of(first, lambda row: settled(row) and not row["pending_permission_count"])
        )
        ends_where_the_list_is(feed, client, seen)

        assert client.delete(f"/api/conversations/{first}").status_code == 204
        gone = feed_until(feed, lambda m: m["type"] == "deleted")[-1]
        assert gone == {"type": "deleted", "id": first}


def test_a_storm_is_a_handful_of_messages_not_a_second_event_stream(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path) as (server, client), open_feed(server) as feed:
        cid = create_with(client, storm(3000), workspace)
        client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
        final = wait_idle(client, cid)
        messages = feed_until(feed, row_of(cid, settled))
        messages += ends_where_the_list_is(feed, client, messages)
        assert all(m["conversation"]["id"] == cid for m in messages)
        assert final > 9000  # three events a tool call
        assert len(messages) < final / 100, f"{len(messages)} messages for {final} events"


def test_the_feed_needs_the_key_or_a_session_from_this_site(store_path: Path) -> None:
    with server_and_client(store_path) as (server, _):
        for headers, status in [
            ({}, 401),
            ({"X-API-Key": "wrong"}, 401),
            ({"Origin": "http://evil.example", "X-API-Key": KEY}, 403),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                open_feed(server, additional_headers=headers)
            assert refused.value.response.status_code == status
            assert json.loads(refused.value.response.body or b"{}")["code"]
        with open_feed(server, additional_headers={"Authorization": f"Bearer {KEY}"}):
            pass


def test_a_client_that_stops_reading_is_closed_with_4008(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Rows of long, incompressible titles fill the socket buffers of a client that never
    # reads; its send stays blocked for max_lag, so it is closed, while the server goes on.
    caplog.set_level(logging.INFO, logger="acphost.server")
    with (
        server_and_client(store_path, ws_max_lag=0.3, send_buffer=32_768) as (server, client),
        open_feed(server, sock=slow_socket(server), **SLOW_CLIENT) as stuck,
    ):
        deadline = time.monotonic() + 4 * WAIT
        made = 0
        while not logged(caplog, "stuck conversation feed"):
            assert time.monotonic() < deadline, f"not closed after {made} conversations"
            body = {"agent": "echo", "workspace": str(workspace), "title": os.urandom(250).hex()}
            assert client.post("/api/conversations", json=body).status_code == 201
            made += 1
        received, closed = read_until_closed(stuck, timeout=2 * WAIT)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4008
        assert "GET /api/conversations" in closed.rcvd.reason
        assert received  # what was buffered before the close
        # a new client is served as usual (its library reads without bound: max_lag is short)
        with open_feed(server, max_queue=None) as again:
            made_now = client.post(
                "/api/conversations", json={"agent": "echo", "workspace": str(workspace)}
            ).json()["id"]
            # (rows of the earlier ones may come first: the server detaches them, max_live)
            seen = feed_until(again, lambda m: m.get("conversation", {}).get("id") == made_now)
            assert seen[-1]["type"] == "conversation"
