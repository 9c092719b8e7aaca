#!/usr/bin/env python3
"""A fast fake ACP agent that floods its client: the load generator of the benchmarks.

Standard library + orjson only (plain ``json`` if orjson is missing). Every line it sends is
pre-serialised bytes, joined into batches of about 1 MiB and written straight to fd 1, so the
agent is never the bottleneck: the client's reading, parsing and handling is what is measured.

The scenario of a turn comes from the prompt text, ``storm:<scenario>:<n>``:

``chunks N``   N ``agent_message_chunk`` updates
``tools N``    N tool calls, each ``tool_call`` (pending) -> ``tool_call_update`` in_progress ->
               ``tool_call_update`` completed (with text content and rawOutput): 3*N updates
``perms N``    N ``session/request_permission`` requests, one at a time: the agent waits for
               each answer before sending the next (a round trip per request is the point)
``trivial N``  N chunks (normally 1): a trivial turn

Every turn then sends one ``usage_update`` (real agents do; OpenHands waits up to 2 s for it) and
answers the prompt with ``stopReason: end_turn``. It answers ``initialize``, ``session/new``,
``session/prompt`` and the ``session/cancel`` notification minimally; any other request gets
-32601. Nothing goes to stderr (the official SDK never reads it).
"""

from __future__ import annotations

import contextlib
import os
import sys

try:
    import orjson

    _loads = orjson.loads

    def _dumps(value: object) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - the benchmarks install orjson
    import json

    _loads = json.loads

    def _dumps(value: object) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


SESSION_ID = "storm-session-1"
BATCH = 1 << 20  # bytes per write

_UPDATE_HEAD = (
    b'{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"'
    + SESSION_ID.encode()
    + b'","update":'
)
_UPDATE_TAIL = b"}}\n"

_CHUNK = (
    _UPDATE_HEAD
    + (b'{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"word%d "}}')
    + _UPDATE_TAIL
)
_TOOL_START = (
    _UPDATE_HEAD
    + (
        b'{"sessionUpdate":"tool_call","toolCallId":"call-%d-%d","title":"Run command %d",'
        b'"kind":"execute","status":"pending","rawInput":{"command":"echo %d"}}'
    )
    + _UPDATE_TAIL
)
_TOOL_RUNNING = (
    _UPDATE_HEAD
    + (b'{"sessionUpdate":"tool_call_update","toolCallId":"call-%d-%d","status":"in_progress"}')
    + _UPDATE_TAIL
)
_TOOL_DONE = (
    _UPDATE_HEAD
    + (
        b'{"sessionUpdate":"tool_call_update","toolCallId":"call-%d-%d","status":"completed",'
        b'"content":[{"type":"content","content":{"type":"text","text":"output of call %d"}}],'
        b'"rawOutput":{"exitCode":0,"stdout":"%d"}}'
    )
    + _UPDATE_TAIL
)
_USAGE = (
    _UPDATE_HEAD
    + (
        b'{"sessionUpdate":"usage_update","used":%d,"size":200000,'
        b'"cost":{"amount":%.6f,"currency":"USD"}}'
    )
    + _UPDATE_TAIL
)
_PERMISSION = (
    b'{"jsonrpc":"2.0","id":"perm-%d-%d","method":"session/request_permission","params":'
    b'{"sessionId":"' + SESSION_ID.encode() + b'","toolCall":{"toolCallId":"perm-call-%d-%d",'
    b'"title":"Write file %d","kind":"edit","status":"pending"},"options":['
    b'{"optionId":"allow","name":"Allow","kind":"allow_once"},'
    b'{"optionId":"reject","name":"Reject","kind":"reject_once"}]}}\n'
)


class Agent:
    def __init__(self) -> None:
        self.stdin = sys.stdin.buffer
        self.turn = 0
        self.cancelled = False
        self._chunk_cache: dict[int, bytes] = {}

    # --- I/O -------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(1, view[:BATCH])
            view = view[written:]

    def write_lines(self, lines: list[bytes]) -> None:
        batch: list[bytes] = []
        size = 0
        for line in lines:
            batch.append(line)
            size += len(line)
            if size >= BATCH:
                self.write(b"".join(batch))
                batch.clear()
                size = 0
        if batch:
            self.write(b"".join(batch))

    def respond(self, request_id: object, result: object) -> None:
        self.write(
            b'{"jsonrpc":"2.0","id":%s,"result":%s}\n' % (_dumps(request_id), _dumps(result))
        )

    def fail(self, request_id: object, code: int, message: str) -> None:
        error = {"code": code, "message": message}
        self.write(b'{"jsonrpc":"2.0","id":%s,"error":%s}\n' % (_dumps(request_id), _dumps(error)))

    def read_message(self) -> dict | None:
        while True:
            line = self.stdin.readline()
            if not line:
                return None
            if not line.strip():
                continue
            try:
                message = _loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                return message

    # --- protocol --------------------------------------------------------------------------

    def serve(self) -> None:
        while (message := self.read_message()) is not None:
            self.handle(message)

    def handle(self, message: dict) -> None:
        method = message.get("method")
        if method is None:
            return  # a stray response
        if "id" not in message:
            if method == "session/cancel":
                self.cancelled = True
            return
        request_id = message["id"]
        params = message.get("params") or {}
        if method == "initialize":
            self.respond(
                request_id,
                {
                    "protocolVersion": 1,
                    "agentCapabilities": {"loadSession": False},
                    "agentInfo": {"name": "storm-agent", "title": "Storm agent", "version": "1.0"},
                    "authMethods": [],
                },
            )
        elif method == "session/new":
            self.respond(request_id, {"sessionId": SESSION_ID})
        elif method == "session/prompt":
            self.prompt(request_id, params)
        else:
            self.fail(request_id, -32601, f"Method not found: {method}")

    def prompt(self, request_id: object, params: dict) -> None:
        self.turn += 1
        self.cancelled = False
        scenario, n = _scenario(params.get("prompt") or [])
        turn = self.turn
        sent = 0
        if scenario == "chunks" or scenario == "trivial":
            self.write(self._chunks(n))
            sent = n
        elif scenario == "tools":
            lines: list[bytes] = []
            append = lines.append
            for i in range(n):
                append(_TOOL_START % (turn, i, i, i))
                append(_TOOL_RUNNING % (turn, i))
                append(_TOOL_DONE % (turn, i, i, i))
            self.write_lines(lines)
            sent = 3 * n
        elif scenario == "perms":
            sent = self.permissions(turn, n)
        self.write(_USAGE % (1000 + sent, turn * 0.001))
        stop = "cancelled" if self.cancelled else "end_turn"
        self.respond(request_id, {"stopReason": stop})

    def _chunks(self, n: int) -> bytes:
        data = self._chunk_cache.get(n)
        if data is None:
            data = b"".join([_CHUNK % i for i in range(n)])
            self._chunk_cache[n] = data
        return data

    def permissions(self, turn: int, n: int) -> int:
        """One request at a time; other messages arriving meanwhile are handled in order."""
        answered = 0
        for i in range(n):
            if self.cancelled:
                break
            wanted = f"perm-{turn}-{i}"
            self.write(_PERMISSION % (turn, i, turn, i, i))
            while True:
                message = self.read_message()
                if message is None:
                    return answered
                if message.get("id") == wanted and "method" not in message:
                    answered += 1
                    break
                self.handle(message)
                if self.cancelled:
                    break
        return answered


def _scenario(prompt: list) -> tuple[str, int]:
    text = " ".join(block.get("text", "") for block in prompt if isinstance(block, dict))
    for word in text.split():
        if word.startswith("storm:"):
            parts = word.split(":")
            try:
                return parts[1], int(parts[2])
            except (IndexError, ValueError):
                break
    return "trivial", 1


def main() -> None:
    try:
        Agent().serve()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        # A closed stdout at exit must not print a traceback to a pipe nobody reads.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
