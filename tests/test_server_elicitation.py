"""Elicitations over REST: pending in the detail, answered (and refused when bad) by a client."""

from __future__ import annotations

import json
from pathlib import Path

from acphost.testing import Scenario
from test_server_control import create_with
from test_server_support import events_of, open_ws, receive_until, server_and_client, status_is

FORM = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "plan": {"type": "string", "enum": ["a", "b"]}},
    "required": ["name"],
}


def test_an_elicitation_is_pending_then_answered_over_rest(
    store_path: Path, workspace: Path
) -> None:
    scenario = Scenario("asks").turn().elicitation("Who?", FORM, echo_result=True).stop()
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace, permission="ask")
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            asked = events_of(receive_until(ws, lambda e: e["kind"] == "elicitation_requested"))
            request = asked[-1]
            detail = client.get(f"/api/conversations/{cid}").json()
            assert detail["pending_elicitation_count"] == 1
            [pending] = detail["pending_elicitations"]
            assert pending["request_id"] == request["request_id"]
            assert (pending["mode"], pending["message"]) == ("form", "Who?")
            assert pending["requested_schema"] == FORM
            path = f"/api/conversations/{cid}/elicitations/{request['request_id']}"
            bad = client.post(path, json={"action": "accept", "content": {"plan": "c"}})
            assert bad.status_code == 422, bad.text
            assert bad.json()["code"] == "invalid_elicitation_answer"
            assert bad.json()["details"]["problems"] == [
                "'name' is required",
                "'plan' must be one of a, b",
            ]
            wrong = client.post(path, json={"action": "maybe"})
            assert wrong.status_code == 422
            unknown = client.post(
                f"/api/conversations/{cid}/elicitations/nope", json={"action": "decline"}
            )
            assert unknown.status_code == 404
            assert unknown.json()["code"] == "elicitation_not_found"
            content = {"name": "Ada", "plan": "b"}
            answered = client.post(path, json={"action": "accept", "content": content})
            assert answered.status_code == 200, answered.text
            rest = events_of(receive_until(ws, status_is("idle")))
        done = next(e for e in rest if e["kind"] == "elicitation_answered")
        assert (done["action"], done["answered_by"], done["content"]) == ("accept", "user", content)
        told = next(e for e in rest if e["kind"] == "agent_message")["text"]
        assert json.loads(told) == {"action": "accept", "content": content}
        assert client.post(path, json={"action": "decline"}).status_code == 404
        assert client.get(f"/api/conversations/{cid}").json()["pending_elicitations"] == []


def test_elicitation_policy_decline_is_chosen_at_creation(
    store_path: Path, workspace: Path
) -> None:
    scenario = Scenario("asks").turn().elicitation("Who?", FORM, echo_result=True).stop()
    with server_and_client(store_path) as (server, client):
        cid = create_with(client, scenario, workspace, permission="ask", elicitation="decline")
        with open_ws(server, cid) as ws:
            client.post(f"/api/conversations/{cid}/messages", json={"text": "go"})
            events = events_of(receive_until(ws, status_is("idle")))
        done = next(e for e in events if e["kind"] == "elicitation_answered")
        assert (done["action"], done["answered_by"], done["source"]) == (
            "decline",
            "policy",
            "policy",
        )
