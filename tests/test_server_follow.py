"""The server follows what another process writes to its store (issue 14): the change feed
sends that process's rows, and an event stream of a conversation it drives gets every event as
it is stored. Each test runs a real second Python process with a real fake agent on the same
SQLite file; its turn waits on a file the test creates, so the stream is joined mid-turn."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection

from acphost.store import ConversationRecord, SQLiteStore
from test_server_changes import feed_until, open_feed, row_of
from test_server_support import (
    OTHER_AGENT,
    WAIT,
    LiveServer,
    Other,
    events_of,
    mid_turn,
    open_ws,
    other_processes,
    receive_until,
    server_and_client,
    status_is,
    turn_ended,
    wait_until,
)


@pytest.fixture
def other(
    store_path: Path, workspace: Path, fake_agent: Callable[..., list[str]]
) -> Iterator[Callable[..., Other]]:
    """Start another process on ``prompts``; it is killed at teardown if still running."""
    with other_processes(store_path, workspace, fake_agent(source=OTHER_AGENT)) as start:
        yield start


def stored_seqs(client: httpx.Client, cid: str) -> list[int]:
    page = client.get(f"/api/conversations/{cid}/events", params={"limit": 1000}).json()
    return [event["seq"] for event in page["events"]]


def turns(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The events up to the end of the ``count``-th turn from now (a batch may hold several)."""
    got: list[dict[str, Any]] = []
    while sum(map(turn_ended, got)) < count:
        got += events_of(receive_until(ws, turn_ended))
    return got


def follower_of(server: LiveServer) -> Any:
    return server.app.state.follower


@pytest.mark.parametrize("batch", [None, "true"])
def test_a_stream_joined_mid_turn_gets_every_event_the_other_process_stores(
    store_path: Path, other: Callable[..., Other], batch: str | None
) -> None:
    with (
        server_and_client(store_path) as (server, client),
        mid_turn(client, other, "gated one") as elsewhere,
    ):
        detail = client.get(f"/api/conversations/{elsewhere.id}").json()
        assert (detail["status"], detail["live"], detail["title"]) == (
            "running",
            False,
            "From elsewhere",
        )
        with (
            open_ws(server, elsewhere.id, batch=batch) as ws,
            open_ws(server, elsewhere.id, after_seq=2, batch=batch) as resumed,
        ):
            before = events_of(receive_until(ws, lambda e: e["kind"] == "tool_call"))
            elsewhere.open("gated one")
            after = events_of(receive_until(ws, turn_ended))
            elsewhere.wait()
            seqs = [e["seq"] for e in before + after]
            assert seqs == list(range(1, len(seqs) + 1))
            assert seqs == stored_seqs(client, elsewhere.id)[: len(seqs)]
            ended = next(e["seq"] for e in after if turn_ended(e))  # batches may differ after
            assert [e["seq"] for e in turns(resumed, 1) if e["seq"] <= ended] == seqs[2:ended]
            steps = [e["tool_call_id"] for e in after if e["kind"] == "tool_call"]
            assert steps == [f"s{i}" for i in range(20)] + ["t1"]
        detail = client.get(f"/api/conversations/{elsewhere.id}").json()
        assert (detail["status"], detail["live"], detail["turns"]) == ("idle", False, 1)


def test_the_server_taking_the_conversation_over_doubles_and_loses_nothing(
    store_path: Path, other: Callable[..., Other]
) -> None:
    with (
        server_and_client(store_path) as (server, client),
        mid_turn(client, other, "gated one", "two") as elsewhere,
        open_ws(server, elsewhere.id, batch="true") as ws,
    ):
        elsewhere.open("gated one")
        elsewhere.wait()  # it ran "two" too, then went away
        got = turns(ws, 2)
        sent = client.post(f"/api/conversations/{elsewhere.id}/messages", json={"text": "three"})
        assert sent.status_code == 202, sent.text
        got += turns(ws, 1)  # the server's own turn
        assert [e["text"] for e in got if e["kind"] == "agent_message"] == [
            f"done: {prompt}" for prompt in ("gated one", "two", "three")
        ]
        seqs = [e["seq"] for e in got]
        assert seqs == list(range(1, len(seqs) + 1))
        assert seqs == stored_seqs(client, elsewhere.id)[: len(seqs)]
        assert client.get(f"/api/conversations/{elsewhere.id}").json()["turns"] == 3


def test_the_feed_sends_another_process_s_creation_changes_and_deletion(
    store_path: Path, other: Callable[..., Other]
) -> None:
    with server_and_client(store_path) as (server, client), open_feed(server) as feed:
        elsewhere = other("gated one")
        # created (maybe already running by the time the server looked)
        feed_until(feed, row_of(elsewhere.id, lambda row: row["status"] == "running"))
        elsewhere.open("gated one")
        done = feed_until(feed, row_of(elsewhere.id, lambda row: row["status"] == "idle"))[-1]
        elsewhere.wait()
        row = done["conversation"]
        assert (row["title"], row["live"], row["running"]) == ("From elsewhere", False, False)
        assert row == client.get("/api/conversations").json()["conversations"][0]

        forget = "import sys; from acphost import SQLiteStore; SQLiteStore(sys.argv[1])"
        forget += ".delete_conversation(sys.argv[2])"
        subprocess.run([sys.executable, "-c", forget, str(store_path), elsewhere.id], check=True)
        gone = feed_until(feed, lambda m: m["type"] == "deleted")[-1]
        assert gone == {"type": "deleted", "id": elsewhere.id}


def test_nothing_polls_the_store_while_no_client_follows_it(
    store_path: Path, other: Callable[..., Other]
) -> None:
    with server_and_client(store_path) as (server, client):
        follower = follower_of(server)
        other("one").wait()
        assert follower.polls == 0
        with open_feed(server):
            wait_until(lambda: follower.polls > 0, what="a poll")
        wait_until(lambda: not follower.running, what="the follower to stop")
        polled = follower.polls
        elsewhere = other("two")
        elsewhere.wait()
        assert client.get(f"/api/conversations/{elsewhere.id}").json()["status"] == "idle"
        assert follower.polls == polled


def test_a_turn_whose_process_was_killed_ends_for_its_stream_and_the_feed(
    store_path: Path, other: Callable[..., Other]
) -> None:
    with (
        server_and_client(store_path) as (server, client),
        mid_turn(client, other, "gated one") as elsewhere,
        open_feed(server) as feed,
        open_ws(server, elsewhere.id) as ws,
    ):
        receive_until(ws, lambda e: e["kind"] == "tool_call")
        elsewhere.process.kill()  # it writes nothing more: the server notices it is gone
        ended = events_of(receive_until(ws, status_is("paused"), timeout=2 * WAIT))
        last = [e for e in ended if turn_ended(e)][-1]
        assert (last["stop_reason"], last["error_code"]) == ("cancelled", "host_exited")
        feed_until(feed, row_of(elsewhere.id, lambda row: row["status"] == "paused"))
        assert client.get(f"/api/conversations/{elsewhere.id}").json()["status"] == "paused"


def test_the_store_s_data_version_moves_with_another_writer_s_commits_only(
    store_path: Path,
) -> None:
    def record(cid: str) -> ConversationRecord:
        return ConversationRecord(cid, "demo", "/", None, "idle", 1.0, 1.0)

    with SQLiteStore(store_path) as mine, SQLiteStore(store_path) as theirs:
        version = mine.data_version()
        mine.create_conversation(record("mine"))  # the server's own turns wake nothing
        assert mine.data_version() == version
        theirs.create_conversation(record("theirs"))
        assert mine.data_version() != version
