"""The WebSocket event stream: order, resume by seq, slow clients, and its handshake checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from acphost.server._hub import (
    BATCH_CHARS,
    CATCH_UP,
    PAGE,
    Hub,
    Outgoing,
    Pacer,
    Subscriber,
    batch_messages,
    event_message,
    token_message,
)
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
            got = events_of(receive_until(paused, lambda e: e["seq"] == final))
            # (its sender finds out when it next sends, which may be after the turn's end)
            assert logged(caplog, "fell behind")
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


def test_many_subscribers_fast_and_slow_each_get_every_event_once_in_order(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="acphost.server")
    # A log of 64 messages: the slow readers fall off it again and again during the storm
    # and catch up from the store; the pacer holds every sender while the turn runs.
    options: dict[str, Any] = {"ws_queue_size": 64, "send_buffer": 32_768}
    with (
        server_and_client(store_path, **options) as (server, client),
        contextlib.ExitStack() as stack,
    ):
        cid = create_with(client, storm(1500).turn().text("again").stop(), workspace)
        readers: list[Any] = []
        for i in range(12):
            slow = i % 2 == 1
            kwargs = {"sock": slow_socket(server), **SLOW_CLIENT} if slow else {"max_size": None}
            readers.append(stack.enter_context(open_ws(server, cid, **kwargs)))
        results: dict[int, list[int]] = {}

        def read(i: int) -> None:
            got = events_of(receive_until(readers[i], status_is("idle"), timeout=4 * WAIT))
            results[i] = seqs(got)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(readers))]
        for thread in threads:
            thread.start()
        client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
        for thread in threads:
            thread.join(6 * WAIT)
        final = wait_idle(client, cid)
    assert logged(caplog, "fell behind")  # the store path was taken
    assert sorted(results) == list(range(12))
    for i, got in results.items():
        assert got == list(range(1, final + 1)), f"reader {i}: gap or duplicate"


@pytest.mark.parametrize("batch", [None, "true"])
def test_a_client_that_stops_reading_is_closed_and_resumes_without_loss(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture, batch: str | None
) -> None:
    # A send blocked for max_lag means the client stopped reading: it is closed with 4008, while
    # a reader that keeps up is never closed. That reader's library buffers without bound, so a
    # test thread slowed by a busy machine never stops it reading; max_lag (2 s, the default is
    # 5 s) leaves room for a starved thread.
    caplog.set_level(logging.INFO, logger="acphost.server")
    max_lag = 2.0
    options: dict[str, Any] = {"ws_queue_size": 32, "ws_max_lag": max_lag, "send_buffer": 32_768}
    with server_and_client(store_path, **options) as (server, client):
        cid = create_with(client, storm(4000), workspace)
        with (
            open_ws(server, cid, batch=batch, sock=slow_socket(server), **SLOW_CLIENT) as stuck,
            open_ws(server, cid, batch=batch, max_size=None, max_queue=None) as fast,
        ):
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            got = events_of(receive_until(fast, status_is("idle"), timeout=2 * WAIT))
            final = got[-1]["seq"]
            assert seqs(got) == list(range(1, final + 1))
            deadline = time.monotonic() + WAIT
            while not (closes := logged(caplog, "stuck")):
                assert time.monotonic() < deadline, "the stuck client was not closed"
                time.sleep(0.02)
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
        with open_ws(server, cid, after_seq=resume_at, batch=batch, max_size=None) as again:
            resumed = receive_until(again, lambda e: e["seq"] == final)
        rest = events_of(resumed)
        assert seqs(partial) + seqs(rest) == list(range(1, final + 1))
        assert (len(resumed) < len(rest)) == bool(batch)  # batched: fewer messages than events


def batches(messages: list[dict[str, Any]]) -> list[list[int]]:
    """The seqs of each ``events`` message."""
    return [seqs(m["events"]) for m in messages if m["type"] == "events"]


def test_batches_give_every_event_once_in_order_to_a_paused_reader_and_a_resume_mid_page(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As the paused reader above, in batch mode: what it missed comes from the store's pages.
    caplog.set_level(logging.DEBUG, logger="acphost.server")
    options: dict[str, Any] = {"ws_queue_size": 8, "ws_max_lag": 2 * WAIT, "send_buffer": 32_768}
    with server_and_client(store_path, **options) as (server, client):
        cid = create_with(client, storm(2000).turn().text("again").stop(), workspace)
        with open_ws(server, cid, batch="true", sock=slow_socket(server), **SLOW_CLIENT) as paused:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            final = wait_idle(client, cid)
            messages = receive_until(paused, lambda e: e["seq"] == final)
            assert logged(caplog, "fell behind")
            assert seqs(events_of(messages)) == list(range(1, final + 1))
            assert len(messages) < final / 10  # batched
            client.post(f"/api/conversations/{cid}/messages", json={"text": "again"})
            more = events_of(receive_until(paused, status_is("idle")))
            end = wait_idle(client, cid)
            assert seqs(more) == list(range(final + 1, end + 1))
        # a resume in the middle of a page: the rest of that page, then whole pages
        stored = client.get(f"/api/conversations/{cid}/events", params={"limit": 1000}).json()
        with open_ws(server, cid, after_seq=PAGE + 277, batch="true", max_size=None) as late:
            resumed = receive_until(late, lambda e: e["seq"] == end)
        assert seqs(events_of(resumed)) == list(range(PAGE + 278, end + 1))
        assert batches(resumed)[:2] == [
            list(range(PAGE + 278, 2 * PAGE + 1)),
            list(range(2 * PAGE + 1, 3 * PAGE + 1)),
        ]
        # each event as the store (and the one-event-per-message wire) has it
        assert events_of(resumed)[: 1000 - PAGE - 277] == stored["events"][PAGE + 277 :]


def test_batched_tokens_keep_their_place_and_the_other_wires_send_one_event_per_message(
    store_path: Path, workspace: Path
) -> None:
    scenario = Scenario("words").turn().text("ready").stop().turn()
    for i in range(30):
        scenario.text(f"say {i} ", chunks=3).tool_call(f"t{i}", title=f"step {i}")
        scenario.thought(f"think {i} ", chunks=2).tool_call(f"u{i}", title="u", status="completed")
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario.text("done").stop(), workspace)
        client.post(f"/api/conversations/{cid}/messages", json={"text": "ready?"})
        last = wait_idle(client, cid)
        wires = {"plain": None, "off": "false", "on": "true"}
        with contextlib.ExitStack() as stack:
            sockets = {
                name: stack.enter_context(open_ws(server, cid, after_seq=last - 1, batch=batch))
                for name, batch in wires.items()
            }
            for ws in sockets.values():  # each has read the store: the rest is live
                receive_until(ws, lambda e: e["seq"] == last)
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            got = {name: receive_until(ws, status_is("idle")) for name, ws in sockets.items()}
    for name in ("plain", "off"):
        assert {m["type"] for m in got[name]} == {"event", "token"}, name
    assert max(map(len, batches(got["on"])), default=0) > 1
    flat = {name: in_order(messages) for name, messages in got.items()}
    assert flat["on"] == flat["plain"] == flat["off"]
    assert any(kind == "thought" for kind, _ in flat["on"])


def in_order(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Events (by seq) and the text streamed between them, adjacent deltas of a kind joined."""
    out: list[tuple[str, Any]] = []
    for message in messages:
        if message["type"] == "token":
            kind = "thought" if message["thought"] else "text"
            if out and out[-1][0] == kind:
                out[-1] = (kind, out[-1][1] + message["text"])
            else:
                out.append((kind, message["text"]))
        else:
            out.extend(("event", e["seq"]) for e in events_of([message]))
    return out


def test_a_client_that_never_reads_again_still_gets_4008_not_the_keepalive_1011(
    store_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The close must not wait for the client to read: queued behind what it has not read, it
    # is the code the client finds. Waiting let uvicorn's keepalive (whose ping the client
    # never reads either) close the connection with 1011 first.
    caplog.set_level(logging.DEBUG, logger="acphost.server")
    options: dict[str, Any] = {"ws_queue_size": 32, "ws_max_lag": 0.3, "send_buffer": 32_768}
    with server_and_client(store_path, ping=2.0, **options) as (server, client):
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
            (None, "0&batch=yes", 422),
            (None, "0&batch=", 422),
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


async def taken(sub: Subscriber, limit: int) -> list[int]:
    batch = await sub.get(limit)
    assert isinstance(batch, list), batch
    return [m.seq for m in batch]


def hub_with(size: int) -> Hub:
    return Hub(asyncio.new_event_loop(), size)


def test_every_subscriber_reads_one_shared_log_and_falls_to_the_store_past_its_size() -> None:
    hub = hub_with(4)
    early = hub.subscribe()

    async def scenario() -> None:
        for seq in (1, 2, 3):
            hub._publish(Outgoing(seq, "{}"))
        late = hub.subscribe()  # joins at the log's end
        hub._publish(Outgoing(4, "{}"))
        assert await taken(early, 2) == [1, 2]
        assert await taken(early, 10) == [3, 4]
        assert await taken(late, 10) == [4]
        for seq in range(5, 13):  # 8 more: twice the size, so the log is trimmed to 4
            hub._publish(Outgoing(seq, "{}"))
        assert len(hub.log) == 4
        assert await early.get(10) is CATCH_UP  # what it missed is in the store
        early.skip_through(10)  # the store sent up to 10
        assert await taken(early, 10) == [11, 12]
        got = asyncio.ensure_future(early.get(10))
        await asyncio.sleep(0)
        assert not got.done()  # waits for more
        hub._publish(Outgoing(13, "{}"))
        batch = await asyncio.wait_for(got, 1.0)
        assert isinstance(batch, list)
        assert [m.seq for m in batch] == [13]
        hub.close_all(1001, "bye")
        assert await early.get(10) is None

    asyncio.run(scenario())
    hub.loop.close()


def test_what_the_store_already_sent_is_skipped_with_the_tokens_before_it() -> None:
    hub = hub_with(100)
    sub = hub.subscribe()
    for item in [
        Outgoing(0, token="stale"),
        Outgoing(4, "{}"),
        Outgoing(0, token="old", thought=True),
        Outgoing(5, "{}"),
        Outgoing(0, token="fresh"),
        Outgoing(6, "{}"),
    ]:
        hub._publish(item)
    sub.skip_through(5)  # 4 and 5 were sent from the store
    assert [(m.seq, m.token) for m in hub.log[sub.cursor - hub.base :]] == [(0, "fresh"), (6, "")]
    sub.skip_through(5)
    assert sub.cursor == hub.end - 2
    hub.loop.close()


def test_the_pacer_holds_senders_only_while_a_turn_is_driven() -> None:
    async def scenario() -> tuple[bool, bool]:
        pacer = Pacer(share=0.5)
        idle = asyncio.ensure_future(pacer.pace(60.0))
        await asyncio.sleep(0)
        free = idle.done()  # no turn: the fan-out goes at full speed
        with pacer.turn():
            driving = asyncio.ensure_future(pacer.pace(60.0))
            await asyncio.sleep(0)
            held = not driving.done()  # a turn: the sender repays the loop time it took
        await asyncio.wait_for(driving, WAIT)  # the turn is over: catch up at once
        return free, held

    assert asyncio.run(scenario()) == (True, True)


def test_the_pacer_wakes_senders_together_once_per_tick_during_a_turn() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        pacer = Pacer(share=1.0, interval=3600.0)  # no debt: only the tick holds a sender
        with pacer.turn():
            first = asyncio.ensure_future(pacer.pace(0.0))
            second = asyncio.ensure_future(pacer.pace(0.0))
            gone = asyncio.ensure_future(pacer.pace(0.0))
            for _ in range(3):
                await asyncio.sleep(0)
            held = not (first.done() or second.done())  # even a free batch waits for the tick
            gone.cancel()  # a sender that goes away does not disturb the others' wait
            await asyncio.sleep(0)
            others_waiting = not (first.done() or second.done())
        # the turn's end is the tick everyone waits for: all are released at once
        await asyncio.wait_for(asyncio.gather(first, second), WAIT)
        fast = Pacer(share=1.0, interval=0.001)
        with fast.turn():  # a tick comes without the turn ending
            await asyncio.wait_for(fast.pace(0.0), WAIT)
            still = fast.driving == 1
        return held, others_waiting, still

    assert asyncio.run(scenario()) == (True, True, True)


def test_a_whole_page_is_batched_once_for_every_subscriber() -> None:
    hub = hub_with(100)
    hub.subscribe()
    page = [Outgoing(seq, event_message(f'{{"seq":{seq}}}')) for seq in range(1, PAGE + 1)]
    hub._pages[0] = page
    first = hub.batched(page)
    assert hub.batched(list(page)) is first  # made once: one compression for all
    assert [json.loads(m.payload)["events"][-1]["seq"] for m in first] == [PAGE]
    assert hub.batched(page[1:]) is not hub.batched(page[1:])  # a partial page is its own
    assert hub.batched(page[1:])[0].payload == first[0].payload.replace('{"seq":1},', "", 1)
    hub.unsubscribe(next(iter(hub.subscribers)))
    assert hub.batched(page) is not first  # nobody left: nothing kept
    hub.loop.close()


def test_a_batch_breaks_at_token_deltas_and_at_its_size() -> None:
    big = "x" * (BATCH_CHARS // 4)  # four with their envelopes are just over
    items = [
        Outgoing(1, event_message("1")),
        Outgoing(2, event_message("2")),
        Outgoing(0, token_message("hi", False)),
        Outgoing(3, event_message("3")),  # alone: its own (shared) message
        Outgoing(0, token_message("ho", True)),
        *(Outgoing(seq, event_message(f'"{big}"')) for seq in range(4, 8)),
    ]
    out = batch_messages(items)
    assert [i for i, m in enumerate(out) if any(m is x for x in items)] == [1, 2, 3, 5]
    assert [json.loads(m.payload)["type"] for m in out] == [
        "events",
        "token",
        "event",
        "token",
        "events",
        "event",
    ]
    assert json.loads(out[0].payload)["events"] == [1, 2]
    assert [len(json.loads(m.payload).get("events", [0])) for m in out[4:]] == [3, 1]
    assert [m.seq for m in out] == [2, 0, 3, 0, 6, 7]
