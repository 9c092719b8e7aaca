"""The server's bounds: request bodies, and how many agents it keeps attached at once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from acphost.server import create_app
from acphost.store import SQLiteStore
from test_server_support import (
    events_of,
    open_ws,
    receive_until,
    server_and_client,
    status_is,
    wait_until,
)


def create(client: httpx.Client, workspace: Path, **body: Any) -> str:
    body.setdefault("agent", "demo")
    response = client.post("/api/conversations", json={"workspace": str(workspace), **body})
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    return cid


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    error = response.json()
    assert error["code"] == "body_too_large"
    assert str(limit) in error["message"]
    assert error["hint"]
    assert error["retryable"] is False


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    store_path: Path, workspace: Path
) -> None:
    limit = 4096
    with server_and_client(store_path, max_body=limit) as (_server, client):
        cid = create(client, workspace)
        path = f"/api/conversations/{cid}/messages"
        declared = client.post(path, json={"text": "x" * limit, "run": False})
        assert_too_large(declared, limit)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"run": false, "text": "'
            for _ in range(limit // 512 + 1):
                yield b"y" * 512
            yield b'"}'

        streamed = client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert_too_large(streamed, limit)

        under = client.post(path, json={"text": "z" * (limit - 100), "run": False})
        assert under.status_code == 202, under.text
        events = client.get(f"/api/conversations/{cid}/events").json()["events"]
        assert [e["text"] for e in events if e["kind"] == "user_message"] == ["z" * (limit - 100)]


def test_idle_agents_are_detached_to_make_room_and_resume_on_use(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path, max_live=2) as (server, client):

        def talk(cid: str, text: str, after_seq: int = 0) -> list[dict[str, Any]]:
            with open_ws(server, cid, after_seq=after_seq) as ws:
                sent = client.post(f"/api/conversations/{cid}/messages", json={"text": text})
                assert sent.status_code == 202, sent.text
                return events_of(receive_until(ws, status_is("idle")))

        def live(cid: str) -> bool:
            return bool(client.get(f"/api/conversations/{cid}").json()["live"])

        first = create(client, workspace)
        before = talk(first, "hello")
        second = create(client, workspace)
        talk(second, "hello")  # used after the first: the first is the least recent
        third = create(client, workspace)
        assert [live(first), live(second), live(third)] == [False, True, True]
        assert client.get("/api/health").json()["live_conversations"] == 2

        after = talk(first, "again", after_seq=before[-1]["seq"])  # resumed on use
        seqs = [e["seq"] for e in before + after]
        assert seqs == list(range(1, len(seqs) + 1))  # one log, continued where it was
        assert "turn_ended" in [e["kind"] for e in after]
        assert [live(first), live(second), live(third)] == [True, False, True]


def test_when_every_live_conversation_is_running_another_is_refused_429(
    store_path: Path, workspace: Path
) -> None:
    with server_and_client(store_path, max_live=1) as (server, client):
        busy = create(client, workspace, permission="ask")
        with open_ws(server, busy) as ws:
            client.post(f"/api/conversations/{busy}/messages", json={"text": "write notes"})
            asked = events_of(receive_until(ws, lambda e: e["kind"] == "permission_requested"))
            refused = client.post(
                "/api/conversations", json={"workspace": str(workspace), "agent": "demo"}
            )
            assert refused.status_code == 429, refused.text
            error = refused.json()
            assert error["code"] == "too_many_live_conversations"
            assert error["retryable"] is True
            assert error["hint"]
            request_id = asked[-1]["request_id"]
            answered = client.post(
                f"/api/conversations/{busy}/permissions/{request_id}",
                json={"decision": "allow_once"},
            )
            assert answered.status_code == 200, answered.text
            receive_until(ws, status_is("idle"))
        wait_until(lambda: not client.get(f"/api/conversations/{busy}").json()["running"])
        create(client, workspace)  # room again: the idle one is detached


def test_limits_are_checked_when_the_app_is_made(store_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        create_app(api_key="k" * 20, store=store_path, max_live=0)
    with pytest.raises(ValueError, match="at least 1"):
        create_app(api_key="k" * 20, store=store_path, max_body=0)


def test_a_busy_store_is_a_503_the_document_declares(tmp_path: Path, workspace: Path) -> None:
    # another process holds the write lock past the store's busy timeout
    store_path = tmp_path / "acphost.db"
    document = json.loads((Path(__file__).parents[1] / "openapi.json").read_text())
    with (
        SQLiteStore(store_path, busy_timeout=0.05) as store,
        server_and_client(store) as (_server, client),
    ):
        holder = sqlite3.connect(store_path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            response = client.post(
                "/api/conversations", json={"agent": "echo", "workspace": str(workspace)}
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "store_busy"
    assert response.json()["retryable"] is True
    declared = document["paths"]["/api/conversations"]["post"]["responses"]
    assert "503" in declared
