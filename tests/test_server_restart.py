"""A restarted server (new app, same SQLite file) lists everything and resumes on demand."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from acphost import Conversation
from acphost.errors import UsageError
from acphost.store import SQLiteStore
from acphost.testing import Scenario, fake_agent_command
from test_server_support import (
    WAIT,
    events_of,
    open_ws,
    read_until_closed,
    receive_until,
    server_and_client,
    status_is,
    wait_until,
)


def test_restart_lists_everything_and_resumes_on_first_use(tmp_path: Path, workspace: Path) -> None:
    store_path = tmp_path / "acphost.db"
    long = Scenario("long").turn().tool_call("t", title="Wait", status="in_progress").sleep(30)
    command, *args = fake_agent_command(long, directory=tmp_path)
    # the demo agent, keeping its sessions on disk so that a new process can load them
    demo_command, *demo_args = fake_agent_command("demo", state_dir=tmp_path / "agent-state")
    with server_and_client(store_path) as (server, client):
        demo = client.post(
            "/api/conversations",
            json={
                "command": demo_command,
                "args": demo_args,
                "workspace": str(workspace),
                "message": "hello",
            },
        ).json()
        with open_ws(server, demo["id"]) as ws:
            receive_until(ws, status_is("idle"))
        before = client.get(f"/api/conversations/{demo['id']}").json()
        busy = client.post(
            "/api/conversations",
            json={
                "command": command,
                "args": args,
                "workspace": str(workspace),
                "message": "wait",
            },
        ).json()
        with open_ws(server, busy["id"]) as ws:
            receive_until(ws, lambda e: e["kind"] == "tool_call")
    # the first server stopped with a turn running: it ended cancelled, nothing is "finished"

    with server_and_client(store_path) as (server, client):
        listed = client.get("/api/conversations").json()
        assert listed["total"] == 2
        by_id = {c["id"]: c for c in listed["conversations"]}
        assert by_id[demo["id"]]["status"] == "idle"
        assert by_id[busy["id"]]["status"] == "paused"
        assert not any(c["live"] for c in listed["conversations"])

        after = client.get(f"/api/conversations/{demo['id']}").json()
        for field in ("last_seq", "usage", "cost", "model", "mode_id", "plan", "turns"):
            assert after[field] == before[field], field
        assert after["live"] is False
        stored = client.get(f"/api/conversations/{demo['id']}/events", params={"limit": 1000})
        assert len(stored.json()["events"]) == before["last_seq"]

        stopped = client.get(f"/api/conversations/{busy['id']}/events").json()["events"]
        ended = [e for e in stopped if e["kind"] == "turn_ended"]
        assert ended
        assert ended[-1]["stop_reason"] == "cancelled"

        with open_ws(server, demo["id"], after_seq=before["last_seq"]) as ws:
            sent = client.post(
                f"/api/conversations/{demo['id']}/messages", json={"text": "and again"}
            )
            assert sent.status_code == 202, sent.text
            new = events_of(receive_until(ws, status_is("idle")))
        assert new[0]["seq"] == before["last_seq"] + 1
        session = next(e for e in new if e["kind"].startswith("session_"))
        assert session["kind"] in ("session_resumed", "session_loaded"), session
        assert session["context_restored"] is True
        again = client.get(f"/api/conversations/{demo['id']}").json()
        assert again["live"] is True
        assert again["turns"] == 2
        assert again["usage"]["total_tokens"] > before["usage"]["total_tokens"]


def test_a_conversation_whose_workspace_vanished_is_readable_but_not_resumable(
    tmp_path: Path,
) -> None:
    store_path = tmp_path / "acphost.db"
    workspace = tmp_path / "gone"
    workspace.mkdir()
    with server_and_client(store_path) as (server, client):
        cid = client.post(
            "/api/conversations",
            json={"agent": "echo", "workspace": str(workspace), "message": "hi"},
        ).json()["id"]
        with open_ws(server, cid) as ws:
            receive_until(ws, status_is("idle"))
    workspace.rmdir()
    with contextlib.ExitStack() as stack:
        with server_and_client(store_path) as (server, client):
            assert client.get(f"/api/conversations/{cid}").json()["turns"] == 1
            refused = client.post(f"/api/conversations/{cid}/messages", json={"text": "more"})
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "cannot_resume"
            # the server stops cleanly with a subscriber still connected...
            ws = stack.enter_context(open_ws(server, cid, after_seq=0))
            receive_until(ws, lambda e: e["kind"] == "turn_ended")
        # ...which is told so
        _, closed = read_until_closed(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code in (1001, 1012)


# A process that drives one conversation through a long turn, as the CLI or a script does.
DRIVER = """
import sys
from acphost import Conversation
store, workspace, *agent = sys.argv[1:]
conversation = Conversation(agent, workspace, store=store)
print(conversation.id, flush=True)
conversation.run("wait")
"""


def test_a_turn_whose_process_was_killed_reads_paused_and_the_server_ends_it_on_start(
    tmp_path: Path, workspace: Path
) -> None:
    store_path = tmp_path / "acphost.db"
    long = Scenario("long").turn().tool_call("t", title="Wait", status="in_progress").sleep(60)
    agent = fake_agent_command(long, directory=tmp_path)
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(store_path), str(workspace), *agent],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its agent goes down with it
    )
    try:
        assert driver.stdout is not None
        cid = driver.stdout.readline().strip()
        with SQLiteStore(store_path) as store:

            def tool_call_stored() -> bool:
                return bool(store.events(cid, kinds=["tool_call"]))

            wait_until(tool_call_stored, what="the turn's tool call")
            record = store.get_conversation(cid)
            assert record is not None
            assert record.status == "running"  # its driver is alive
            with pytest.raises(UsageError, match="is running a turn in process"):
                Conversation.resume(cid, store=store)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # a hard exit: nothing is settled
        driver.wait(timeout=WAIT)
        assert driver.stdout is not None
        driver.stdout.close()

    with SQLiteStore(store_path) as store:
        record = store.get_conversation(cid)
        assert record is not None
        assert record.status == "paused"
        assert store.list_conversations(status="running") == []
        assert store.dangling_turns() == [cid]
        assert not store.events(cid, kinds=["turn_ended"])  # nothing written since the kill

    with server_and_client(store_path) as (_server, client):
        with SQLiteStore(store_path) as store:  # ended on start, before anything asked
            assert store.dangling_turns() == []
        detail = client.get(f"/api/conversations/{cid}").json()
        assert (detail["status"], detail["running"], detail["live"]) == ("paused", False, False)
        assert detail["running_tool_calls"] == []
        events = client.get(f"/api/conversations/{cid}/events").json()["events"]
        ended = [e for e in events if e["kind"] == "turn_ended"]
        assert [(e["stop_reason"], e["error_code"]) for e in ended] == [
            ("cancelled", "host_exited")
        ]
        failed = [e for e in events if e["kind"] == "tool_call" and e["status"] == "failed"]
        assert [e["tool_call_id"] for e in failed] == ["t"]
