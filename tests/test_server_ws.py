"""The WebSocket event stream: order, resume by seq, slow clients, and its handshake checks."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from acphost.server._hub import CATCH_UP, Outgoing, Subscriber
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


def storm(calls: int) -> Scenario:
    """A turn of ``calls`` tool calls sent as fast as the agent can (three events each)."""
    return Scenario("storm").turn().storm("tool_call", calls).text("done").stop()


def wait_idle(client: httpx.Client, cid: str) -> int:
    """Poll until the turn is over; returns the conversation's last seq."""
    deadline = time.monotonic() + WAIT
    while True:
        detail = client.get(f"/api/conversations/{cid}").json()
        if not detail["running"] and detail["status"] == "idle":
            return int(detail["last_seq"])
        assert time.monotonic() < deadline, f"the turn did not end: {detail['status']}"
        time.sleep(0.02)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in list(caplog.records) if text in r.getMessage()]


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


# No compression: the payloads must take real room in the socket buffers. A client library
# queue of one message and a tiny receive buffer make backpressure reach the server at once.
SLOW_CLIENT: dict[str, Any] = {"max_queue": 1, "compression": None, "max_size": None}


def test_a_reader_that_pauses_in_a_storm_catches_up_from_the_store(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Its queue overflows (8 x 8 messages while its send is blocked), so what it missed comes
    # from the store; the pause is far below max_lag, so it is never closed.
    caplog.set_level(logging.DEBUG, logger="acphost.server")
    options: dict[str, Any] = {"ws_queue_size": 8, "ws_max_lag": 2 * WAIT, "send_buffer": 32_768}
    with server_and_client(store_path, **options) as (server, client):
        cid = create_with(client, storm(2000).turn().text("again").stop(), workspace)
        with open_ws(server, cid, sock=slow_socket(server), **SLOW_CLIENT) as paused:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            # not reading until the turn is over: the overflow is at its very end, and no
            # live event follows it to reveal the gap
            final = wait_idle(client, cid)
            assert logged(caplog, "fell behind")
            got = events_of(receive_until(paused, lambda e: e["seq"] == final))
            assert seqs(got) == list(range(1, final + 1))
            assert got[-1]["kind"] == "status_changed"
            # caught up, it follows live again
            client.post(f"/api/conversations/{cid}/messages", json={"text": "again"})
            more = events_of(receive_until(paused, status_is("idle")))
            assert seqs(more) == list(range(final + 1, more[-1]["seq"] + 1))
            assert more[-1]["seq"] == wait_idle(client, cid)
            with pytest.raises(TimeoutError):  # still open
                paused.recv(timeout=0.2)
        assert not logged(caplog, "stuck")


def test_a_client_that_stops_reading_is_closed_and_resumes_without_loss(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A send blocked for max_lag (0.5 s) means the client stopped reading: it is closed with
    # 4008 long before the storm's end, while a reader that keeps up is never closed.
    caplog.set_level(logging.INFO, logger="acphost.server")
    max_lag = 0.5
    options: dict[str, Any] = {"ws_queue_size": 32, "ws_max_lag": max_lag, "send_buffer": 32_768}
    with server_and_client(store_path, **options) as (server, client):
        cid = create_with(client, storm(4000), workspace)
        with (
            open_ws(server, cid, sock=slow_socket(server), **SLOW_CLIENT) as stuck,
            open_ws(server, cid, max_size=None) as fast,
        ):
            posted = time.time()
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            got = events_of(receive_until(fast, status_is("idle"), timeout=2 * WAIT))
            final = got[-1]["seq"]
            assert seqs(got) == list(range(1, final + 1))
            deadline = time.monotonic() + WAIT
            while not (closes := logged(caplog, "stuck")):
                assert time.monotonic() < deadline, "the stuck client was not closed"
                time.sleep(0.02)
            assert max_lag <= closes[0].created - posted < max_lag + 3.0
            # it now reads what was buffered for it, then finds the close code
            received, closed = read_until_closed(stuck)
            with pytest.raises(TimeoutError):  # the reader that kept up is still open
                fast.recv(timeout=0.2)
        assert len(closes) == 1
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4008
        partial = events_of(received)
        assert 0 < len(partial) < final
        resume_at = partial[-1]["seq"]
        assert closed.rcvd.reason == f"too slow: reconnect with after_seq={resume_at}"
        with open_ws(server, cid, after_seq=resume_at, max_size=None) as again:
            rest = events_of(receive_until(again, lambda e: e["seq"] == final))
        assert seqs(partial) + seqs(rest) == list(range(1, final + 1))


def test_a_client_that_never_reads_again_still_gets_4008_not_the_keepalive_1011(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The close must not wait for the client to read: queued behind what it has not read, it
    # is the code the client finds. Waiting let uvicorn's keepalive (whose ping the client
    # never reads either) close the connection with 1011 first.
    caplog.set_level(logging.DEBUG, logger="acphost.server")
    options: dict[str, Any] = {"ws_queue_size": 32, "ws_max_lag": 0.3, "send_buffer": 32_768}
    with server_and_client(store_path, ping=1.0, **options) as (server, client):
        cid = create_with(client, storm(4000), workspace)
        with open_ws(server, cid, sock=slow_socket(server), **SLOW_CLIENT) as stuck:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            deadline = time.monotonic() + WAIT
            while not logged(caplog, "closed the event stream"):
                assert time.monotonic() < deadline, "the close waited for the client to read"
                time.sleep(0.02)
            received, closed = read_until_closed(stuck, timeout=2 * WAIT)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4008, closed
        resume_at = events_of(received)[-1]["seq"]
        assert closed.rcvd.reason == f"too slow: reconnect with after_seq={resume_at}"


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


def test_a_burst_stays_queued_but_lag_and_size_send_the_reader_to_the_store() -> None:
    burst = Subscriber(limit=4, max_lag=1.0)
    for seq in range(1, 20):  # one delivery batch: every message is fresh
        burst.push(Outgoing(seq, "{}", at=100.0))
    assert burst.behind is False
    assert len(burst.items) == 19

    stalled = Subscriber(limit=4, max_lag=1.0)
    for seq in range(1, 5):
        stalled.push(Outgoing(seq, "{}", at=100.0))
    stalled.push(Outgoing(5, "{}", at=100.5))  # over the count, but young
    assert stalled.behind is False
    stalled.push(Outgoing(6, "{}", at=101.0))  # over the count for max_lag: behind
    assert stalled.behind is True
    assert not stalled.items  # the memory is freed at once

    huge = Subscriber(limit=2, max_lag=60.0)
    for seq in range(1, 17):
        huge.push(Outgoing(seq, "{}", at=0.0))
    assert huge.behind is False
    huge.push(Outgoing(17, "{}", at=0.0))
    assert huge.behind is True  # more than 8 x limit, however fresh

    tokens = Subscriber(limit=1, max_lag=0.0)
    for text in ("a", "b", "c"):
        tokens.push(Outgoing(0, token=text))
    assert [item.token for item in tokens.items] == ["abc"]
    assert tokens.behind is False


def test_after_an_overflow_the_reader_is_told_to_catch_up_then_follows_live() -> None:
    async def scenario() -> list[Outgoing | None]:
        sub = Subscriber(limit=1, max_lag=0.0)
        sub.push(Outgoing(1, "{}", at=0.0))
        sub.push(Outgoing(2, "{}", at=0.0))  # overflow: 1 and 2 are dropped
        sub.push(Outgoing(3, "{}", at=0.0))  # behind: dropped too (the store has it)
        sub.push(Outgoing(0, token="lost"))  # token deltas are not stored: lost
        got = [await asyncio.wait_for(sub.get(), 1.0)]
        sub.push(Outgoing(4, "{}", at=0.0))  # after CATCH_UP: queued again
        got.append(await asyncio.wait_for(sub.get(), 1.0))
        sub.close(1001, "bye")
        got.append(await asyncio.wait_for(sub.get(), 1.0))
        return got

    caught_up, live, closed = asyncio.run(scenario())
    assert caught_up is CATCH_UP
    assert live is not None
    assert live.seq == 4
    assert closed is None


def test_what_the_store_already_sent_leaves_the_queue_with_the_tokens_before_it() -> None:
    sub = Subscriber(limit=100, max_lag=60.0)
    for item in [
        Outgoing(0, token="stale"),
        Outgoing(4, "{}"),
        Outgoing(0, token="old", thought=True),
        Outgoing(5, "{}"),
        Outgoing(0, token="fresh"),
        Outgoing(6, "{}"),
    ]:
        sub.push(item)
    sub.drop_through(5)  # 4 and 5 were sent from the store
    assert [(item.seq, item.token) for item in sub.items] == [(0, "fresh"), (6, "")]
    sub.drop_through(5)
    assert len(sub.items) == 2
