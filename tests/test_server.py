"""The agent server over real HTTP and WebSocket, against the fake ACP agent (a real process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from acphost.errors import UsageError
from acphost.server import create_app, serve
from acphost.store import SQLiteStore
from test_server_support import (
    KEY,
    events_of,
    open_ws,
    read_until_closed,
    receive_until,
    running,
    server_and_client,
    status_is,
    wait_until,
)


def create(client: httpx.Client, workspace: Path, **body: Any) -> dict[str, Any]:
    body.setdefault("agent", "demo")
    response = client.post("/api/conversations", json={"workspace": str(workspace), **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def test_demo_conversation_streams_every_event_over_websocket(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path) as (server, client):
        conversation = create(client, workspace, title="first")
        cid = conversation["id"]
        assert conversation["status"] == "idle"
        assert conversation["title"] == "first"
        with open_ws(server, cid) as ws:
            sent = client.post(f"/api/conversations/{cid}/messages", json={"text": "hello"})
            assert sent.status_code == 202, sent.text
            assert sent.json()["seq"] == 1
            messages = receive_until(ws, status_is("idle"))
        events = events_of(messages)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        kinds = [e["kind"] for e in events]
        assert kinds[:3] == ["user_message", "turn_started", "status_changed"]
        assert {"session_started", "plan", "tool_call", "agent_message", "turn_ended"} <= set(kinds)
        tokens = [m for m in messages if m["type"] == "token"]
        assert tokens
        assert {"text", "thought"} <= set(tokens[0])
        answer = next(e for e in events if e["kind"] == "agent_message")["text"]
        assert "".join(t["text"] for t in tokens if not t["thought"]) == answer

        detail = client.get(f"/api/conversations/{cid}").json()
        assert detail["status"] == "idle"
        assert detail["last_seq"] == events[-1]["seq"]
        assert detail["usage"]["total_tokens"] > 0
        assert detail["cost"] > 0
        assert detail["mode_id"] == "code"
        assert [m["id"] for m in detail["modes"]] == ["ask", "code"]
        assert detail["model"] == "fake-small"
        assert [m["value"] for m in detail["models"]] == ["fake-small", "fake-large"]
        assert {o["id"] for o in detail["config_options"]} == {"model", "thinking"}
        assert detail["plan"]
        assert detail["pending_permissions"] == []
        assert detail["live"] is True
        assert detail["running"] is False


def test_list_search_and_event_paging(store_path: Path, workspace: Path) -> None:
    with server_and_client(store_path) as (_server, client):
        first = create(client, workspace, title="Alpha project", message="hi")
        second = create(client, workspace, title="beta", agent="echo")
        wait_until(
            lambda: (
                client.get(f"/api/conversations/{first['id']}").json()["status"] == "idle"
                and client.get(f"/api/conversations/{first['id']}").json()["turns"] == 1
            ),
            what="the first turn",
        )
        page = client.get("/api/conversations", params={"limit": 1}).json()
        assert page["total"] == 2
        assert len(page["conversations"]) == 1
        found = client.get("/api/conversations", params={"search": first["id"][:10]}).json()
        assert [c["id"] for c in found["conversations"]] == [first["id"]]
        assert found["total"] == 1
        by_agent = client.get("/api/conversations", params={"agent": "echo"}).json()
        assert [c["id"] for c in by_agent["conversations"]] == [second["id"]]

        cid = first["id"]
        seen: list[int] = []
        after = 0
        while True:
            page = client.get(
                f"/api/conversations/{cid}/events", params={"after_seq": after, "limit": 7}
            ).json()
            seen += [e["seq"] for e in page["events"]]
            after = page["next_after_seq"]
            if not page["has_more"]:
                break
        last_seq = client.get(f"/api/conversations/{cid}").json()["last_seq"]
        assert seen == list(range(1, last_seq + 1))
        tools = client.get(
            f"/api/conversations/{cid}/events", params={"kinds": "tool_call,plan"}
        ).json()
        assert {e["kind"] for e in tools["events"]} == {"tool_call", "plan"}
        one = client.get(f"/api/conversations/{cid}/events/1").json()
        assert one["kind"] == "user_message"
        assert one["text"] == "hi"
        missing = client.get(f"/api/conversations/{cid}/events/{last_seq + 1}")
        assert missing.status_code == 404
        assert missing.json()["code"] == "event_not_found"


def test_title_given_at_creation_is_kept_and_searchable(store_path: Path, workspace: Path) -> None:
    with server_and_client(store_path) as (_server, client):
        cid = create(client, workspace, title="Alpha project", message="hi")["id"]
        wait_until(
            lambda: client.get(f"/api/conversations/{cid}").json()["turns"] == 1,
            what="the first turn",
        )
        assert client.get(f"/api/conversations/{cid}").json()["title"] == "Alpha project"
        found = client.get("/api/conversations", params={"search": "ALPHA"}).json()
        assert [c["id"] for c in found["conversations"]] == [cid]


def test_permission_asked_and_answered_over_rest(store_path: Path, workspace: Path) -> None:
    with server_and_client(store_path) as (server, client):
        cid = create(client, workspace, permission="ask")["id"]
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "write notes"})
            asked = events_of(receive_until(ws, lambda e: e["kind"] == "permission_requested"))
            request = asked[-1]
            detail = client.get(f"/api/conversations/{cid}").json()
            assert [p["request_id"] for p in detail["pending_permissions"]] == [
                request["request_id"]
            ]
            assert detail["status"] == "running"
            path = f"/api/conversations/{cid}/permissions/{request['request_id']}"
            bad = client.post(path, json={"decision": "maybe"})
            assert bad.status_code == 422
            assert "decision" in bad.json()["message"]
            unknown = client.post(
                f"/api/conversations/{cid}/permissions/nope", json={"decision": "allow_once"}
            )
            assert unknown.status_code == 404
            assert unknown.json()["code"] == "permission_request_not_found"
            answered = client.post(path, json={"decision": "allow_once"})
            assert answered.status_code == 200, answered.text
            rest = events_of(receive_until(ws, status_is("idle")))
        decided = next(e for e in rest if e["kind"] == "permission_decided")
        assert decided["decision"] == "allow_once"
        assert decided["decided_by"] == "user"
        assert (workspace / "NOTES.md").is_file()
        again = client.post(path, json={"decision": "allow_once"})
        assert again.status_code == 404
        assert client.get(f"/api/conversations/{cid}").json()["pending_permissions"] == []


def test_mode_and_config_options(store_path: Path, workspace: Path) -> None:
    with server_and_client(store_path) as (_server, client):
        cid = create(client, workspace)["id"]
        mode = client.post(f"/api/conversations/{cid}/mode", json={"mode_id": "ask"})
        assert mode.status_code == 200, mode.text
        assert mode.json()["mode_id"] == "ask"
        model = client.post(
            f"/api/conversations/{cid}/config", json={"config_id": "model", "value": "fake-large"}
        )
        assert model.status_code == 200, model.text
        assert model.json()["model"] == "fake-large"
        thinking = client.post(
            f"/api/conversations/{cid}/config", json={"config_id": "thinking", "value": False}
        )
        assert thinking.status_code == 200, thinking.text
        unknown = client.post(f"/api/conversations/{cid}/mode", json={"mode_id": "yolo"})
        assert unknown.status_code == 400
        assert unknown.json()["code"] == "unknown_mode"
        number = client.post(
            f"/api/conversations/{cid}/config", json={"config_id": "model", "value": 3}
        )
        assert number.status_code == 422


def test_auth_is_required_and_keys_compared(store_path: Path) -> None:
    with server_and_client(store_path) as (server, client):
        bare = httpx.get(f"{server.url}/api/conversations")
        assert bare.status_code == 401
        assert bare.json()["code"] == "unauthorized"
        assert bare.json()["hint"]
        assert bare.headers["www-authenticate"] == "Bearer"
        wrong = httpx.get(f"{server.url}/api/conversations", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert KEY not in wrong.text
        bearer = httpx.get(
            f"{server.url}/api/conversations", headers={"Authorization": f"Bearer {KEY}"}
        )
        assert bearer.status_code == 200
        assert client.get("/api/conversations").status_code == 200
        health = httpx.get(f"{server.url}/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"


def test_refuses_to_run_without_a_key_unless_loopback_and_explicit(store_path: Path) -> None:
    with pytest.raises(UsageError, match="API key"):
        create_app(store=store_path)
    with pytest.raises(UsageError, match="loopback"):
        serve(host="0.0.0.0", port=1, store=store_path, allow_no_auth=True)
    with pytest.raises(UsageError, match="loopback"):
        serve(host="example.com", port=1, store=store_path, allow_no_auth=True)
    with pytest.raises(UsageError, match="API key"):
        serve(host="127.0.0.1", port=1, store=store_path)
    with pytest.raises(UsageError, match="empty"):
        create_app(api_key=" ", store=store_path)
    with server_and_client(store_path, key=None) as (_server, client):
        assert client.get("/api/conversations").status_code == 200


def test_bad_bodies_are_4xx_with_a_message(store_path: Path, workspace: Path) -> None:
    with server_and_client(store_path) as (_server, client):
        cases: list[tuple[dict[str, Any] | str, int, str]] = [
            ("not json", 422, "invalid_request"),
            ({}, 422, "invalid_request"),
            ({"workspace": str(workspace)}, 422, "invalid_request"),
            ({"workspace": str(workspace), "agent": "demo", "command": "x"}, 422, ""),
            ({"workspace": str(workspace), "agent": "demo", "mesage": "typo"}, 422, ""),
            ({"workspace": str(workspace), "agent": "demo", "permission": "yes"}, 422, ""),
            ({"workspace": "/no/such/dir", "agent": "demo"}, 400, "workspace_not_found"),
            ({"workspace": "~nobody-here/x", "agent": "demo"}, 400, "workspace_not_found"),
            ({"workspace": "/" + "x" * 5000, "agent": "demo"}, 400, "workspace_not_found"),
            ({"workspace": "a\0b", "agent": "demo"}, 422, "invalid_request"),
            ({"workspace": str(workspace), "agent": "nobody"}, 400, "unknown_agent"),
            ({"workspace": str(workspace), "command": "/no/such/agent"}, 400, "agent_not_found"),
            ({"workspace": str(workspace), "command": "x", "env": {"A=B": "1"}}, 422, ""),
            ({"workspace": "/nowhere", "command": ":_", "agent": None}, 400, ""),
            ({"workspace": str(workspace), "agent": None}, 422, "invalid_request"),
            ({"workspace": str(workspace), "agent": "demo", "args": [1]}, 422, ""),
            ({"workspace": str(workspace), "agent": "demo", "env": {"A": 1}}, 422, ""),
            ({"workspace": str(workspace), "agent": "demo", "title": 5}, 422, ""),
            ({"workspace": str(workspace), "agent": "demo", "message": 7}, 422, ""),
        ]
        for body, status, code in cases:
            if isinstance(body, str):
                response = client.post(
                    "/api/conversations",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            else:
                response = client.post("/api/conversations", json=body)
            assert response.status_code == status, (body, response.text)
            error = response.json()
            assert error["message"], error
            assert "hint" in error, error
            if code:
                assert error["code"] == code, error
        cid = create(client, workspace)["id"]
        paths: list[tuple[str, dict[str, Any]]] = [
            ("messages", {}),
            ("messages", {"text": ""}),
            ("messages", {"text": 5}),
            ("config", {"config_id": "model"}),
            ("mode", {"mode": "x"}),
            # strict types: no lax booleans or numbers-as-strings in any body
            ("messages", {"text": "x", "run": "yes"}),
            ("messages", {"text": "x", "run": 0}),
            ("messages", {"text": "x", "run": "false"}),
            ("config", {"config_id": "model", "value": 1}),
            ("mode", {"mode_id": 1}),
            ("permissions/r1", {"decision": ["allow_once"]}),
        ]
        for path, body in paths:
            response = client.post(f"/api/conversations/{cid}/{path}", json=body)
            assert response.status_code == 422, (path, body, response.text)
        assert client.get("/api/conversations", params={"limit": 0}).status_code == 422
        assert client.get("/api/conversations", params={"status": "nope"}).status_code == 422
        gone = client.get("/api/conversations/nope")
        assert gone.status_code == 404
        assert gone.json()["code"] == "conversation_not_found"
        assert client.post("/api/conversations/nope/run").status_code == 404
        assert client.get("/api/nowhere").json()["code"] == "not_found"


def test_delete_closes_the_agent_and_forgets_the_conversation(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path) as (server, client):
        cid = create(client, workspace, message="hi")["id"]
        with open_ws(server, cid) as ws:
            receive_until(ws, status_is("idle"))
            deleted = client.delete(f"/api/conversations/{cid}")
            assert deleted.status_code == 204
            _, closed = read_until_closed(ws)
            assert closed.rcvd is not None
            assert closed.rcvd.code == 4404
        assert client.get(f"/api/conversations/{cid}").status_code == 404
        assert client.delete(f"/api/conversations/{cid}").status_code == 404
        assert client.get("/api/conversations").json()["total"] == 0
    with SQLiteStore(store_path) as store:
        assert store.get_conversation(cid) is None
        assert store.events(cid) == []


def test_cors_is_off_unless_configured(store_path: Path) -> None:
    origin = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    with server_and_client(store_path) as (_server, client):
        plain = client.options("/api/conversations", headers=origin)
        assert "access-control-allow-origin" not in plain.headers
    with server_and_client(store_path, cors_origins=["https://app.example"]) as (_server, client):
        allowed = client.options("/api/conversations", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"


def test_app_runs_under_a_plain_running_context(store_path: Path) -> None:
    app = create_app(api_key=KEY, store=store_path)
    with running(app) as server:
        assert httpx.get(f"{server.url}/api/health").json()["live_conversations"] == 0


def test_agents_are_listed_and_take_extra_arguments(
    store_path: Path, workspace: Path, tmp_path: Path
) -> None:
    with server_and_client(store_path) as (server, client):
        agents = {a["name"]: a for a in client.get("/api/agents").json()}
        assert agents["demo"]["installed"] is True
        assert "env" not in agents["demo"]
        state = tmp_path / "agent-state"
        cid = create(
            client,
            workspace,
            agent="echo",
            args=["--state-dir", str(state)],
            message="remember me",
        )["id"]
        with open_ws(server, cid) as ws:
            receive_until(ws, status_is("idle"))
        assert any(state.iterdir()), "the extra arguments reached the agent"
        assert client.get(f"/api/conversations/{cid}").json()["agent"] == "echo"
