"""The JSON-RPC layer in isolation: framing, ordering, ids, errors, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from acphost.acp.jsonrpc import IncomingRequest, JsonRpcConnection
from acphost.errors import AgentExited, AgentRequestError, ProtocolError


class Peer:
    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []
        self.requests: list[IncomingRequest] = []
        self.conn = JsonRpcConnection(
            lambda data: self.written.append(orjson.loads(data)),
            on_notification=lambda method, params: self.events.append((method, params)),
            on_request=self._request,
            on_protocol_error=lambda error: self.events.append(("error", error)),
        )

    def _request(self, request: IncomingRequest) -> None:
        self.requests.append(request)
        self.events.append(("request", request.method))

    def send(self, *messages: Any) -> None:
        self.conn.feed(b"".join(orjson.dumps(m) + b"\n" for m in messages))


def test_notifications_delivered_in_order_across_arbitrary_chunking() -> None:
    peer = Peer()
    data = b"".join(
        orjson.dumps({"jsonrpc": "2.0", "method": "n", "params": {"i": i}}) + b"\n"
        for i in range(500)
    )
    for start in range(0, len(data), 7):  # lines split at every possible place
        peer.conn.feed(data[start : start + 7])
    assert [params["i"] for _, params in peer.events] == list(range(500))


def test_huge_line() -> None:
    peer = Peer()
    text = "x" * (50 * 1024 * 1024)
    data = orjson.dumps({"jsonrpc": "2.0", "method": "big", "params": {"t": text}}) + b"\n"
    for start in range(0, len(data), 1 << 16):
        peer.conn.feed(data[start : start + (1 << 16)])
    assert len(peer.events) == 1
    assert len(peer.events[0][1]["t"]) == len(text)


def test_malformed_lines_are_reported_and_skipped() -> None:
    peer = Peer()
    peer.conn.feed(b'not json\n[1,2]\n{"jsonrpc":"2.0"}\n\n{"jsonrpc":"2.0","method":"ok"}\n')
    kinds = [kind for kind, _ in peer.events]
    assert kinds == ["error", "error", "error", "ok"]
    first = peer.events[0][1]
    assert isinstance(first, ProtocolError)
    assert first.code == "protocol_error"
    assert first.line_preview == "not json"


def test_last_line_without_newline_is_handled_at_eof() -> None:
    peer = Peer()
    peer.conn.feed(b'{"jsonrpc":"2.0","method":"tail"}')
    assert peer.events == []
    peer.conn.feed_eof()
    assert peer.events == [("tail", None)]


@pytest.mark.parametrize("request_id", [7, "req-7", "0", 0, None, 1.5])
def test_incoming_request_ids_echo_unchanged(request_id: Any) -> None:
    peer = Peer()
    peer.send({"jsonrpc": "2.0", "id": request_id, "method": "m", "params": {}})
    peer.requests[0].respond({"ok": True})
    assert peer.written == [{"jsonrpc": "2.0", "id": request_id, "result": {"ok": True}}]


def test_request_answered_once_only() -> None:
    peer = Peer()
    peer.send({"jsonrpc": "2.0", "id": "a", "method": "m"})
    peer.requests[0].fail(-32601, "Method not found")
    peer.requests[0].respond(1)
    assert peer.written == [
        {"jsonrpc": "2.0", "id": "a", "error": {"code": -32601, "message": "Method not found"}}
    ]


def test_incoming_cancel_request_runs_callbacks() -> None:
    peer = Peer()
    peer.send({"jsonrpc": "2.0", "id": "p1", "method": "session/request_permission"})
    seen: list[str] = []
    peer.requests[0].on_cancel(lambda: seen.append("cancelled"))
    peer.send({"jsonrpc": "2.0", "method": "$/cancel_request", "params": {"requestId": "p1"}})
    assert seen == ["cancelled"]
    assert peer.requests[0].cancelled


def test_outgoing_requests_match_responses_out_of_order() -> None:
    async def main() -> None:
        peer = Peer()
        first = asyncio.ensure_future(peer.conn.request("a", {"x": 1}))
        second = asyncio.ensure_future(peer.conn.request("b"))
        await asyncio.sleep(0)
        ids = [m["id"] for m in peer.written]
        peer.send({"jsonrpc": "2.0", "id": ids[1], "result": "B"})
        peer.send({"jsonrpc": "2.0", "id": ids[0], "error": {"code": -32000, "message": "no"}})
        assert await second == "B"
        with pytest.raises(AgentRequestError) as info:
            await first
        assert info.value.rpc_code == -32000
        assert info.value.method == "a"

    asyncio.run(main())


def test_unknown_response_id_is_a_protocol_error() -> None:
    peer = Peer()
    peer.send({"jsonrpc": "2.0", "id": 99, "result": None})
    assert isinstance(peer.events[0][1], ProtocolError)


def test_cancelled_outgoing_request_sends_cancel_request() -> None:
    async def main() -> None:
        peer = Peer()
        task = asyncio.ensure_future(peer.conn.request("slow"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert peer.written[-1] == {
            "jsonrpc": "2.0",
            "method": "$/cancel_request",
            "params": {"requestId": peer.written[0]["id"]},
        }
        # the agent's late answer to the abandoned request is not a protocol error
        peer.send(
            {
                "jsonrpc": "2.0",
                "id": peer.written[0]["id"],
                "error": {"code": -32800, "message": "cancelled"},
            }
        )
        assert peer.events == []

    asyncio.run(main())


def test_close_fails_pending_requests_with_the_given_error() -> None:
    async def main() -> None:
        peer = Peer()
        task = asyncio.ensure_future(peer.conn.request("x"))
        await asyncio.sleep(0)
        peer.conn.close(AgentExited("gone", exit_code=3))
        with pytest.raises(AgentExited):
            await task
        with pytest.raises(AgentExited):
            await peer.conn.request("y")

    asyncio.run(main())
