"""Interrupting turns and pending permission requests over REST, with custom fake agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from acphost.testing import Scenario, fake_agent_command
from test_server_support import (
    events_of,
    open_ws,
    receive_until,
    server_and_client,
    status_is,
)


def create_with(client: httpx.Client, scenario: Scenario, workspace: Path, **body: Any) -> str:
    command, *args = fake_agent_command(scenario, directory=workspace.parent)
    response = client.post(
        "/api/conversations",
        json={"command": command, "args": args, "workspace": str(workspace), **body},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_interrupt_cancels_a_long_turn(store_path: Path, workspace: Path) -> None:
    scenario = (
        Scenario("long")
        .turn()
        .tool_call("slow-1", title="Build everything", kind="execute", status="in_progress")
        .sleep(30)
        .tool_update("slow-1", status="completed")
        .stop()
    )
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace)
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "build"})
            receive_until(ws, lambda e: e["kind"] == "tool_call" and e["status"] == "in_progress")
            assert client.get(f"/api/conversations/{cid}").json()["running_tool_calls"] == [
                "slow-1"
            ]
            response = client.post(f"/api/conversations/{cid}/interrupt")
            assert response.status_code == 202, response.text
            rest = events_of(receive_until(ws, status_is("paused")))
        ended = next(e for e in rest if e["kind"] == "turn_ended")
        assert ended["stop_reason"] == "cancelled"
        failed = [e for e in rest if e["kind"] == "tool_call" and e["tool_call_id"] == "slow-1"]
        assert failed[-1]["status"] == "failed"
        detail = client.get(f"/api/conversations/{cid}").json()
        assert detail["status"] == "paused"
        assert detail["running"] is False
        assert detail["running_tool_calls"] == []
        assert detail["last_stop_reason"] == "cancelled"


def test_interrupt_cancels_an_unanswered_permission_request(
    store_path: Path, workspace: Path
) -> None:
    scenario = (
        Scenario("asks")
        .turn()
        .tool_call("edit-1", title="Edit main.py", kind="edit", status="pending")
        .permission("edit-1", title="Edit main.py?", expect="cancelled", otherwise="continue")
        .stop()
    )
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace, permission="ask")
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "edit"})
            asked = events_of(receive_until(ws, lambda e: e["kind"] == "permission_requested"))
            request_id = asked[-1]["request_id"]
            pending = client.get(f"/api/conversations/{cid}").json()["pending_permissions"]
            assert [p["request_id"] for p in pending] == [request_id]
            client.post(f"/api/conversations/{cid}/interrupt")
            rest = events_of(receive_until(ws, status_is("paused")))
        decided = next(e for e in rest if e["kind"] == "permission_decided")
        assert decided["request_id"] == request_id
        assert decided["decision"] == "cancelled"
        assert decided["decided_by"] == "cancel"
        assert next(e for e in rest if e["kind"] == "turn_ended")["stop_reason"] == "cancelled"
        detail = client.get(f"/api/conversations/{cid}").json()
        assert detail["pending_permissions"] == []
        late = client.post(
            f"/api/conversations/{cid}/permissions/{request_id}", json={"decision": "allow_once"}
        )
        assert late.status_code == 404


def test_pause_lets_the_turn_finish_and_holds_queued_messages(
    store_path: Path, workspace: Path
) -> None:
    scenario = Scenario("two", after_last_turn="echo").turn().sleep(0.3).text("one").stop()
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace)
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "first"})
            receive_until(ws, lambda e: e["kind"] == "turn_started")
            queued = client.post(
                f"/api/conversations/{cid}/messages", json={"text": "second", "run": False}
            )
            assert queued.json()["turn"] == 2
            assert client.post(f"/api/conversations/{cid}/pause").status_code == 202
            first = events_of(receive_until(ws, status_is("paused")))
            assert [e["kind"] for e in first].count("turn_ended") == 1
            assert client.get(f"/api/conversations/{cid}").json()["turns"] == 1
            assert client.post(f"/api/conversations/{cid}/run").status_code == 202
            second = events_of(receive_until(ws, status_is("idle")))
        assert next(e for e in second if e["kind"] == "turn_started")["prompt"] == "second"
        assert client.get(f"/api/conversations/{cid}").json()["turns"] == 2


def test_steer_joins_the_running_turn_and_queues_when_idle(
    store_path: Path, workspace: Path
) -> None:
    source = workspace.parent / "listener.py"
    source.write_text(
        "async def scenario(ctx, prompt):\n"
        '    await ctx.tool_call("t1", "Thinking", status="in_progress")\n'
        "    heard = await ctx.wait_for_steering(30)\n"
        '    await ctx.tool_update("t1", status="completed")\n'
        '    await ctx.text(f"heard: {heard}")\n'
        '    return "end_turn"\n'
    )
    scenario = Scenario("listener", python=f"{source}:scenario", steering=True)
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace)
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "plan"})
            receive_until(ws, lambda e: e["kind"] == "tool_call" and e["status"] == "in_progress")
            response = client.post(f"/api/conversations/{cid}/steer", json={"text": "go left"})
            assert response.status_code == 202, response.text
            steered = response.json()
            assert (steered["steered"], steered["turn"]) == (True, 1)
            rest = events_of(receive_until(ws, status_is("idle")))
        said = [e["text"] for e in rest if e["kind"] == "agent_message"]
        assert said == ["heard: go left"]
        # idle: queued as the next turn, and run
        queued = client.post(f"/api/conversations/{cid}/steer", json={"text": "again"}).json()
        assert (queued["steered"], queued["turn"]) == (False, 2)
        bad = client.post(f"/api/conversations/{cid}/steer", json={"text": ""})
        assert bad.status_code == 422


def test_a_conversation_created_with_max_cost_stops_over_it(
    store_path: Path, workspace: Path
) -> None:
    scenario = Scenario("spender").turn().text("working").usage(used=1, size=9, cost=0.5).sleep(60)
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace, max_cost=0.25)
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "spend"})
            rest = events_of(receive_until(ws, status_is("error")))
        (error,) = [e for e in rest if e["kind"] == "error"]
        assert error["code"] == "budget_exceeded"
        assert error["details"]["max_cost"] == 0.25
        ended = next(e for e in rest if e["kind"] == "turn_ended")
        assert (ended["stop_reason"], ended["error_code"]) == ("cancelled", "budget_exceeded")
        bad = client.post(
            "/api/conversations",
            json={"agent": "demo", "workspace": str(workspace), "max_cost": -1},
        )
        assert bad.status_code == 422
