"""The WebSocket event stream: order, resume by seq, slow clients, and its handshake checks."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from acphost.server._hub import Outgoing, Subscriber
from acphost.testing import Scenario, fake_agent_command
from test_server_support import (
    WAIT,
    LiveServer,
    events_of,
    open_ws,
    read_until_closed,
    receive_until,
    server_and_client,
    status_is,
)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "acphost.db"


def create_with(client: httpx.Client, scenario: Scenario, workspace: Path) -> str:
    command, *args = fake_agent_command(scenario, directory=workspace.parent)
    body = {"command": command, "args": args, "workspace": str(workspace)}
    response = client.post("/api/conversations", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def chatty(steps: int, *, payload: int = 0, pause: float = 0.005) -> Scenario:
    """A turn of many tool calls spread over time (each ``payload`` bytes of raw input)."""
    scenario = Scenario("chatty").turn()
    for i in range(steps):
        scenario.tool_call(f"t{i}", title=f"step {i}", status="completed", raw_input="x" * payload)
        scenario.sleep(pause)
    return scenario.text("done").stop()


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["seq"]) for e in events]


def test_resume_from_after_seq_has_no_gap_and_no_duplicate(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, chatty(40), workspace)
        with open_ws(server, cid) as whole:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            # join while the turn runs: the backlog and live events race, by design
            first = events_of(receive_until(whole, lambda e: e["seq"] >= 15))
            with open_ws(server, cid, after_seq=7) as late:
                with open_ws(server, cid) as cut:
                    part = events_of(receive_until(cut, lambda e: e["seq"] >= 20))
                last_seen = part[-1]["seq"]
                with open_ws(server, cid, after_seq=last_seen) as resumed:
                    rest = events_of(receive_until(resumed, status_is("idle")))
                tail = events_of(receive_until(late, status_is("idle")))
            everything = first + events_of(receive_until(whole, status_is("idle")))
        final = everything[-1]["seq"]
        assert seqs(everything) == list(range(1, final + 1))
        assert seqs(tail) == list(range(8, final + 1))
        assert seqs(part) + seqs(rest) == list(range(1, final + 1))
        stored = client.get(f"/api/conversations/{cid}/events", params={"limit": 1000}).json()
        assert [e["id"] for e in stored["events"]] == [e["id"] for e in everything]
        # a client that reconnects after the end gets nothing twice, then follows live
        with open_ws(server, cid, after_seq=final) as idle:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "again"})
            more = events_of(receive_until(idle, status_is("idle")))
        assert more[0]["seq"] == final + 1
        assert more[0]["kind"] == "user_message"


def slow_socket(server: LiveServer) -> socket.socket:
    """A connected socket with a tiny receive buffer, so backpressure reaches the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    return sock


def test_a_slow_subscriber_is_disconnected_while_another_keeps_up(
    store_path: Path, workspace: Path
) -> None:
    # Small socket buffers on both ends (a constrained network) make the slow reader's backlog
    # reach the server after a few events; it is dropped once 32 events behind for 0.5 s,
    # which a reader that keeps up never is, even on a busy machine.
    options: dict[str, Any] = {"ws_queue_size": 32, "ws_max_lag": 0.5, "send_buffer": 32_768}
    with server_and_client(store_path, **options) as (server, client):
        cid = create_with(client, chatty(200, payload=32_000, pause=0.005), workspace)
        # no compression: the payloads must take real room in the socket buffers
        slow_options: dict[str, Any] = {
            "sock": slow_socket(server),
            "max_queue": 1,
            "compression": None,
        }
        with (
            open_ws(server, cid, max_size=None, **slow_options) as slow,
            open_ws(server, cid, max_size=None) as fast,
        ):
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            got = events_of(receive_until(fast, status_is("idle"), timeout=2 * WAIT))
            assert seqs(got) == list(range(1, got[-1]["seq"] + 1))
            # the slow one now reads what was buffered for it, then finds the close code
            received, closed = read_until_closed(slow)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4008
        assert "after_seq" in closed.rcvd.reason
        partial = events_of(received)
        assert len(partial) < len(got)
        resume_at = partial[-1]["seq"] if partial else 0
        assert closed.rcvd.reason.endswith(f"after_seq={resume_at}")
        with open_ws(server, cid, after_seq=resume_at, max_size=None) as again:
            rest = events_of(receive_until(again, lambda e: e["seq"] == got[-1]["seq"]))
        assert seqs(partial) + seqs(rest) == seqs(got)


def test_the_handshake_checks_key_conversation_and_after_seq(store_path: Path) -> None:
    with server_and_client(store_path) as (server, client):
        cid = client.post(
            "/api/conversations", json={"agent": "echo", "workspace": str(store_path.parent)}
        ).json()["id"]
        for headers, after_seq, status in [
            ({}, None, 401),
            ({"X-API-Key": "wrong"}, None, 401),
            (None, "-1", 422),
            (None, "abc", 422),
            (None, "1", 400),  # nothing stored yet: a cursor from elsewhere
        ]:
            kwargs: dict[str, Any] = {} if headers is None else {"additional_headers": headers}
            with pytest.raises(InvalidStatus) as refused:
                open_ws(server, cid, after_seq, **kwargs)
            assert refused.value.response.status_code == status
            assert json.loads(refused.value.response.body or b"{}")["code"]
        with pytest.raises(InvalidStatus) as missing:
            open_ws(server, "nope")
        assert missing.value.response.status_code == 404
        bearer = {"Authorization": "Bearer test-key-0123456789"}
        with open_ws(server, cid, additional_headers=bearer) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "hi there"})
            messages = receive_until(ws, status_is("idle"))
        tokens = "".join(m["text"] for m in messages if m["type"] == "token")
        assert "hi there" in tokens


def test_a_burst_is_no_reason_to_drop_a_reader_but_lag_and_size_are() -> None:
    burst = Subscriber(limit=4, max_lag=1.0)
    for seq in range(1, 20):  # one delivery batch: every message is fresh
        burst.push(Outgoing(seq, "{}", at=100.0))
    assert burst.kicked is False
    assert len(burst.items) == 19

    stalled = Subscriber(limit=4, max_lag=1.0)
    for seq in range(1, 5):
        stalled.push(Outgoing(seq, "{}", at=100.0))
    stalled.push(Outgoing(5, "{}", at=100.5))  # over the count, but young
    assert stalled.kicked is False
    stalled.push(Outgoing(6, "{}", at=101.0))  # over the count for max_lag: too slow
    assert stalled.kicked is True
    assert not stalled.items

    huge = Subscriber(limit=2, max_lag=60.0)
    for seq in range(1, 17):
        huge.push(Outgoing(seq, "{}", at=0.0))
    assert huge.kicked is False
    huge.push(Outgoing(17, "{}", at=0.0))
    assert huge.kicked is True  # more than 8 x limit, however fresh

    tokens = Subscriber(limit=1, max_lag=0.0)
    for text in ("a", "b", "c"):
        tokens.push(Outgoing(0, token=text))
    assert [item.token for item in tokens.items] == ["abc"]
    assert tokens.kicked is False
