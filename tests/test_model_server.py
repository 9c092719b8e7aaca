"""The scripted model server: the three streaming APIs, its decisions, scripts and delays.

Raw HTTP (``http.client``) checks the wire format byte for byte; the vendors' own Python SDKs,
when an installed agent's venv has them, check that real clients accept it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import http.client
import json
import socket
import subprocess
import textwrap
import threading
import time
from typing import Any

import pytest

from acphost.testing import ModelRequest, ModelServer, TextReply, ToolCallReply
from agents import AGENTS_DIR

READ_TOOL = {
    "name": "Read",
    "description": "read a file",
    "input_schema": {
        "type": "object",
        "properties": {
            "file_path": {"type": "string"},
            "limit": {"type": "integer"},
            "mode": {"type": "string", "enum": ["text", "bytes"]},
        },
        "required": ["file_path", "mode"],
    },
}
BASH_TOOL = {
    "name": "Bash",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
}


def post(
    server: ModelServer,
    path: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(
            method,
            path,
            body=payload if method == "POST" else None,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def sse(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each server-sent event."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


@pytest.fixture
def server() -> Any:
    with ModelServer(final_text="The end.", side_text="A title") as running:
        yield running


def anthropic_body(*messages: dict[str, Any], tools: Any = (READ_TOOL, BASH_TOOL)) -> Any:
    return {
        "model": "claude-test",
        "max_tokens": 100,
        "stream": True,
        "tools": list(tools),
        "messages": list(messages) or [{"role": "user", "content": "hello"}],
    }


# --- Anthropic Messages ------------------------------------------------------------------


def test_anthropic_stream_tool_call_then_final_text(server: ModelServer) -> None:
    status, headers, raw = post(server, "/v1/messages?beta=true", anthropic_body())
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    events = sse(raw)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[1][1]["content_block"]
    assert start["type"] == "tool_use"
    assert start["name"] == "Read"  # the first tool, as none is named in the prompt
    assert start["input"] == {}
    arguments = json.loads(events[3][1]["delta"]["partial_json"])
    assert arguments == {"file_path": "README.md", "mode": "text"}  # required fields only
    assert events[5][1]["delta"]["stop_reason"] == "tool_use"
    assert events[0][1]["message"]["model"] == "claude-test"

    (request,) = server.requests
    assert request.api == "anthropic"
    assert request.query == {"beta": ["true"]}
    assert request.reply == {"type": "tool_call", "name": "Read", "arguments": arguments}

    # The tool result goes back: now the final text.
    tool_id = start["id"]
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": [{**start, "input": arguments}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": "file body"},
                {"type": "text", "text": "<system-reminder>noise</system-reminder>"},
            ],
        },
    ]
    _, _, raw = post(server, "/v1/messages", anthropic_body(*history))
    events = sse(raw)
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "The end."}
    assert events[5][1]["delta"]["stop_reason"] == "end_turn"
    assert events[5][1]["usage"]["output_tokens"] >= 1
    assert server.requests[-1].tool_results() == ["file body"]
    assert server.requests[-1].prompt() == "hello"


def test_anthropic_json_side_request_and_count_tokens(server: ModelServer) -> None:
    body = {**anthropic_body(tools=()), "stream": False}
    status, _, raw = post(server, "/v1/messages", body)
    assert status == 200
    message = json.loads(raw)
    assert message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "A title"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] > 0

    status, _, raw = post(server, "/v1/messages/count_tokens", anthropic_body())
    assert status == 200
    assert json.loads(raw)["input_tokens"] > 0
    assert [r.api for r in server.requests] == ["anthropic", "other"]
    assert server.api_requests() == server.requests[:1]


def test_the_prompt_can_name_the_tool(server: ModelServer) -> None:
    body = anthropic_body({"role": "user", "content": [{"type": "text", "text": "run Bash"}]})
    post(server, "/v1/messages", body)
    assert server.requests[-1].reply == {
        "type": "tool_call",
        "name": "Bash",
        "arguments": {"command": "ls"},
    }
    # A name inside another word does not count; then a reading tool is preferred to the
    # first one (which may be "Agent", spawning a sub-agent).
    agent_tool = {"name": "Agent", "input_schema": {"type": "object"}}
    body = anthropic_body(
        {"role": "user", "content": "ReadFile or Bashful"}, tools=(agent_tool, BASH_TOOL, READ_TOOL)
    )
    post(server, "/v1/messages", body)
    assert server.requests[-1].reply["name"] == "Read"
    post(server, "/v1/messages", anthropic_body(tools=(agent_tool, BASH_TOOL)))
    assert server.requests[-1].reply == {"type": "tool_call", "name": "Agent", "arguments": {}}


# --- OpenAI Chat Completions -------------------------------------------------------------


def chat_body(*messages: dict[str, Any], stream: bool = True, **extra: Any) -> Any:
    tool = {
        "type": "function",
        "function": {
            "name": "write_text_file",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "options": {
                        "type": "object",
                        "properties": {"force": {"type": ["boolean", "null"]}},
                    },
                },
                "required": ["path", "content", "tags", "options"],
            },
        },
    }
    return {
        "model": "fake-model",
        "stream": stream,
        "tools": [tool],
        "messages": list(messages) or [{"role": "user", "content": "write it"}],
        **extra,
    }


def test_chat_stream_tool_call_with_usage_chunk(server: ModelServer) -> None:
    body = chat_body(stream_options={"include_usage": True})
    status, _, raw = post(server, "/v1/chat/completions", body)
    assert status == 200
    events = sse(raw)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    first, finish, usage = (data for _, data in events[:-1])
    assert first["object"] == "chat.completion.chunk"
    (call,) = first["choices"][0]["delta"]["tool_calls"]
    assert call["index"] == 0
    assert call["function"]["name"] == "write_text_file"
    assert json.loads(call["function"]["arguments"]) == {
        "path": "README.md",
        "content": "x",
        "tags": ["x"],
        "options": {"force": False},
    }
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] > 0


def test_chat_json_final_text_after_a_tool_message(server: ModelServer) -> None:
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "write it"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]},
    ]
    status, _, raw = post(server, "/v1/chat/completions", chat_body(*history, stream=False))
    assert status == 200
    completion = json.loads(raw)
    assert completion["object"] == "chat.completion"
    choice = completion["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "The end."}
    assert choice["finish_reason"] == "stop"
    assert server.requests[-1].tool_results() == ["ok"]
    # Without include_usage, usage rides on the finishing chunk.
    _, _, raw = post(server, "/v1/chat/completions", chat_body(*history))
    chunks = [data for _, data in sse(raw)[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] >= 1


# --- OpenAI Responses --------------------------------------------------------------------


def responses_body(*items: dict[str, Any]) -> Any:
    return {
        "model": "fake-model",
        "stream": True,
        "tools": [
            {
                "type": "function",
                "name": "exec_command",
                "parameters": {
                    "type": "object",
                    "properties": {"cmd": {"type": "string"}},
                    "required": ["cmd"],
                },
            },
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
            {"type": "web_search"},
        ],
        "input": list(items)
        or [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}],
    }


def test_responses_stream_function_call(server: ModelServer) -> None:
    status, _, raw = post(server, "/v1/responses", responses_body())
    assert status == 200
    events = sse(raw)
    names = [name for name, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(5))
    item = events[3][1]["item"]
    assert item["type"] == "function_call"
    assert item["name"] == "exec_command"
    assert json.loads(item["arguments"]) == {"cmd": "ls"}
    done = events[-1][1]["response"]
    assert done["status"] == "completed"
    assert done["output"] == [item]
    assert done["usage"]["total_tokens"] > 0
    assert set(server.requests[0].tools) == {"exec_command", "apply_patch"}


def test_responses_free_form_tool_and_final_message(server: ModelServer) -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    server.script(ToolCallReply(name=("apply_patch_v2", "apply_patch"), arguments=patch))
    _, _, raw = post(server, "/v1/responses", responses_body())
    item = sse(raw)[-2][1]["item"]
    assert item["type"] == "custom_tool_call"
    assert item["name"] == "apply_patch"  # the first candidate the request offers
    assert item["input"] == patch

    history = [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "<environment_context>x"}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {"type": "custom_tool_call", "call_id": item["call_id"], "input": patch},
        {"type": "custom_tool_call_output", "call_id": item["call_id"], "output": "Done!"},
    ]
    _, _, raw = post(server, "/v1/responses", responses_body(*history))
    events = sse(raw)
    assert [name for name, _ in events][2:7] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_item.done",
    ]
    assert events[4][1]["delta"] == "The end."
    message = events[-1][1]["response"]["output"][0]
    assert message["role"] == "assistant"
    assert message["content"][0] == {"type": "output_text", "text": "The end.", "annotations": []}
    request = server.requests[-1]
    assert request.prompt() == "go"  # codex's environment message is not the prompt
    assert request.tool_results() == ["Done!"]


# --- scripts, probes, delays -------------------------------------------------------------


def test_script_queue_skips_side_requests(server: ModelServer) -> None:
    seen: list[ModelRequest] = []

    def arguments(request: ModelRequest) -> dict[str, Any]:
        seen.append(request)
        return {"command": f"echo {len(request.tools)}"}

    server.script(
        ToolCallReply(name="Bash", arguments=arguments),
        TextReply(text="scripted end"),
    )
    # A title request (no tools) does not consume the script.
    post(server, "/v1/messages", anthropic_body(tools=()))
    assert server.requests[-1].reply == {"type": "text", "text": "A title"}
    post(server, "/v1/messages", anthropic_body())
    assert server.requests[-1].reply == {
        "type": "tool_call",
        "name": "Bash",
        "arguments": {"command": "echo 2"},
    }
    assert seen == [server.requests[-1]]
    post(server, "/v1/messages", anthropic_body())
    assert server.requests[-1].reply == {"type": "text", "text": "scripted end"}
    assert not server.queue
    post(server, "/v1/messages", anthropic_body())  # the script is spent: decided again
    assert server.requests[-1].reply["type"] == "tool_call"


def test_probes_and_unknown_paths(server: ModelServer) -> None:
    status, _, raw = post(server, "/v1/models", None, method="GET")
    assert status == 200
    listing = json.loads(raw)
    assert listing["object"] == "list"
    assert listing["data"][0]["id"] == "fake-model"
    status, _, raw = post(server, "/v1/models/claude-x", None, method="GET")
    assert json.loads(raw)["id"] == "claude-x"
    status, _, _ = post(server, "/", None, method="HEAD")  # Claude Code's reachability check
    assert status == 200
    status, _, raw = post(server, "/v2/elsewhere", {"a": 1})
    assert status == 404
    assert "no POST /v2/elsewhere" in json.loads(raw)["error"]["message"]
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/claude-x"),
        ("HEAD", "/"),
        ("POST", "/v2/elsewhere"),
    ]
    assert server.requests[-1].body == {"a": 1}


def test_gzip_bodies_and_keep_alive(server: ModelServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for n in range(3):  # one connection, several streamed (chunked) answers
            body = gzip.compress(json.dumps(chat_body()).encode())
            connection.request(
                "POST",
                "/chat/completions",  # without /v1 too
                body=body,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Transfer-Encoding") == "chunked"
            assert sse(response.read())[-1][1] == "[DONE]"
            assert server.requests[n].api == "chat"
            assert server.requests[n].tools
    finally:
        connection.close()


def test_delay_notices_the_client_hanging_up(server: ModelServer) -> None:
    stall = TextReply(text="too late", delay=30)
    server.script(stall)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    payload = json.dumps(anthropic_body()).encode()
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    assert stall.served.wait(10)
    sock.close()  # the agent was cancelled: it drops the request
    request = server.wait_for(lambda r: r.reply.get("text") == "too late", timeout=5)
    deadline = time.monotonic() + 5
    while not request.client_gone and time.monotonic() < deadline:
        time.sleep(0.02)
    assert request.client_gone


def test_a_held_reply_waits_for_its_release(server: ModelServer) -> None:
    hold = threading.Event()
    held = TextReply(text="released", hold=hold)
    server.script(held)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(post, server, "/v1/messages", anthropic_body())
        assert held.served.wait(10)
        assert not answer.done()  # nothing comes until the test says so
        hold.set()
        status, _, body = answer.result(timeout=10)
    assert status == 200
    assert "released" in body.decode()


def test_stop_does_not_wait_out_a_delay() -> None:
    server = ModelServer().start()
    server.script(TextReply(text="never", delay=60))
    done = threading.Event()

    def call() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            post(server, "/v1/messages", anthropic_body())
        done.set()

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    server.wait_for(lambda r: r.api == "anthropic", timeout=5)
    started = time.monotonic()
    server.stop()
    assert done.wait(5)
    assert time.monotonic() - started < 5
    caller.join(5)


def test_wait_for_times_out(server: ModelServer) -> None:
    with pytest.raises(TimeoutError, match="no matching model request"):
        server.wait_for(lambda r: False, timeout=0.2)


def test_base_urls() -> None:
    with ModelServer(port=0) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.openai_base_url == server.base_url + "/v1"


# --- the vendors' own SDKs ---------------------------------------------------------------

SDK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import anthropic, openai
    base = sys.argv[1]
    out = {}
    claude = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0)
    tool = {"name": "Read", "input_schema": {"type": "object",
            "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}
    with claude.messages.stream(model="m", max_tokens=10, tools=[tool],
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        message = stream.get_final_message()
    out["anthropic"] = [message.stop_reason, message.content[0].name, message.content[0].input]
    oa = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    chunks = list(oa.chat.completions.create(model="m", stream=True,
                  messages=[{"role": "user", "content": "hi"}]))
    out["chat"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    with oa.responses.stream(model="m", input="hi") as stream:
        final = stream.get_final_response()
    out["responses"] = final.output_text
    print(json.dumps(out))
    """
)


def test_the_vendors_sdks_accept_the_streams(server: ModelServer) -> None:
    python = AGENTS_DIR / "kimi" / "venv" / "bin" / "python"  # it ships both SDKs
    probe = (
        subprocess.run([python, "-c", "import anthropic, openai"], capture_output=True)
        if python.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip(f"no Python with the anthropic and openai SDKs at {python}")
    done = subprocess.run(
        [python, "-c", SDK_SCRIPT, server.base_url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "anthropic": ["tool_use", "Read", {"file_path": "README.md"}],
        "chat": "A title",
        "responses": "A title",
    }
