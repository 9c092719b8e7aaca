"""A restarted server (new app, same SQLite file) lists everything and resumes on demand."""

from __future__ import annotations

import contextlib
from pathlib import Path

from acphost.testing import Scenario, fake_agent_command
from test_server_support import (
    events_of,
    open_ws,
    read_until_closed,
    receive_until,
    server_and_client,
    status_is,
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
